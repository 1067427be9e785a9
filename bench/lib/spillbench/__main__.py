"""The command line of the Python side of bench/compare.sh:

    python3 -m spillbench COMMAND ...      (with bench/lib on PYTHONPATH)

    csv-header KIND FILE        start FILE as the CSV of runs of KIND (l4, http, hs, idle)
    record KIND --dir D --csv F --target T --round R [--proxy-pid P] [--driver S] [--conns-idle N] CONTEXT
                                one measured run: the raw readings in D -> one row of F and
                                the run's log lines on stderr
    report MODE --csv F --head H --out MD CONTEXT [...]
                                the summary of MODE (l4, http, tls, idle, rules): H (the head that
                                compare.sh wrote: versions, command) followed by the tables;
                                rules also writes --json OUT.json
    rules-config toml|haproxy --rules N --port P --admin-port A --backend ADDR --miss ADDR [...]
                                mode rules: the configuration of target spillway-rules (toml) or
                                of haproxy-rules and spillway-haproxy-cfg (haproxy), on stdout
    rules-request --rules N     mode rules: "HOST PATH" of the request that matches only rule N
    mem PID                     "VmRSS RssAnon smaps-Anonymous mappings" of PID (KiB, KiB, KiB, count)
    driver-report LOG           each shard's driver and ring flags from spillway's log
    s-client                    "protocol cipher group" from `openssl s_client` output on stdin

CONTEXT: --mode --load --targets --runs --seconds --quiet --proxy-cpu --backend-cpu --conns
--body-size --hs-conns (the options compare.sh ran with).
"""

import argparse
import csv
import json
import os
import sys

from . import parse, record, report, rules
from .stats import write_header


def context_args(p):
    p.add_argument("--mode", default="l7")
    p.add_argument("--load", default="loadgen", choices=("loadgen", "wrk"))
    p.add_argument("--targets", default="direct,haproxy,nginx,spillway")
    p.add_argument("--runs", default="5")
    p.add_argument("--seconds", default="10")
    p.add_argument("--quiet", type=int, default=25, help="a run is quiet at most this foreign load (%%)")
    p.add_argument("--proxy-cpu", type=int, default=0)
    p.add_argument("--backend-cpu", type=int, default=1)
    p.add_argument("--conns", type=int, default=64, help="the client's connections")
    p.add_argument("--body-size", type=int, default=100, help="bytes of every response body")
    p.add_argument("--hs-conns", type=int, default=32, help="connections of the tls handshake runs")


def context(a):
    return report.Context(mode=a.mode, load=a.load, targets=a.targets.split(","), runs=a.runs,
                          seconds=a.seconds, quiet_pct=a.quiet, proxy_cpu=a.proxy_cpu,
                          backend_cpu=a.backend_cpu, conns=a.conns, body_size=a.body_size,
                          hs_conns=a.hs_conns)


