//! Small socket and file-descriptor settings that neither std nor monoio expose.

use std::{io, os::fd::RawFd};

mod reuseport;
pub use reuseport::listens_beside;

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

/// Makes the coming close(2) send a TCP reset instead of a FIN (`SO_LINGER` with a zero
/// timeout). Used to pass a reset from one side of a session on to the other.
pub fn reset_on_close(fd: RawFd) {
    let linger = libc::linger { l_onoff: 1, l_linger: 0 };
    // SAFETY: setsockopt reads the struct we pass; failure (not a socket) is harmless.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
}

/// Takes a listening socket out of its SO_REUSEPORT group now, whoever else holds a
/// descriptor of it (`shutdown(SHUT_RD)` on a listener stops it listening): the connections
/// the kernel sends to the group from then on go to the other sockets. Errors are ignored: a
/// socket that is not listening any more is what was asked for.
pub fn stop_listening(fd: RawFd) {
    // SAFETY: shutdown on a descriptor the caller owns; no memory is passed.
    unsafe { libc::shutdown(fd, libc::SHUT_RD) };
}
