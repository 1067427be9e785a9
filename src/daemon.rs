//! `-D` (run in the background) and `-p PIDFILE`.
//!
//! The parent must not exit 0 before the daemon actually serves, or a script that runs
//! `spillway -D` and then sends traffic would race it; and a start-up error (a port in use)
//! must reach the terminal. So the parent forks, then waits on a pipe: the child writes `ok`
//! once its listeners accept, or the error text; the parent prints it and exits 1, or exits 0.
//! The sequence is ours (the daemonizing crates fork at the wrong moment for us: we must fork
//! before the shard threads exist and report after they run); the system calls are nix's.

use std::{
    fs::File,
    io::{self, Read, Write},
    path::Path,
};

use nix::{
    fcntl::OFlag,
    unistd::{dup2_stderr, dup2_stdin, dup2_stdout, fork, pipe2, setsid, ForkResult},
};

/// The child's end of the start-up report pipe.
pub struct StartReport {
    pipe: File,
}

/// Forks. In the parent this never returns: it waits for the child's report and exits. In the
/// child it returns the report pipe, in a new session, with the working directory unchanged.
/// Must be called while the process has one thread.
pub fn daemonize() -> io::Result<StartReport> {
    let (read_end, write_end) = pipe2(OFlag::O_CLOEXEC)?;
    // SAFETY: the process is single-threaded here (documented precondition), so the child may
    // do anything the parent could.
    match unsafe { fork() }? {
        ForkResult::Child => {
            drop(read_end);
            // The child is not a process group leader, so this cannot fail.
            let _ = setsid();
            Ok(StartReport { pipe: File::from(write_end) })
        }
        ForkResult::Parent { .. } => {
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
        let _ = dup2_stdin(&null);
        let _ = dup2_stdout(&null);
        let _ = dup2_stderr(&null);
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