def main(argv=None):
    ap = argparse.ArgumentParser(prog="spillbench", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("csv-header")
    p.add_argument("kind", choices=sorted(record.RECORDERS))
    p.add_argument("file")

    p = sub.add_parser("record")
    p.add_argument("kind", choices=sorted(record.RECORDERS))
    p.add_argument("--dir", required=True)
    p.add_argument("--csv", required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--round", required=True)
    p.add_argument("--proxy-pid", default="")
    p.add_argument("--driver", default="")
    p.add_argument("--idle-conns", type=int, default=0, help="mode idle: the idle connections of the run")
    p.add_argument("--clk-tck", type=int, default=os.sysconf("SC_CLK_TCK"))
    context_args(p)

    p = sub.add_parser("report")
    p.add_argument("what", choices=("l4", "http", "tls", "idle", "rules"))
    p.add_argument("--csv", required=True)
    p.add_argument("--head", required=True, help="the summary's head (written by compare.sh)")
    p.add_argument("--out", required=True)
    p.add_argument("--hs-csv", help="tls: the CSV of the handshake runs")
    p.add_argument("--negotiated", help="tls: CSV target,keepalive,handshakes (what openssl s_client saw)")
    p.add_argument("--parts", default="keepalive,handshakes", help="tls: TLS_PARTS")
    p.add_argument("--offer", default="", help="tls: the suites and groups of loadgen's offer")
    p.add_argument("--counts", default="1000,10000", help="idle: the connection counts (IDLE_CONNS)")
    p.add_argument("--rules", type=int, default=rules.DEFAULT_RULES, help="rules: the number of rules")
    p.add_argument("--json", help="rules: where the JSON summary goes")
    context_args(p)

    p = sub.add_parser("rules-config")
    p.add_argument("kind", choices=("toml", "haproxy"))
    p.add_argument("--rules", type=int, default=rules.DEFAULT_RULES)
    p.add_argument("--port", type=int, required=True, help="the listener's (frontend's) port on 127.0.0.1")
    p.add_argument("--admin-port", type=int, required=True, help="spillway's admin API / HAProxy's stats listener")
    p.add_argument("--backend", required=True, help="ADDR:PORT of the backend nginx (every rule's group)")
    p.add_argument("--miss", required=True, help="ADDR:PORT of the default group (no rule matched)")
    p.add_argument("--proxy-cpu", type=int, default=0, help="haproxy: cpu-map")
    p.add_argument("--maxconn", type=int, default=12000, help="haproxy: global maxconn")
    p.add_argument("--runtime-extra", default="", help="toml: lines added to [runtime]")
    p.add_argument("--group-extra", default="", help="toml: lines added to every [[target_group]]")

    p = sub.add_parser("rules-request")
    p.add_argument("--rules", type=int, default=rules.DEFAULT_RULES)

    p = sub.add_parser("mem")
    p.add_argument("pid")
    p = sub.add_parser("driver-report")
    p.add_argument("log")
    sub.add_parser("s-client")

    a = ap.parse_args(argv)
    if a.cmd == "csv-header":
        write_header(a.file, a.kind)
    elif a.cmd == "record":
        ctx = context(a)
        for k in ("dir", "csv", "target", "round", "proxy_pid", "driver", "clk_tck"):
            setattr(ctx, k, getattr(a, k))
        ctx.conns = a.idle_conns if a.kind == "idle" else a.conns
        record.RECORDERS[a.kind](ctx)
    elif a.cmd == "report":
        ctx = context(a)
        if a.what == "l4":
            lines = report.l4_report(ctx, a.csv)
        elif a.what == "http":
            lines = report.http_report(ctx, a.csv)
        elif a.what == "tls":
            with open(a.negotiated, newline="") as f:
                negotiated = list(csv.DictReader(f))
            lines = report.tls_report(ctx, a.csv, a.hs_csv, negotiated, a.parts, a.offer)
        elif a.what == "rules":
            host, path = rules.request(a.rules)
            lines, data = report.rules_report(ctx, a.csv, a.rules, host, path)
            if a.json:
                with open(a.json, "w") as f:
                    json.dump(data, f, indent=1, ensure_ascii=False)
                    f.write("\n")
        else:
            lines = report.idle_report(ctx, a.csv, a.counts.split(","))
        with open(a.head) as f:
            head = f.read()
        with open(a.out, "w") as f:
            f.write(head + "\n".join(lines) + "\n")
    elif a.cmd == "rules-config":
        if a.kind == "toml":
            sys.stdout.write(rules.toml_config(a.rules, a.port, a.admin_port, a.backend, a.miss,
                                               a.runtime_extra, a.group_extra))
        else:
            sys.stdout.write(rules.haproxy_config(a.rules, a.port, a.admin_port, a.backend, a.miss,
                                                  a.proxy_cpu, a.maxconn))
    elif a.cmd == "rules-request":
        print(*rules.request(a.rules))
    elif a.cmd == "mem":
        try:
            print(*parse.proc_memory(a.pid))
        except OSError as e:
            sys.stderr.write("spillbench mem: %s\n" % e)
            return 1
    elif a.cmd == "driver-report":
        with open(a.log, errors="replace") as f:
            print(parse.driver_report(f.read()))
    elif a.cmd == "s-client":
        print(parse.s_client(sys.stdin.read()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
