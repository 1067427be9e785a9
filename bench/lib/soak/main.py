"""`bench/soak`'s command line: build (unless told not to), run, account, report; exit status
0 when every goal is met, 1 when one is missed, 2 on a bad command line or a failed start."""

import argparse
import csv
import json
import os
import shlex
import signal
import subprocess
import sys
import time

from . import account, hdr, plan as planmod, report, run


def parse(argv):
    p = argparse.ArgumentParser(prog="bench/soak", description=__doc__)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--minutes", type=float, help="run length (default 10)")
    length.add_argument("--seconds", type=float, help="run length in seconds (at least 30)")
    p.add_argument("--out", help="directory for logs and results (default target/soak/<time>)")
    p.add_argument("--bin-dir", help="where spillway and loadgen are (default: build them with cargo --release)")
    p.add_argument("--target-rps", type=float, default=400.0, help="capacity of each of the 4 targets (default 400)")
    p.add_argument("--slowloris", type=int, default=1000, help="slowloris connections (default 1000)")
    p.add_argument("--threads", type=int, default=2, help="spillway shards (default 2)")
    p.add_argument("--account", metavar="DIR", help="recompute the account of an earlier run's directory")
    return p.parse_args(argv)


def build(root):
    cmd = ["cargo", "build", "--release", "-p", "spillway", "-p", "spillway-loadgen", "--bins"]
    subprocess.run(cmd, cwd=root, check=True)
    return os.path.join(root, "target", "release")


def read_outputs(out):
    with open(os.path.join(out, "raw.json")) as f:
        raw = json.load(f)
    with open(os.path.join(out, "loadgen.json")) as f:
        load = json.load(f)
    with open(os.path.join(out, "timeline.csv")) as f:
        timeline = list(csv.DictReader(f))
    latency_path = os.path.join(out, "latency.hdr")
    latency = hdr.read_log(latency_path) if os.path.exists(latency_path) else None
    return raw, load, timeline, latency


def finish(out, raw, command):
    raw_, load, timeline, latency = read_outputs(out)
    summary = {
        "command": command, "plan": raw["plan"], "load_share": run.LOAD_SHARE,
        "capacity_rps": 4 * raw["args"]["target_rps"], "slowloris": raw["args"]["slowloris"],
        "account": account.account(raw_, load, timeline, latency),
    }
    body = report.write(summary, os.path.join(out, "soak.json"), os.path.join(out, "soak.txt"))
    sys.stdout.write(body)
    sys.stdout.write(f"(JSON: {os.path.join(out, 'soak.json')}, logs in {out})\n")
    return 0 if all(g["met"] for g in summary["account"]["goals"]) else 1


def main(argv):
    # SIGTERM (a CI timeout, `timeout`) must still stop what the soak started: as an exception,
    # it runs the `finally` that ends them.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args = parse(argv)
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    command = "bench/soak " + " ".join(shlex.quote(a) for a in argv)
    if args.account:
        with open(os.path.join(args.account, "raw.json")) as f:
            raw = json.load(f)
        return finish(args.account, raw, raw.get("command", command))
    duration = args.seconds if args.seconds is not None else 60.0 * (args.minutes or 10)
    try:
        plan = planmod.make(duration)
    except ValueError as e:
        print(f"bench/soak: {e}", file=sys.stderr)
        return 2
    out = args.out or os.path.join(root, "target", "soak", time.strftime("%Y%m%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    out = os.path.abspath(out)
    bin_dir = args.bin_dir or build(root)
    bins = {name: os.path.join(bin_dir, name) for name in ("spillway", "loadgen")}
    for path in bins.values():
        if not os.access(path, os.X_OK):
            print(f"bench/soak: {path} is missing (build it, or pass --bin-dir)", file=sys.stderr)
            return 2
    try:
        raw = run.Soak(args, plan, bins, out).run()
    except RuntimeError as e:
        print(f"bench/soak: {e}", file=sys.stderr)
        return 2
    raw.update({"command": command, "args": vars(args), "middle_at": plan.middle_at, "end_at": plan.end_at,
                "plan": {"duration_s": duration, "reloads": plan.reloads, "sighups": plan.sighups, "kills": plan.kills,
                         "stall_at": plan.stall_at, "stall_s": plan.stall_s, "scaled": plan.scaled}})
    with open(os.path.join(out, "raw.json"), "w") as f:
        json.dump(raw, f)
    return finish(out, raw, command)
