"""Readers of what the bench's processes and tools leave behind: /proc snapshots, the clients'
reports, thread samples, and the few lines of openssl, HAProxy and spillway that are read."""

import json
import os
import re

# ------------------------------------------------------------------ /proc


def stat_ticks(text):
    """(utime, stime) in clock ticks summed over the /proc/PID/stat lines in TEXT (several
    processes: the nginx proxy's master and worker). The comm field may hold spaces and
    parentheses, so the fields are split after the last ')'."""
    user = system = 0
    for line in text.splitlines():
        if ")" not in line:
            continue
        f = line.rsplit(")", 1)[1].split()
        # f[0] is field 3 (state); utime and stime are fields 14 and 15
        user += int(f[11])
        system += int(f[12])
    return user, system


def cpu_busy(text, cpu):
    """(busy, total) clock ticks of CPU (a number) from a copy of /proc/stat: busy = user + nice
    + system + irq + softirq + steal; total adds idle and iowait."""
    for line in text.splitlines():
        f = line.split()
        if f and f[0] == "cpu%d" % cpu:
            v = [int(x) for x in f[1:9]]
            busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
            return busy, busy + v[3] + v[4]
    raise ValueError("no line cpu%d in /proc/stat" % cpu)


def status_fields(text, *keys):
    """The values (KiB, as int) of KEYS (VmRSS, RssAnon, ...) in a /proc/PID/status text; 0 for
    a key that is not there."""
    v = {}
    for line in text.splitlines():
        k, _, rest = line.partition(":")
        if rest.split():
            v[k] = rest.split()[0]
    return [int(v.get(k, 0)) for k in keys]


def proc_memory(pid):
    """(VmRSS, RssAnon, Anonymous KiB of smaps_rollup, number of mappings) of PID now."""
    with open("/proc/%s/status" % pid) as f:
        rss, anon = status_fields(f.read(), "VmRSS", "RssAnon")
    try:
        with open("/proc/%s/smaps_rollup" % pid) as f:
            (smaps_anon,) = status_fields(f.read(), "Anonymous")
    except OSError:
        smaps_anon = 0
    with open("/proc/%s/maps" % pid) as f:
        maps = sum(1 for _ in f)
    return rss, anon, smaps_anon, maps


def proc_fds_rss(pid):
    """(open fds, VmRSS KiB) of PID now, as strings; empty strings for what cannot be read."""
    try:
        fds = str(len(os.listdir("/proc/%s/fd" % pid)))
    except OSError:
        fds = "0"
    try:
        with open("/proc/%s/status" % pid) as f:
            text = f.read()
        rss = next((l.split()[1] for l in text.splitlines() if l.startswith("VmRSS:")), "")
    except OSError:
        rss = ""
    return fds, rss


# ------------------------------------------------------------------ clients

BENCH_FIELDS = ("bytes", "duration_us", "requests", "err_connect", "err_read", "err_write",
                "err_status", "err_timeout", "p50_us", "p90_us", "p99_us", "max_us", "conns")


def bench_line(text):
    """The fields of the `BENCH key=value ...` line that wrk's report script (bench/compare.sh's
    report.lua) prints, as ints; None when there is no such line."""
    for line in text.splitlines():
        if line.startswith("BENCH "):
            return {k: int(v) for k, v in (kv.split("=", 1) for kv in line.split()[1:] if "=" in kv)}
    return None


def format_bench_line(d):
    """D (bench_line's dict) as a BENCH line, the fields in wrk's order."""
    return "BENCH " + " ".join("%s=%d" % (k, d[k]) for k in BENCH_FIELDS if k in d)


def loadgen_as_bench(j, size):
    """loadgen's JSON summary J read as wrk's BENCH line, so that both clients are read alike:
    requests = responses received in the measured window (requests_in_window), bytes = requests
    × SIZE (the body size of every response), err_status = responses with a status ≥ 400 (or a
    non-numeric one), err_read also counts loadgen's protocol errors (unparseable responses),
    conns = connections_opened."""
    req = int(j.get("requests_in_window", j["requests"]))
    err = j.get("errors") or {}
    lat = j.get("latency_us") or {}
    bad = sum(int(v) for k, v in (j.get("status") or {}).items() if not k.isdigit() or int(k) >= 400)
    return {
        "bytes": req * size, "duration_us": round(float(j["duration_s"]) * 1e6), "requests": req,
        "err_connect": int(err.get("connect", 0)),
        "err_read": int(err.get("read", 0)) + int(err.get("protocol", 0)),
        "err_write": int(err.get("write", 0)), "err_status": bad, "err_timeout": int(err.get("timeout", 0)),
        "p50_us": int(lat.get("p50", 0)), "p90_us": int(lat.get("p90", 0)), "p99_us": int(lat.get("p99", 0)),
        "max_us": int(lat.get("max", 0)), "conns": int(j.get("connections_opened", 0)),
    }


