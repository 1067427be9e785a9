//! Small socket and file-descriptor settings that neither std nor monoio expose.

use std::{io, os::fd::RawFd};

/// Sets `O_NONBLOCK` on `fd` (needed by splice with `SPLICE_F_NONBLOCK` and by the
/// readiness-driven copy loop).
pub fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // One syscall (FIONBIO) rather than F_GETFL + F_SETFL.
    let on: libc::c_int = 1;
    // SAFETY: ioctl FIONBIO reads one int from the pointer we pass, on an fd the caller owns.
    if unsafe { libc::ioctl(fd, libc::FIONBIO, &on) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raises the soft limit on open files to the hard limit (a proxy holds two sockets and up to
/// two pipes per session). Returns the new soft limit.
pub fn raise_fd_limit() -> io::Result<u64> {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit fills the struct we pass.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        lim.rlim_cur = lim.rlim_max;
        // SAFETY: setrlimit reads the struct we pass.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(lim.rlim_cur)
}
