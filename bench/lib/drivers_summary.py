#!/usr/bin/env python3
"""The table of `bench/compare.sh drivers`: spillway's drivers side by side with HAProxy.

    drivers_summary.py DIR OUT.md HEAD.md

DIR holds the CSVs that `compare.sh l7` and `compare.sh churn` wrote there (targets haproxy,
spillway, spillway-io_uring, spillway-epoll, alternated within each round). HEAD.md is put
first. For each mode and target: medians over the rounds of req/s, p50, p99 and the proxy's CPU
per request (user + kernel), the ratio of those medians to HAProxy's, and the median of the
per-round ratios (each round's target against the HAProxy run of the same round).
"""

import sys

from spillbench.stats import fmt, latest, median, num, read_rows

MODES = ["l7", "churn"]
GOALS = {"l7": 0.85, "churn": 1.0}  # issue 15: the default config's CPU/request ÷ HAProxy's


def main():
    d, md_path, head_path = sys.argv[1:4]
    lines = open(head_path).read().rstrip("\n").split("\n") + [""]
    lines.append("| mode | target | driver per shard | runs | req/s | p50 ms | p99 ms | CPU µs/req | user | kernel | CPU ÷ HAProxy | per-round CPU ÷ HAProxy | req/s ÷ HAProxy |")
    lines.append("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    goals = []
    for mode in MODES:
        path = latest("%s/%s-*.csv" % (d, mode))
        if not path:
            lines.append("| %s | (not measured) | | | | | | | | | | | |" % mode)
            continue
        rows = read_rows(path)
        targets = list(dict.fromkeys(r["target"] for r in rows))
        by_round = {(r["round"], r["target"]): r for r in rows}
        base = {}
        for t in targets:
            mine = [r for r in rows if r["target"] == t]
            m = {k: median([num(r[k]) for r in mine]) for k in
                 ("rps", "p50_us", "p99_us", "proxy_us_per_req", "proxy_user_us_per_req", "proxy_sys_us_per_req")}
            if t == "haproxy":
                base = m
            paired = median([num(r["proxy_us_per_req"]) / num(by_round[(r["round"], "haproxy")]["proxy_us_per_req"])
                             for r in mine if (r["round"], "haproxy") in by_round
                             and num(r["proxy_us_per_req"]) and num(by_round[(r["round"], "haproxy")]["proxy_us_per_req"])])
            cpu = m["proxy_us_per_req"]
            ratio = cpu / base["proxy_us_per_req"] if cpu and base.get("proxy_us_per_req") else None
            rps = m["rps"] / base["rps"] if m["rps"] and base.get("rps") else None
            drivers = sorted({r.get("proxy_driver") or "" for r in mine}) if t.startswith("spillway") else ["—"]
            lines.append("| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                mode, t, " / ".join(x or "?" for x in drivers), len(mine), fmt(m["rps"], "%.0f"),
                fmt(m["p50_us"] and m["p50_us"] / 1000, "%.3f"), fmt(m["p99_us"] and m["p99_us"] / 1000, "%.3f"),
                fmt(cpu, "%.2f"), fmt(m["proxy_user_us_per_req"], "%.2f"), fmt(m["proxy_sys_us_per_req"], "%.2f"),
                fmt(ratio, "%.3f"), fmt(paired, "%.3f"), fmt(rps, "%.3f")))
            if t == "spillway":
                goals.append((mode, ratio, paired))
    lines.append("")
    lines.append("| goal (issue 15, default config) | CPU ÷ HAProxy (of medians) | per-round median | |")
    lines.append("|---|---:|---:|---|")
    for mode, ratio, paired in goals:
        met = None if ratio is None else ratio <= GOALS[mode]
        lines.append("| %s: CPU/request ≤ %.2f × HAProxy's | %s | %s | %s |" % (
            mode, GOALS[mode], fmt(ratio, "%.3f"), fmt(paired, "%.3f"),
            "n/a" if met is None else ("**met**" if met else "**missed**")))
    lines.append("")
    lines.append("CPU µs/req: utime + stime of the proxy process over the run ÷ requests the client completed")
    lines.append("(user and kernel: the same split). Driver per shard: what each shard of that spillway reported at")
    lines.append("start (`shard started` log line): driver[io_uring setup flags]. Per-mode summaries, raw runs and")
    lines.append("logs: %s/" % d)
    open(md_path, "w").write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