def loadgen_handshakes(j):
    """The figures of a handshake run from loadgen's JSON summary J (values as loadgen wrote
    them): requests, duration_s, handshakes, full, resumed, failed, errors (all kinds),
    non2xx (requests without a 2xx answer), p50_us, p99_us, max_us."""
    t = j.get("tls") or {}
    lat = j.get("latency_us") or {}
    ok = sum(v for k, v in (j.get("status") or {}).items() if k.startswith("2"))
    return {
        "requests": j["requests"], "duration_s": j["duration_s"], "handshakes": t.get("handshakes", 0),
        "full": t.get("full", 0), "resumed": t.get("resumed", 0), "failed": t.get("failed", 0),
        "errors": sum((j.get("errors") or {}).values()), "non2xx": j["requests"] - ok,
        "p50_us": lat.get("p50", 0), "p99_us": lat.get("p99", 0), "max_us": lat.get("max", 0),
    }


def read_json(path):
    with open(path) as f:
        return json.load(f)


def times_ticks(text, clk_tck):
    """The children's CPU time (user + system) from the output of bash's `times` (second line,
    e.g. "0m1.234s 0m0.567s"), in clock ticks rounded to the nearest; 0 when it is not there."""
    lines = text.splitlines()
    if len(lines) < 2:
        return 0
    secs = 0.0
    for part in lines[1].split()[:2]:
        m = re.fullmatch(r"(\d+)m([\d.]+)s", part)
        if not m:
            return 0
        secs += int(m.group(1)) * 60 + float(m.group(2))
    return int(secs * clk_tck + 0.5)


# ------------------------------------------------------------------ samplers


def thread_summary(text):
    """(max threads, names, iou-wrk max) from a thread sampler's file (lines "COUNT
    name,name,..."): names is "name*count" joined by '+', count being the most seen at once,
    with io_uring's workers grouped by prefix (iou-wrk, iou-sqp); "-" for none. An empty file
    gives (0, "-", 0)."""
    most = 0
    iou_most = 0
    best = {}
    for line in text.splitlines():
        f = line.split()
        if not f:
            continue
        most = max(most, int(f[0]))
        count = {}
        iou = 0
        for name in (f[1].split(",") if len(f) > 1 else []):
            if name.startswith("iou-wrk"):
                name = "iou-wrk"
                iou += 1
            elif name.startswith("iou-sqp"):
                name = "iou-sqp"
            count[name] = count.get(name, 0) + 1
        for k, n in count.items():
            best[k] = max(best.get(k, 0), n)
        iou_most = max(iou_most, iou)
    names = "+".join("%s*%d" % kv for kv in best.items()) or "-"
    return most, names, iou_most


def max_count(text):
    """The largest number on the lines of a sampler file (the rustc sampler's); 0 for none."""
    vals = [int(x) for x in text.split() if x.isdigit()]
    return max(vals, default=0)


# ------------------------------------------------------------------ servers


def stub_status(text):
    """(accepted connections, handled requests) from nginx's stub_status page."""
    lines = text.splitlines()
    f = lines[2].split() if len(lines) >= 3 else []
    if len(f) < 3:
        raise ValueError("not a stub_status page: %r" % text[:200])
    return int(f[0]), int(f[2])


def show_info(text, *fields):
    """The values of FIELDS in HAProxy's `show info` output ("Name: value" lines), "-" for one
    it did not report."""
    v = {}
    for line in text.splitlines():
        line = line.rstrip("\r")
        i = line.find(": ")
        if i >= 0:
            v[line[:i]] = line[i + 2:]
    return [v.get(k, "-") for k in fields]


def s_client(text):
    """"protocol cipher group" that an `openssl s_client` session printed ("?" for what it did
    not say: no handshake)."""
    proto = cipher = group = ""
    for line in text.splitlines():
        if line.startswith("New, "):
            f = line.replace(",", "").split()
            proto = f[1] if len(f) > 1 else ""
            cipher = f[4] if len(f) > 4 else ""
        elif line.startswith("Server Temp Key:"):
            f = line.split()
            group = f[3].replace(",", "") if len(f) > 3 else ""
    return "%s %s %s" % (proto or "?", cipher or "?", group or "?")


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def driver_report(text):
    """Each shard's driver and io_uring ring flags from spillway's "shard started" log lines, as
    "io_uring[coop_taskrun+single_issuer]" (epoll: "epoll[]"), shards separated by spaces; no
    commas, so it fits a CSV cell. A shard whose HTTP data path runs on the ring (issue 20) gets
    it appended in braces: "io_uring[coop_taskrun+single_issuer]{recv_multishot+pbuf_ring+send}"
    (a line with data_path=readiness, or none, gets nothing)."""
    out = []
    for line in ANSI.sub("", text).splitlines():
        if "shard started" not in line:
            continue
        driver = flags = data_path = ""
        for w in line.split():
            if w.startswith("driver="):
                driver = w[len("driver="):].replace('"', "")
            elif w.startswith("ring_flags="):
                flags = w[len("ring_flags="):].replace(",", "+")
            elif w.startswith("data_path="):
                data_path = w[len("data_path="):].replace('"', "").replace(",", "+")
        ring = "{%s}" % data_path if data_path and data_path != "readiness" else ""
        out.append("%s[%s]%s" % (driver, flags, ring))
    return " ".join(out)
