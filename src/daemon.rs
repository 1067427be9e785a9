//! `-D` (run in the background) and `-p PIDFILE`.
//!
//! The parent must not exit 0 before the daemon actually serves, or a script that runs
//! `spillway -D` and then sends traffic would race it; and a start-up error (a port in use)
//! must reach the terminal. So the parent forks, then waits on a pipe: the child writes `ok`
//! once its listeners accept, or the error text; the parent prints it and exits 1, or exits 0.
//! Hand-written (about 60 lines of libc) because the crates for this fork at the wrong moment
//! for us: we must fork before the shard threads exist and report after they run.

use std::{
    fs::File,
    io::{self, Read, Write},
    os::fd::{FromRawFd, OwnedFd},
    path::Path,
};

/// The child's end of the start-up report pipe.
pub struct StartReport {
    pipe: File,
}

/// Forks. In the parent this never returns: it waits for the child's report and exits. In the
/// child it returns the report pipe, in a new session, with the working directory unchanged.
/// Must be called while the process has one thread.
pub fn daemonize() -> io::Result<StartReport> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills fds.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both fds are fresh and owned here.
    let (read_end, write_end) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: the process is single-threaded here (documented precondition).
    match unsafe { libc::fork() } {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(read_end);
            // SAFETY: setsid in the child, which is not a process group leader.
            unsafe { libc::setsid() };
            Ok(StartReport { pipe: File::from(write_end) })
        }
        _child => {
            drop(write_end);
            let mut report = String::new();
            let _ = File::from(read_end).read_to_string(&mut report);
            if report == "ok" {
                std::process::exit(0);
            }
            if report.is_empty() {
                report = "the daemon exited before it was ready".into();
            }
            eprintln!("{report}");
            std::process::exit(1);
        }
    }
}

impl StartReport {
    /// Tells the parent that start-up succeeded, and detaches stdin/stdout/stderr.
    pub fn ready(mut self) {
        let _ = self.pipe.write_all(b"ok");
        drop(self.pipe);
        detach_stdio();
    }

    /// Tells the parent that start-up failed and why.
    pub fn failed(mut self, why: &str) {
        let _ = self.pipe.write_all(why.as_bytes());
    }
}

fn detach_stdio() {
    if let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        use std::os::fd::AsRawFd;
        for fd in 0..3 {
            // SAFETY: dup2 onto the standard descriptors.
            unsafe { libc::dup2(null.as_raw_fd(), fd) };
        }
    }
}

/// Writes the process id to `path`, as HAProxy's `-p` does.
pub fn write_pidfile(path: &Path) -> io::Result<()> {
    std::fs::write(path, format!("{}\n", std::process::id()))
}

/// Removes the pid file at exit unless it names another process: after `-sf`, the new
/// process has written its own pid there, and an old process leaving must not delete it.
pub fn remove_pidfile_if_ours(path: &Path) {
    let ours = std::fs::read_to_string(path).is_ok_and(|text| text.trim() == std::process::id().to_string());
    if ours {
        let _ = std::fs::remove_file(path);
    }
}
