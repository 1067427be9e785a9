#!/usr/bin/env python3
"""The combined table of `bench/compare.sh all`.

    all_summary.py DIR OUT.md OUT.json

DIR holds what the modes wrote (l7-*.csv, churn-*.csv, l4-*.csv, tls-*.csv,
tls-*-handshakes.csv, idle-*.csv), head.env (key=value lines: date, command, versions)
and status.txt (one line per mode: "MODE ok|failed|skipped ..."). Medians over all the
runs of each mode x target; nothing is checked, the goals are reported met or missed.
"""

import json
import os
import re
import sys

from spillbench.stats import latest, max_of as maxof, median_of as median, num, ratio, read_rows as rows_of

MODES = ["l7", "churn", "l4", "tls", "tls-hs", "idle"]
TARGETS = ["direct", "haproxy", "nginx", "spillway"]


def main():
    d, md_path, json_path = sys.argv[1:4]
    head = {}
    if os.path.exists(os.path.join(d, "head.env")):
        for line in open(os.path.join(d, "head.env")):
            k, _, v = line.rstrip("\n").partition("=")
            head[k] = v
    status = {}
    if os.path.exists(os.path.join(d, "status.txt")):
        for line in open(os.path.join(d, "status.txt")):
            p = line.split()
            if p:
                status[p[0]] = " ".join(p[1:])

    files = {
        "l7": latest(os.path.join(d, "l7-*.csv")),
        "churn": latest(os.path.join(d, "churn-*.csv")),
        "l4": latest(os.path.join(d, "l4-*.csv")),
        "tls": latest(os.path.join(d, "tls-*.csv"), exclude="-handshakes.csv"),
        "tls-hs": latest(os.path.join(d, "tls-*-handshakes.csv")),
        "idle": latest(os.path.join(d, "idle-*.csv")),
    }
    # how each mode's figures are read: (throughput column, unit, CPU column, CPU unit,
    # latency columns in µs or None)
    spec = {
        "l7": ("rps", "req/s", "proxy_us_per_req", "µs/req"),
        "churn": ("rps", "req/s", "proxy_us_per_req", "µs/req"),
        "tls": ("rps", "req/s", "proxy_us_per_req", "µs/req"),
        "l4": ("gib_per_s", "GiB/s", "proxy_cpu_s_per_gib", "s/GiB"),
        "tls-hs": ("hs_per_s", "handshakes/s", "proxy_us_per_hs", "µs/handshake"),
    }
    label = {
        "l7": "l7 keep-alive",
        "churn": "churn (Connection: close)",
        "l4": "l4 16 MiB downloads",
        "tls": "tls keep-alive",
        "tls-hs": "tls new full handshakes",
        "idle": "idle (%s keep-alive conns)" % format(int(head.get("idle_conns", "10000").split(",")[-1]), ","),
    }
    out_rows = []
    for mode in MODES:
        rows = rows_of(files[mode])
        if mode == "idle":
            n = head.get("idle_conns", "10000").split(",")[-1]
            rows = [r for r in rows if r.get("conns") == n]
        by_t = {t: [r for r in rows if r.get("target") == t] for t in TARGETS}
        if mode == "idle":
            hk = median(by_t["haproxy"], "kib_per_conn")
            for t in TARGETS:
                rs = by_t[t]
                if not rs:
                    continue
                k = median(rs, "kib_per_conn")
                out_rows.append({
                    "mode": mode, "label": label[mode], "target": t, "runs": len(rs),
                    "idle_kib_per_conn": k, "idle_anon_kib_per_conn": median(rs, "anon_kib_per_conn"),
                    "idle_rss_before_kib": median(rs, "rss_before_kib"), "idle_rss_idle_kib": median(rs, "rss_idle_kib"),
                    "cost_vs_haproxy": ratio(k, hk),
                })
            continue
        tcol, tunit, ccol, cunit = spec[mode]
        med = {t: {"thr": median(by_t[t], tcol), "cpu": median(by_t[t], ccol)} for t in TARGETS}
        for t in TARGETS:
            rs = by_t[t]
            if not rs:
                continue
            p50 = median(rs, "p50_us")
            p99 = median(rs, "p99_us")
            row = {
                "mode": mode, "label": label[mode], "target": t, "runs": len(rs),
                "throughput": med[t]["thr"], "throughput_unit": tunit,
                "p50_ms": p50 / 1000 if p50 is not None else None,
                "p99_ms": p99 / 1000 if p99 is not None else None,
                "proxy_cpu": med[t]["cpu"] if t != "direct" else None, "proxy_cpu_unit": cunit,
                "throughput_vs_haproxy": ratio(med[t]["thr"], med["haproxy"]["thr"]),
                "cost_vs_haproxy": ratio(med[t]["cpu"], med["haproxy"]["cpu"]) if t != "direct" else None,
                "throughput_vs_direct": ratio(med[t]["thr"], med["direct"]["thr"]),
                "p99_vs_haproxy": ratio(p99, median(by_t["haproxy"], "p99_us")),
                "errors": sum(int(num(r.get("errors")) or 0) for r in rs),
                "max_foreign_pct": maxof(rs, "noise_pct"),
                "rustc_max": maxof(rs, "rustc_max"),
            }
            if "reuse_pct" in (rs[0] if rs else {}) and t != "direct":
                row["backend_reuse_pct"] = median(rs, "reuse_pct")
            if mode == "tls-hs":
                row["handshakes_per_cpu_s"] = median(rs, "hs_per_cpu_s")
                row["resumed"] = sum(int(num(r.get("resumed")) or 0) for r in rs)
            out_rows.append(row)

    def get(mode, target, key):
        for r in out_rows:
            if r["mode"] == mode and r["target"] == target:
                return r.get(key)
        return None

    goals = []

    def goal(text, value, ok, shown):
        goals.append({"goal": text, "value": value, "met": ok, "shown": shown})

    def g_ratio(text, mode, key, limit, le=True, base="haproxy", denom_key=None):
        s, h = get(mode, "spillway", key), get(mode, base, denom_key or key)
        r = ratio(s, h)
        if r is None:
            goal(text, None, None, "n/a")
        else:
            goal(text, r, (r <= limit) if le else (r >= limit), "%.3f" % r)

    g_ratio("l7: spillway CPU/request ≤ 0.60 × HAProxy's", "l7", "proxy_cpu", 0.60)
    g_ratio("l7: spillway req/s ≥ 1.3 × HAProxy's", "l7", "throughput", 1.3, le=False)
    g_ratio("l7: spillway p99 no worse than HAProxy's", "l7", "p99_ms", 1.0)
    u = get("l7", "spillway", "backend_reuse_pct")
    goal("l7: backend connection reuse ≥ 99.9 %", u, None if u is None else u >= 99.9,
         "n/a" if u is None else "%.3f %%" % u)
    g_ratio("churn: spillway CPU/request ≤ 0.80 × HAProxy's", "churn", "proxy_cpu", 0.80)
    g_ratio("l4: spillway CPU/GiB ≤ 0.60 × HAProxy's", "l4", "proxy_cpu", 0.60)
    g_ratio("l4: spillway GiB/s ≥ 0.97 × direct", "l4", "throughput", 0.97, le=False, base="direct")
    g_ratio("tls: spillway keep-alive CPU/request ≤ 0.70 × HAProxy's", "tls", "proxy_cpu", 0.70)
    g_ratio("tls: spillway handshakes per proxy CPU-second ≥ HAProxy's", "tls-hs", "handshakes_per_cpu_s", 1.0, le=False)
    k = get("idle", "spillway", "idle_kib_per_conn")
    goal("idle: spillway ≤ 1 KiB per idle connection", k, None if k is None else k <= 1.0,
         "n/a" if k is None else "%.2f KiB (HAProxy %s)" % (k, "n/a" if get("idle", "haproxy", "idle_kib_per_conn") is None
                                                         else "%.2f" % get("idle", "haproxy", "idle_kib_per_conn")))

    def f(x, fmt):
        return "—" if x is None else fmt % x

    def thr_s(r):
        x = r.get("throughput")
        if x is None:
            return "—"
        if r["throughput_unit"] == "GiB/s":
            return "%.3f GiB/s" % x
        return "{:,.0f} {}".format(x, "req/s" if r["throughput_unit"] == "req/s" else "hs/s")

    def cpu_s(r):
        x = r.get("proxy_cpu")
        if x is None:
            return "—"
        return ("%.3f " if r["proxy_cpu_unit"] == "s/GiB" else ("%.1f " if r["mode"] == "tls-hs" else "%.2f ")) % x + r["proxy_cpu_unit"]

    lines = []
    lines.append("# spillway bench: all modes, %s" % head.get("date", "?"))
    lines.append("")
    lines.append("command: `%s`" % head.get("command", "?"))
    lines.append("")
    lines.append("- kernel %s; CPUs: %s; proxy on CPU 0, backend nginx and client on CPU 1" % (head.get("kernel", "?"), head.get("cpus", "?")))
    lines.append("- HAProxy %s; nginx %s; wrk %s" % (head.get("haproxy", "?"), head.get("nginx", "?"), head.get("wrk") or "not installed"))
    # "spillway version 0.1.0 (...)" / "loadgen 0.1.0 (...)", as the binaries print them
    for prog in ("spillway", "loadgen"):
        lines.append("- %s %s" % (prog, re.sub(r"^%s (version )?" % prog, "", head.get(prog, "?"))))
    drivers = []
    for mode in MODES:
        seen = sorted({r.get("proxy_driver") or "?" for r in rows_of(files[mode]) if r.get("target") == "spillway"})
        if seen:
            drivers.append("%s %s" % (mode, " / ".join(seen)))
    lines.append("- spillway's default config (no driver key: auto); driver per shard as each run's shards reported it: %s"
                 % ("; ".join(drivers) or "?"))
    lines.append("- client (l7, churn, l4, tls keep-alive): %s; tls handshakes: loadgen --new-conn --no-resume" % head.get("load", "?"))
    lines.append("- %s rounds × %s s per mode, targets alternated within each round; medians over the rounds" % (head.get("runs", "?"), head.get("seconds", "?")))
    el = head.get("elapsed_s")
    lines.append("- load average before/after: %s / %s; took %s" % (head.get("load_before", "?"), head.get("load_after", "?"),
                                                              "%d min %02d s" % divmod(int(el), 60) if el else "?"))
    bad = {m: v for m, v in status.items() if not v.startswith("ok")}
    if bad:
        lines.append("- **not measured**: " + ", ".join("%s (%s)" % (m, v) for m, v in bad.items()))
    lines.append("")
    lines.append("| mode | target | runs | throughput | p50 ms | p99 ms | proxy CPU | throughput ÷ HAProxy | CPU (idle: KiB) ÷ HAProxy | throughput ÷ direct | idle RSS KiB/conn | max foreign % |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in out_rows:
        if r["mode"] == "idle":
            lines.append("| %s | %s | %d | — | — | — | — | — | %s | — | %s | — |" % (
                r["label"], r["target"], r["runs"], f(r.get("cost_vs_haproxy"), "%.2f"), f(r.get("idle_kib_per_conn"), "%.2f")))
            continue
        lines.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | — | %s |" % (
            r["label"], r["target"], r["runs"], thr_s(r), f(r.get("p50_ms"), "%.3f"), f(r.get("p99_ms"), "%.3f"),
            cpu_s(r), f(r.get("throughput_vs_haproxy"), "%.3f"), f(r.get("cost_vs_haproxy"), "%.3f"),
            f(r.get("throughput_vs_direct"), "%.3f"), f(r.get("max_foreign_pct"), "%.0f")))
    lines.append("")
    lines.append("Proxy CPU: utime+stime of the proxy process (nginx proxy: master + worker) over each run ÷ requests,")
    lines.append("GiB or full handshakes the client received; direct has no proxy (it is the backend alone, the")
    lines.append("physical limit). In l4 the nginx proxy is nginx's stream module, which copies the bytes through user")
    lines.append("space (no splice option), while HAProxy (splice-auto) and spillway splice. Idle: (VmRSS with the idle")
    lines.append("connections − VmRSS before) ÷ connections, a fresh proxy per run. Max foreign %: the largest share of a")
    lines.append("CPU the run used that was busy with anything else.")
    lines.append("")
    lines.append("| goal (reported, not checked) | result | |")
    lines.append("|---|---|---|")
    for g in goals:
        lines.append("| %s | %s | %s |" % (g["goal"], g["shown"], "n/a" if g["met"] is None else ("**met**" if g["met"] else "**missed**")))
    lines.append("")
    lines.append("Per-mode summaries (every run, quiet-run tables, raw figures) and logs: %s/" % d)
    open(md_path, "w").write("\n".join(lines) + "\n")
    json.dump({"head": head, "status": status, "files": {k: (os.path.basename(v) if v else None) for k, v in files.items()},
               "rows": out_rows, "goals": [{k: v for k, v in g.items() if k != "shown"} for g in goals]},
              open(json_path, "w"), indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
