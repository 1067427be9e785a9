"""The processes the soak starts, and what /proc says about them.

Every process is started here and recorded in `Procs`; the soak ends only those, by their pid
(never by name), and `Procs.stop_all` runs whatever happened (exceptions, Ctrl-C). Nothing the
soak starts outlives it: backends get `--duration`, spillway processes are stopped at the end.
"""

import os
import signal
import subprocess
import time


class Procs:
    def __init__(self, log_dir):
        self.log_dir = log_dir
        self.children = []  # every Popen, in start order

    def spawn(self, name, argv):
        """Starts `argv` with stdout and stderr appended to LOG_DIR/NAME.log."""
        log = open(os.path.join(self.log_dir, name + ".log"), "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        self.children.append(p)
        return p

    def stop_all(self, grace=5.0):
        live = [p for p in self.children if p.poll() is None]
        for p in live:
            try:
                p.send_signal(signal.SIGCONT)  # a stalled one must be able to die
                p.terminate()
            except ProcessLookupError:
                pass
        end = time.monotonic() + grace
        for p in live:
            try:
                p.wait(timeout=max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def tcp_rows():
    """Every socket row of /proc/net/tcp and /proc/net/tcp6, split into its fields (local
    address, remote address, state, ..., inode at 9)."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if len(f) >= 10:
                yield f


def port_of(address):
    """The port of a /proc/net/tcp address field (`HEXIP:HEXPORT`)."""
    return int(address.rsplit(":", 1)[1], 16)


def listening_ports(pid):
    """The TCP ports process `pid` listens on (from its socket inodes and /proc/net/tcp*)."""
    try:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    return {port_of(f[1]) for f in tcp_rows() if f[3] == "0A" and f[9] in inodes}


def wait_ports(proc, limit, count=1):
    """The ports `proc` listens on once it listens on at least `count` (started on port 0, it
    says which ports it got); an empty set if it exits or time runs out."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            return set()
        ports = listening_ports(proc.pid)
        if len(ports) >= count:
            return ports
        time.sleep(0.02)
    return set()


def wait_listening(proc, ports, limit):
    """Waits until `proc` listens on every port of `ports`; False if it exits or time runs out."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        if set(ports) <= listening_ports(proc.pid):
            return True
        time.sleep(0.02)
    return False


def fds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def rss_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def raise_fd_limit():
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
