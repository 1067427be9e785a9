"""One measured run: the raw readings that bench/compare.sh's `measure` left in a run directory
become one CSV row (a dict keyed by column name) and the run's log lines.

The run directory (written by compare.sh) holds:
    before.cpu, after.cpu        copies of /proc/stat
    before.nginx, after.nginx    /proc/PID/stat of the backend nginx's processes
    before.proxy, after.proxy    /proc/PID/stat of the proxy's processes (empty for direct)
    client.out                   the client's output (wrk: with the BENCH line of report.lua)
    client.out.json              loadgen's JSON summary (loadgen only)
    client.out.times             `times` of the wrapper around the client: its CPU time
    threads.txt                  the proxy's thread samples (not for direct)
    rustc.txt                    the rustc sampler's counts (not in mode l4)
    status-before.txt, status-after.txt   nginx's stub_status page (not in mode l4)
    backend-estab.txt            `ss` lines of the connections to the backend after the run
    haproxy-before.txt, haproxy-after.txt  HAProxy's `show info` (handshake runs of haproxy)
"""

import os
import re
import time
import sys

from . import parse
from .stats import append_row


def log(msg):
    """A progress line as bench/lib/common.sh's bench_log writes it: `[bench HH:MM:SS] ...`."""
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def read(path, default=None):
    try:
        with open(path, errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        if default is None:
            raise
        return default


class Run:
    """The readings of one run directory, and what every kind of run derives from them."""

    def __init__(self, ctx):
        self.ctx = ctx
        d = ctx.dir
        self.has_proxy = bool(ctx.proxy_pid)
        tk = ctx.clk_tck
        u0, s0 = parse.stat_ticks(read(os.path.join(d, "before.proxy"), ""))
        u1, s1 = parse.stat_ticks(read(os.path.join(d, "after.proxy"), ""))
        self.proxy_user = u1 - u0
        self.proxy_sys = s1 - s0
        self.proxy = self.proxy_user + self.proxy_sys  # ticks
        self.nginx = sum(parse.stat_ticks(read(os.path.join(d, "after.nginx")))) - \
            sum(parse.stat_ticks(read(os.path.join(d, "before.nginx"))))
        cpu0 = read(os.path.join(d, "before.cpu")), read(os.path.join(d, "after.cpu"))
        self.busy0, self.total0 = _delta(parse.cpu_busy(cpu0[1], ctx.proxy_cpu), parse.cpu_busy(cpu0[0], ctx.proxy_cpu))
        self.busy1, self.total1 = _delta(parse.cpu_busy(cpu0[1], ctx.backend_cpu), parse.cpu_busy(cpu0[0], ctx.backend_cpu))
        self.client = parse.times_ticks(read(os.path.join(d, "client.out.times"), ""), tk)
        self.out = read(os.path.join(d, "client.out"), "")
        if self.has_proxy:
            self.threads, self.names, self.iou = parse.thread_summary(read(os.path.join(d, "threads.txt"), ""))
        else:
            self.threads = self.names = self.iou = ""
        self.rustc = parse.max_count(read(os.path.join(d, "rustc.txt"), ""))

    def noise(self):
        """(foreign % of the proxy CPU, busy % of the backend CPU, foreign % of it, noise %):
        how busy each CPU was with anything but this benchmark's processes (the proxy on the
        proxy CPU; nginx and the client on the backend CPU); noise is the larger foreign share
        of the CPUs the run uses (direct does not use the proxy CPU)."""
        f0 = _pct(self.busy0 - self.proxy, self.total0)
        busy1 = "%.0f" % (100 * self.busy1 / self.total1 if self.total1 > 0 else 0)
        f1 = _pct(self.busy1 - (self.nginx + self.client), self.total1)
        noise = max(int(f0), int(f1)) if self.has_proxy else int(f1)
        return f0, busy1, f1, noise

    def backend_counts(self):
        """(new backend connections, backend requests) over the run from nginx's stub_status,
        less the status request of the second reading."""
        a0, q0 = parse.stub_status(read(os.path.join(self.ctx.dir, "status-before.txt")))
        a1, q1 = parse.stub_status(read(os.path.join(self.ctx.dir, "status-after.txt")))
        return a1 - a0 - 1, q1 - q0 - 1

    def client_figures(self):
        """The client's totals as wrk's BENCH line has them (loadgen's JSON read alike)."""
        j = os.path.join(self.ctx.dir, "client.out.json")
        if os.path.exists(j):
            return parse.loadgen_as_bench(parse.read_json(j), self.ctx.body_size)
        b = parse.bench_line(self.out)
        if b is None:
            raise ValueError("no BENCH line in the client's output %s" % os.path.join(self.ctx.dir, "client.out"))
        return b

    def fds_rss(self):
        return parse.proc_fds_rss(self.ctx.proxy_pid) if self.has_proxy else ("", "")

    def warn_common(self, who):
        if self.iou != "" and self.iou > 0:
            log("WARNING: %s: up to %s io_uring worker threads (iou-wrk) seen" % (who, self.iou))


def _delta(after, before):
    return after[0] - before[0], after[1] - before[1]


def _pct(part, whole):
    f = 100 * part / whole if whole > 0 else 0
    return "%.0f" % max(f, 0)


def _errors(c):
    return c["err_connect"] + c["err_read"] + c["err_write"] + c["err_status"] + c["err_timeout"]


def record_l4(ctx):
    """Mode l4: a run of 16 MiB downloads."""
    run = Run(ctx)
    c = run.client_figures()
    tk = ctx.clk_tck
    gib = c["bytes"] / 1073741824
    s = c["duration_us"] / 1e6
    hasp = run.has_proxy
    pcpu = "%.2f" % (run.proxy / tk) if hasp else ""
    pper = "%.4f" % (run.proxy / tk / gib) if hasp and gib > 0 else ""
    nper = "%.4f" % (run.nginx / tk / gib) if gib > 0 else ""
    wper = "%.4f" % (run.client / tk / gib if gib > 0 else 0)
    gibps = "%.4f" % (gib / s if s > 0 else 0)
    f0, busy1, f1, noise = run.noise()
    errs = _errors(c)
    row = {
        "mode": "l4", "round": ctx.round, "target": ctx.target, "bytes": c["bytes"], "duration_s": "%.6f" % s,
        "requests": c["requests"], "errors": errs, "gib_per_s": gibps, "proxy_cpu_s": pcpu,
        "proxy_cpu_s_per_gib": pper, "nginx_cpu_s_per_gib": nper, "proxy_threads_max": run.threads,
        "proxy_thread_names": run.names, "iou_wrk_max": run.iou, "cpu0_foreign_pct": f0,
        "cpu1_busy_pct": busy1, "cpu1_foreign_pct": f1, "noise_pct": noise, "wrk_cpu_s_per_gib": wper,
        "p50_us": c.get("p50_us", ""), "p99_us": c.get("p99_us", ""), "proxy_driver": ctx.driver,
    }
    append_row(ctx.csv, "l4", row)
    extra = " | proxy CPU %ss = %s s/GiB | threads %s (%s)" % (pcpu, pper, run.threads, run.names) if hasp else ""
    log("round %s %-8s %s GiB/s | %s req | nginx %s s/GiB, %s %s s/GiB%s | foreign load: CPU%d %s%% CPU%d %s%% (CPU%d busy %s%%)" % (
        ctx.round, ctx.target, gibps, c["requests"], nper, ctx.load, wper, extra, ctx.proxy_cpu, f0,
        ctx.backend_cpu, f1, ctx.backend_cpu, busy1))
    if errs:
        log("WARNING: %s round %s: %d %s errors" % (ctx.target, ctx.round, errs, ctx.load))
    run.warn_common("%s round %s" % (ctx.target, ctx.round))
    return row


def record_http(ctx):
    """Modes l7 and churn, and the keep-alive runs of mode tls: small GETs."""
    run = Run(ctx)
    c = run.client_figures()
    tk = ctx.clk_tck
    reqs = c["requests"]
    s = c["duration_us"] / 1e6
    hasp = run.has_proxy
    newc, breq = run.backend_counts()
    us = lambda ticks: "%.3f" % (ticks / tk / reqs * 1e6)  # noqa: E731 (µs per request)
    pcpu = "%.2f" % (run.proxy / tk) if hasp else ""
    pper = us(run.proxy) if hasp and reqs > 0 else ""
    nper = us(run.nginx) if reqs > 0 else ""
    wper = us(run.client) if reqs > 0 else ""
    reuse = "%.4f" % (100 * (1 - newc / reqs)) if hasp and reqs > 0 else ""
    puser = us(run.proxy_user) if hasp and reqs > 0 else ""
    psys = us(run.proxy_sys) if hasp and reqs > 0 else ""
    f0, busy1, f1, noise = run.noise()
    pfds, prss = run.fds_rss()
    estab = len(read(os.path.join(ctx.dir, "backend-estab.txt"), "").splitlines())
    errs = _errors(c)
    row = {
        "mode": ctx.mode, "round": ctx.round, "target": ctx.target, "requests": reqs, "duration_s": "%.6f" % s,
        "rps": "%.1f" % (reqs / s if s > 0 else 0), "errors": errs, "non2xx": c["err_status"],
        "p50_us": c["p50_us"], "p99_us": c["p99_us"], "max_us": c["max_us"], "proxy_cpu_s": pcpu,
        "proxy_us_per_req": pper, "nginx_us_per_req": nper, "wrk_us_per_req": wper,
        "backend_new_conns": newc, "backend_requests": breq, "reuse_pct": reuse, "backend_estab_after": estab,
        "proxy_threads_max": run.threads, "proxy_thread_names": run.names, "iou_wrk_max": run.iou,
        "cpu0_foreign_pct": f0, "cpu1_busy_pct": busy1, "cpu1_foreign_pct": f1, "noise_pct": noise,
        "proxy_fds_after": pfds, "proxy_rss_kib_after": prss, "rustc_max": run.rustc,
        "proxy_user_us_per_req": puser, "proxy_sys_us_per_req": psys, "proxy_driver": ctx.driver,
    }
    append_row(ctx.csv, "http", row)
    extra = ""
    if hasp:
        extra = (" | proxy CPU %ss = %s µs/req (user %s + kernel %s) | backend: %d new conns, %d req, reuse %s%% "
                 "| threads %s (%s) | after: %s fds, RSS %s KiB") % (
            pcpu, pper, puser, psys, newc, breq, reuse, run.threads, run.names, pfds, prss)
    who = "%s round %s" % (ctx.target, ctx.round)
    log("round %s %-8s %s req/s p50 %sµs p99 %sµs | %d req, %d errors (%d non-2xx/3xx) | nginx %s µs/req, %s %s µs/req%s | foreign: CPU%d %s%% CPU%d %s%%" % (
        ctx.round, ctx.target, row["rps"], c["p50_us"], c["p99_us"], reqs, errs, c["err_status"], nper,
        ctx.load, wper, extra, ctx.proxy_cpu, f0, ctx.backend_cpu, f1))
    if errs:
        lines = [l for l in run.out.splitlines() if re.search(r"Socket errors|Non-2xx|^BENCH", l)]
        if os.path.exists(os.path.join(ctx.dir, "client.out.json")):
            lines.append(parse.format_bench_line(c))
        log("WARNING: %s: %d %s errors: %s" % (who, errs, ctx.load, "".join(l + " " for l in lines)))
    if ctx.load == "loadgen" and ctx.mode == "churn" and c.get("conns", 0) < reqs:
        # Connection: close must mean a new client connection for every request
        log("WARNING: %s: loadgen opened %d connections for %d requests" % (who, c.get("conns", 0), reqs))
    run.warn_common(who)
    if run.rustc:
        log("WARNING: %s: up to %d rustc processes ran during the run (noise)" % (who, run.rustc))
    # the client counts only completed requests; a run ends with up to -c requests in flight
    if hasp and abs(breq - reqs) > ctx.conns * 2:
        log("WARNING: %s: nginx served %d requests, %s completed %d" % (who, breq, ctx.load, reqs))
    return row


def record_hs(ctx):
    """Mode tls, handshake runs: every request on a new connection with a full handshake."""
    run = Run(ctx)
    tk = ctx.clk_tck
    h = parse.loadgen_handshakes(parse.read_json(os.path.join(ctx.dir, "client.out.json")))
    full, reqs, d = h["full"], h["requests"], float(h["duration_s"])
    newc, _ = run.backend_counts()
    cpu = run.proxy / tk
    hsps = "%.1f" % (full / d if d > 0 else 0)
    pcpu = "%.2f" % cpu
    pper = "%.1f" % (cpu / full * 1e6) if full > 0 else ""
    perc = "%.0f" % (full / cpu) if cpu > 0 else ""
    busy = "%.1f" % (100 * cpu / d if d > 0 else 0)
    nper = "%.1f" % (run.nginx / tk / full * 1e6) if full > 0 else ""
    cper = "%.1f" % (run.client / tk / full * 1e6) if full > 0 else ""
    reuse = "%.4f" % (100 * (1 - newc / reqs)) if reqs > 0 else ""
    # HAProxy's own count of TLS connections, and its session reuse over the last second
    stls = sreuse = "-"
    if os.path.exists(os.path.join(ctx.dir, "haproxy-after.txt")):
        (s0,) = parse.show_info(read(os.path.join(ctx.dir, "haproxy-before.txt"), ""), "CumSslConns")
        s1, sreuse = parse.show_info(read(os.path.join(ctx.dir, "haproxy-after.txt")), "CumSslConns",
                                     "SslFrontendSessionReuse_pct")
        if s0.isdigit() and s1.isdigit():
            stls = str(int(s1) - int(s0))
    f0, busy1, f1, noise = run.noise()
    pfds, prss = run.fds_rss()
    row = {
        "mode": "tls", "round": ctx.round, "target": ctx.target, "requests": reqs, "duration_s": h["duration_s"],
        "handshakes": h["handshakes"], "full": full, "resumed": h["resumed"], "failed": h["failed"],
        "errors": h["errors"], "non2xx": h["non2xx"], "hs_per_s": hsps, "p50_us": h["p50_us"],
        "p99_us": h["p99_us"], "max_us": h["max_us"], "proxy_cpu_s": pcpu, "proxy_us_per_hs": pper,
        "hs_per_cpu_s": perc, "proxy_busy_pct": busy, "nginx_us_per_hs": nper, "client_us_per_hs": cper,
        "backend_new_conns": newc, "reuse_pct": reuse, "server_tls_conns": stls, "server_reuse_pct": sreuse,
        "proxy_threads_max": run.threads, "proxy_thread_names": run.names, "iou_wrk_max": run.iou,
        "cpu0_foreign_pct": f0, "cpu1_busy_pct": busy1, "cpu1_foreign_pct": f1, "noise_pct": noise,
        "proxy_fds_after": pfds, "proxy_rss_kib_after": prss, "rustc_max": run.rustc, "proxy_driver": ctx.driver,
    }
    append_row(ctx.csv, "hs", row)
    who = "%s round %s" % (ctx.target, ctx.round)
    log(("round %s %-8s %s handshakes/s (%s full, %s resumed, %s failed; %s requests, %s errors, %s non-2xx) "
         "p50 %sµs p99 %sµs | proxy CPU %ss = %s µs/handshake = %s handshakes per CPU-s (busy %s%%) "
         "| loadgen %s µs/handshake | backend: %d new conns | server TLS conns %s, reuse %s%% | threads %s (%s) "
         "| foreign: CPU%d %s%% CPU%d %s%%") % (
        ctx.round, ctx.target, hsps, full, h["resumed"], h["failed"], reqs, h["errors"], h["non2xx"],
        h["p50_us"], h["p99_us"], pcpu, pper, perc, busy, cper, newc, stls, sreuse, run.threads, run.names,
        ctx.proxy_cpu, f0, ctx.backend_cpu, f1))
    if h["resumed"]:
        log("WARNING: %s: %s handshakes were resumed" % (who, h["resumed"]))
    if h["failed"] + h["errors"] + h["non2xx"]:
        log("WARNING: %s: %s failed handshakes, %s errors, %s non-2xx" % (who, h["failed"], h["errors"], h["non2xx"]))
    if run.rustc:
        log("WARNING: %s: up to %d rustc processes ran during the run (noise)" % (who, run.rustc))
    run.warn_common(who)
    return row


def record_idle(ctx):
    """Mode idle: the proxy's memory before, with CONNS idle keep-alive connections, and after
    they closed (mem-before.txt, mem-idle.txt, mem-after.txt: `spillbench mem` lines), the
    established connections (client-estab.txt, backend-estab.txt: `ss` lines), the idle
    client's ready line (ready) and output (client.out), and its exit status (client.rc)."""
    d = ctx.dir

    def mem(name):
        return [int(x) for x in read(os.path.join(d, name)).split()]

    r0, a0, s0, m0 = mem("mem-before.txt")
    r1, a1, s1, m1 = mem("mem-idle.txt")
    r2 = mem("mem-after.txt")[0]
    n = ctx.conns
    per = "%.3f" % ((r1 - r0) / n)
    peranon = "%.3f" % ((a1 - a0) / n)
    estab = len(read(os.path.join(d, "client-estab.txt"), "").splitlines())
    backend = len(read(os.path.join(d, "backend-estab.txt"), "").splitlines())
    ready = read(os.path.join(d, "ready"), "").split("\n")[0]
    done = next((l for l in read(os.path.join(d, "client.out"), "").splitlines() if l.startswith("done ")), "done ?")
    rc = read(os.path.join(d, "client.rc"), "0").strip() or "0"
    if rc != "0":
        log("WARNING: %s: idle client: %s / %s (exit %s)" % (ctx.target, ready, done, rc))
    row = {
        "mode": "idle", "round": ctx.round, "target": ctx.target, "conns": n, "rss_before_kib": r0,
        "rss_idle_kib": r1, "rss_after_close_kib": r2, "kib_per_conn": per, "anon_before_kib": a0,
        "anon_idle_kib": a1, "anon_kib_per_conn": peranon, "smaps_anon_before": s0, "smaps_anon_idle": s1,
        "maps_before": m0, "maps_idle": m1, "client_conns_established": estab,
        "backend_conns_established": backend, "client_ready": ready.replace(" ", ";"),
        "client_done": done.replace(" ", ";"), "proxy_driver": ctx.driver,
    }
    append_row(ctx.csv, "idle", row)
    log("idle round %s %-8s %d conns: VmRSS %d -> %d KiB (after close %d) = %s KiB/conn (RssAnon %s KiB/conn) "
        "| maps %d -> %d | %d client conns established, %d backend | %s | %s" % (
            ctx.round, ctx.target, n, r0, r1, r2, per, peranon, m0, m1, estab, backend, ready, done))
    return row


RECORDERS = {"l4": record_l4, "http": record_http, "hs": record_hs, "idle": record_idle}
