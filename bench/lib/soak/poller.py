"""The admin API poller: `GET /stats` and `GET /stats;csv` every second, in a thread.

Each poll records whether the API answered, the app group's healthy count and target list (to
see a SIGHUP land), which spillway process answered, and from the CSV each target's `eresp`
(gateway errors spillway blamed on that target). Counters belong to one process, and during a
reload the old and the new one may both answer on the admin port, so each answer is tied to its
process: the connection is kept open until the process holding its server side is found in
/proc, and the counts are tagged with the time that process began to serve.
"""

import http.client
import json
import os
import threading
import time

from . import procs


class State:
    """What the orchestrator tells the poller (set by the orchestrator thread only): the pids
    of the live spillway processes, each with the time it began to serve."""

    def __init__(self):
        self.since = {}  # pid -> seconds since the soak's start


def get(port, path, timeout=2.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path, headers={"Connection": "close"})
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        c.close()


def owner(local_port, server_port, pids):
    """The pid among `pids` holding the server side of our connection from `local_port`."""
    inode = None
    for f in procs.tcp_rows():
        if procs.port_of(f[1]) == server_port and procs.port_of(f[2]) == local_port:
            inode = f[9]
    if inode is None:
        return None
    target = f"socket:[{inode}]"
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    if os.readlink(f"/proc/{pid}/fd/{fd}") == target:
                        return pid
                except OSError:
                    continue
        except OSError:
            continue
    return None


def get_from(port, path, pids, timeout=2.0):
    """(status, body, pid that answered or None). The admin API closes after each answer, so
    the owner is looked up between the connect and the request, once the accept happened."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.connect()
        local, pid, end = c.sock.getsockname()[1], None, time.monotonic() + 0.3
        while pid is None and time.monotonic() < end:
            pid = owner(local, port, pids)
            if pid is None:
                time.sleep(0.005)
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode("utf-8", "replace"), pid
    finally:
        c.close()


def eresp_by_target(csv_text, group):
    """{target addr: eresp} of `group`'s server rows in a stats CSV."""
    lines = csv_text.splitlines()
    if not lines or not lines[0].startswith("# "):
        return {}
    columns = lines[0][2:].split(",")
    px, sv, er = columns.index("pxname"), columns.index("svname"), columns.index("eresp")
    out = {}
    for line in lines[1:]:
        f = line.split(",")
        if len(f) > er and f[px] == group and f[sv] not in ("FRONTEND", "BACKEND"):
            out[f[sv]] = int(f[er] or 0)
    return out


class Poller(threading.Thread):
    def __init__(self, admin_port, state, now, stop):
        super().__init__(daemon=True)
        self.port, self.state, self.now, self.stop = admin_port, state, now, stop
        self.polls = []  # (t, ok, healthy, [target addrs]) of every poll
        self.counts = []  # (t, since, {target: eresp}) of polls outside hand-overs
        self.failures = []  # (t, why)

    def run(self):
        next_at = time.monotonic()
        while not self.stop.is_set():
            next_at += 1.0
            self.poll_once()
            time.sleep(max(0.0, next_at - time.monotonic()))

    def poll_once(self):
        t, since = self.now(), dict(self.state.since)
        try:
            status, body, pid = get_from(self.port, "/stats", list(since))
            status_csv, csv_text, pid_csv = get_from(self.port, "/stats;csv", list(since))
            if status != 200 or status_csv != 200:
                raise ValueError(f"status {status}/{status_csv}")
            app = json.loads(body)["target_groups"]["app"]
            targets = [x["addr"] for x in app["targets"] if x.get("state") != "draining"]
            self.polls.append((round(t, 3), True, app.get("HealthyHostCount"), targets, pid_csv))
            # Counters belong to one process: keep them only when we know which.
            if pid_csv in since:
                self.counts.append((round(t, 3), since[pid_csv], eresp_by_target(csv_text, "app")))
        except Exception as e:  # every failure is a finding: record it, keep polling
            self.polls.append((round(t, 3), False, None, [], None))
            self.failures.append((round(t, 3), f"{type(e).__name__}: {e}"))
