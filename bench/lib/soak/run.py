"""The orchestration: start the targets, the side backend, spillway, the clients and loadgen;
run the plan's events at their times; stop everything the soak started; return the record
(`raw.json`) the account is computed from.

Time is seconds since `t0`, taken just before loadgen starts; loadgen's timeline second 0 and
the hdr log's interval starts use the same origin (to within its start-up, a few ms).
"""

import json
import os
import signal
import subprocess
import threading
import time

from . import clients, config, plan as planmod, poller, procs

TARGET_LATENCY_MS = 10
LOAD_SHARE = 0.70


def http_get(port, path):
    try:
        return poller.get(port, path, timeout=3.0)
    except Exception as e:
        return None, f"{type(e).__name__}: {e}"


class Soak:
    def __init__(self, args, plan, bins, out):
        self.args, self.plan, self.bins, self.out = args, plan, bins, out
        self.procs = procs.Procs(out)
        self.t0 = time.monotonic()
        self.record = {"events": [], "reloads": [], "sighups": [], "down": {}, "samples": [], "deaths": []}
        self.spillways = []  # every spillway Popen, in start order
        self.old = []  # (Popen, reload index, signalled at) of processes told to finish
        self.stop = threading.Event()

    def now(self):
        return time.monotonic() - self.t0

    # ---- targets -------------------------------------------------------------------------
    def start_target(self, name, port=0):
        """A `loadgen serve` target on `port` (0: the kernel picks one, read back once it
        listens: no port is picked free, released and bound later); answers (process, port)."""
        per_target = self.args.target_rps
        concurrency = max(1, round(per_target * TARGET_LATENCY_MS / 1000.0))
        argv = [self.bins["loadgen"], "serve", "--listen", f"127.0.0.1:{port}", "--latency", f"{TARGET_LATENCY_MS}ms",
                "--max-concurrency", str(concurrency), "--body-bytes", "32768", "--health-path", "/health",
                "--duration", f"{int(self.plan.duration + 180)}s"]
        p = self.procs.spawn(name, argv)
        ports = procs.wait_ports(p, 10)
        if not ports or (port and port not in ports):
            raise RuntimeError(f"target {name} did not start on port {port or 'any'} (see {name}.log)")
        return p, port or min(ports)

    # ---- spillway ------------------------------------------------------------------------
    def write_config(self, process, with_extra, rule_version):
        text = config.render(self.layout, planmod.upgrade_socket_of(process, self.plan.reloads), with_extra, rule_version)
        tmp = self.cfg + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, self.cfg)

    def start_spillway(self, extra_args):
        n = len(self.spillways)
        p = self.procs.spawn(f"spillway-{n}", [self.bins["spillway"], "-f", self.cfg] + extra_args)
        self.spillways.append(p)
        ok = procs.wait_listening(p, [self.layout.port, self.layout.admin], 20)
        return p, ok

    def start_first_spillway(self):
        """The first process binds port 0 for its listener and its admin API; the ports it got
        go into the layout, so that every later file (reloads, SIGHUPs) names them."""
        self.write_config(0, self.with_extra, self.rule_version)
        p = self.procs.spawn("spillway-0", [self.bins["spillway"], "-f", self.cfg])
        self.spillways.append(p)
        ports = procs.wait_ports(p, 20, count=2)
        # The admin API is the port whose /stats is spillway's JSON (the listener forwards
        # /stats to a target, which answers 200 too).
        admin = [q for q in ports if '"target_groups"' in (http_get(q, "/stats")[1] or "")]
        if len(ports) != 2 or len(admin) != 1:
            raise RuntimeError(f"spillway did not start (listening on {sorted(ports)}; see spillway-0.log)")
        self.layout.admin = admin[0]
        self.layout.port = (ports - set(admin)).pop()
        self.write_config(0, self.with_extra, self.rule_version)

    @property
    def current(self):
        return self.spillways[-1]

    # ---- events --------------------------------------------------------------------------
    def do_reload(self, i, mode):
        old = self.current
        start = self.now()
        self.write_config(len(self.spillways), self.with_extra, self.rule_version)
        new, ok = self.start_spillway(["-sf", str(old.pid)])
        ready = self.now()
        entry = {"i": i, "mode": mode, "start": round(start, 3), "ready": round(ready, 3), "ok": ok,
                 "old_pid": old.pid, "new_pid": new.pid, "old_exit": None, "old_status": None}
        if not ok:
            # A failed new process must leave the old one serving: keep using it.
            entry["new_status"] = new.poll()
            self.spillways.pop()
            self.spillways.append(old)
        else:
            self.old.append((old, entry))
            self.state.since[new.pid] = ready
        self.record["reloads"].append(entry)

    def do_sighup(self, j):
        self.with_extra = j % 2 == 0
        self.rule_version = j + 2
        self.write_config(len(self.spillways) - 1, self.with_extra, self.rule_version)
        at = self.now()
        self.current.send_signal(signal.SIGHUP)
        entry = {"j": j, "at": round(at, 3), "extra": self.with_extra, "targets_applied": False, "rule_applied": False}
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and not (entry["targets_applied"] and entry["rule_applied"]):
            status, body = http_get(self.layout.admin, "/stats")
            if status == 200 and not entry["targets_applied"]:
                listed = [t["addr"] for t in json.loads(body)["target_groups"]["app"]["targets"] if t["state"] != "draining"]
                entry["targets_applied"] = (self.layout.extra in listed) == self.with_extra
            status, body = http_get(self.layout.port, "/rule")
            entry["rule_applied"] = entry["rule_applied"] or (status == 200 and body.strip() == f"rule-v{self.rule_version}")
            time.sleep(0.1)
        entry["took"] = round(self.now() - at, 3)
        self.record["sighups"].append(entry)

    def do_kill(self):
        victim = self.targets[0]
        t_kill = self.now()
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        time.sleep(planmod.KILL_DOWN_S)
        self.targets[0], _ = self.start_target("target-0", self.target_ports[0])
        self.record["down"].setdefault(self.layout.targets[0], []).append([round(t_kill, 3), round(self.now(), 3), "killed"])

    def do_stall(self):
        self.stall_started = self.now()
        self.targets[1].send_signal(signal.SIGSTOP)

    def do_resume(self):
        self.targets[1].send_signal(signal.SIGCONT)
        self.record["down"].setdefault(self.layout.targets[1], []).append(
            [round(self.stall_started, 3), round(self.now(), 3), "stalled"])

    # ---- watching ------------------------------------------------------------------------
    def watch(self):
        """Once a second: the serving process's descriptors and RSS, old processes' exits."""
        while not self.stop.is_set():
            p = self.current
            self.record["samples"].append(
                [round(self.now(), 3), p.pid, procs.fds(p.pid), procs.rss_kib(p.pid), len(self.live_spillways())])
            self.reap()
            if p.poll() is not None and p.pid not in [d[1] for d in self.record["deaths"]]:
                self.record["deaths"].append([round(self.now(), 3), p.pid, p.returncode])
            self.stop.wait(1.0)

    def live_spillways(self):
        return [p for p in self.spillways if p.poll() is None]

    def reap(self):
        for p, entry in self.old:
            if entry["old_exit"] is None and p.poll() is not None:
                entry["old_exit"] = round(self.now(), 3)
                entry["old_status"] = p.returncode

    # ---- the run -------------------------------------------------------------------------
    def run(self):
        procs.raise_fd_limit()
        # Every port is bound as 0 and read back (see start_target, start_first_spillway).
        self.layout = config.Layout(port=0, admin=0, targets=[], extra="", side="",
                                    upgrade_socket=os.path.join(self.out, "upgrade.sock"), threads=self.args.threads)
        self.cfg = os.path.join(self.out, "spillway.toml")
        self.with_extra, self.rule_version = False, 1
        try:
            return self._run()
        finally:
            self.stop.set()
            self.procs.stop_all()

    def _run(self):
        a, plan = self.args, self.plan
        started = [self.start_target(f"target-{i}") for i in range(4)]
        self.targets = [p for p, _ in started]
        self.target_ports = [port for _, port in started]
        self.layout.targets = [f"127.0.0.1:{port}" for port in self.target_ports]
        self.extra, extra_port = self.start_target("target-extra")
        self.layout.extra = f"127.0.0.1:{extra_port}"
        rate = LOAD_SHARE * 4 * a.target_rps
        rec = clients.Record(self.t0)
        side, go = clients.SidePort(), threading.Event()
        # The clients need the proxy's port, known once spillway listens: they read it from
        # the layout when `go` is set.
        loop = threading.Thread(target=clients.run_loop, args=(rec, self.layout, side, rate,
                                                               a.slowloris, self.stop, go), daemon=True)
        loop.start()
        if not side.up.wait(10):
            raise RuntimeError("the side backend did not start")
        self.layout.side = f"127.0.0.1:{side.port}"
        self.start_first_spillway()
        # The origin of every time in the record: loadgen starts now.
        self.t0 = rec.t0 = time.monotonic()
        self.state = poller.State()
        self.state.since[self.current.pid] = 0.0
        poll = poller.Poller(self.layout.admin, self.state, self.now, self.stop)
        load = self.procs.spawn("loadgen", [
            self.bins["loadgen"], f"http://127.0.0.1:{self.layout.port}/", "-R", str(int(rate)), "-d", f"{int(plan.duration)}s",
            "-c", "64", "-t", "1", "--timeout", "5s", "-q", "--json", os.path.join(self.out, "loadgen.json"),
            "--timeline", os.path.join(self.out, "timeline.csv"), "--hdr-log", os.path.join(self.out, "latency.hdr")])
        go.set()
        poll.start()
        watcher = threading.Thread(target=self.watch, daemon=True)
        watcher.start()
        for e in plan.events:
            delay = e.at - self.now()
            if delay > 0:
                time.sleep(delay)
            self.record["events"].append([round(self.now(), 3), e.kind, e.arg])
            if e.kind == "reload":
                self.do_reload(len(self.record["reloads"]), e.arg)
            elif e.kind == "sighup":
                self.do_sighup(e.arg)
            else:
                getattr(self, f"do_{e.kind}")()
        try:
            load.wait(timeout=plan.duration + 60 - self.now())
        except subprocess.TimeoutExpired:
            load.kill()
            self.record["loadgen_killed"] = True
        self.stop.set()
        loop.join(15)
        watcher.join(5)
        # Old processes still draining get the rest of their grace, then are recorded as late.
        grace_end = max([e["ready"] for _, e in self.old] or [0]) + config.DRAIN_TIMEOUT_S + 5
        while self.now() < grace_end and any(p.poll() is None for p, _ in self.old):
            time.sleep(0.2)
        self.reap()
        final = self.current
        final.send_signal(signal.SIGUSR1)
        try:
            final.wait(timeout=config.DRAIN_TIMEOUT_S + 5)
        except subprocess.TimeoutExpired:
            pass
        self.record.update({
            "t_end": round(self.now(), 3), "rate": rate, "layout": vars(self.layout),
            "final_exit": final.poll(), "clients": rec.by_kind, "polls": poll.polls, "counts": poll.counts,
            "poll_failures": poll.failures, "loadgen_exit": load.poll(),
        })
        return self.record
