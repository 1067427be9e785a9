#!/usr/bin/env python3
"""loadgen against wrk: is the bundled load generator ever the bottleneck it measures?

    bench/generators.py [--rounds 5] [--seconds 8] [--conns 64] [--loadgen PATH]

The setup of the load generator issue: closed loop, 64 keep-alive connections, small GETs,
the generator on CPU 1, nginx (one worker, `return 200`, the fastest answer nginx has) on
CPU 0. wrk and loadgen run alternately in every round, so noise hits both alike; the table
gives medians of: requests per second, the generator's CPU per request (its own utime+stime,
from the kernel's rusage of the child), how busy the generator and nginx were (CPU-seconds per
second). A generator at ~100 % with nginx below it is the bottleneck; nginx at ~100 % means
the backend is, and neither tool can go faster. Only 127.0.0.1; nginx is started and stopped
here (its own temp dir, bounded by a timeout); nothing is checked, the figures are reported.
"""
import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import tempfile
import time

NGINX_CONF = """worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 100000000;
    keepalive_timeout 60s;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location / {{ return 200 "ok\\n"; }}
    }}
}}
"""


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port():
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def one_run(tool, url, secs, conns, loadgen, tmp, nginx_workers):
    n0 = sum(cpu_seconds(p) for p in nginx_workers)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    if tool == "wrk":
        out = subprocess.check_output(
            ["taskset", "-c", "1", "wrk", "-t1", f"-c{conns}", f"-d{secs}s", url], text=True, timeout=secs + 30
        )
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        errors = sum(int(x) for x in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    else:
        js = os.path.join(tmp, "loadgen.json")
        subprocess.check_call(
            [loadgen, url, "-t", "1", "--cpus", "1", "-c", str(conns), "-d", f"{secs}s", "--json", js, "-q"],
            stdout=subprocess.DEVNULL,
            timeout=secs + 30,
        )
        summary = json.load(open(js))
        rps = summary["rps"]
        errors = sum(summary["errors"].values())
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    n1 = sum(cpu_seconds(p) for p in nginx_workers)
    used = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return {
        "tool": tool,
        "rps": rps,
        "errors": errors,
        "tool_us_per_req": used / (rps * secs) * 1e6,
        "tool_busy": used / secs,
        "nginx_busy": (n1 - n0) / secs,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--conns", type=int, default=64)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap.add_argument("--loadgen", default=os.path.join(root, "target/release/loadgen"))
    a = ap.parse_args()
    for tool in ("nginx", "wrk", "taskset", a.loadgen):
        if not shutil.which(tool) and not os.access(tool, os.X_OK):
            raise SystemExit(f"needs {tool} (apt-get install nginx wrk; cargo build --release)")
    tmp = tempfile.mkdtemp(prefix="spillway-generators.")
    port = free_port()
    open(os.path.join(tmp, "nginx.conf"), "w").write(NGINX_CONF.format(d=tmp, port=port))
    budget = a.rounds * 2 * (a.seconds + 5) + 60
    nginx = subprocess.Popen(
        ["timeout", str(budget), "taskset", "-c", "0", "nginx", "-c", f"{tmp}/nginx.conf", "-p", tmp + "/"]
    )
    try:
        pid_file = os.path.join(tmp, "nginx.pid")
        for _ in range(100):
            if os.path.exists(pid_file) and open(pid_file).read().strip():
                break
            time.sleep(0.05)
        master = int(open(pid_file).read())
        time.sleep(0.3)
        workers = [int(p) for p in subprocess.check_output(["pgrep", "-P", str(master)]).split()]
        url = f"http://127.0.0.1:{port}/"
        runs = []
        for r in range(a.rounds):
            order = ("wrk", "loadgen") if r % 2 == 0 else ("loadgen", "wrk")
            for tool in order:
                run = one_run(tool, url, a.seconds, a.conns, a.loadgen, tmp, workers)
                run["round"] = r + 1
                runs.append(run)
                print(json.dumps(run), flush=True)
        med = {
            t: {k: statistics.median(x[k] for x in runs if x["tool"] == t) for k in runs[0] if k not in ("tool", "round")}
            for t in ("wrk", "loadgen")
        }
        paired = statistics.median(
            next(x["rps"] for x in runs if x["tool"] == "loadgen" and x["round"] == r)
            / next(x["rps"] for x in runs if x["tool"] == "wrk" and x["round"] == r)
            for r in range(1, a.rounds + 1)
        )
        print()
        print(f"closed loop, {a.conns} connections, {a.seconds} s x {a.rounds} rounds; generator on CPU 1, nginx on CPU 0")
        print()
        print("| generator | req/s (median) | generator CPU µs/req | generator busy | nginx busy | errors |")
        print("|---|---:|---:|---:|---:|---:|")
        for t in ("wrk", "loadgen"):
            m = med[t]
            print(f"| {t} | {m['rps']:.0f} | {m['tool_us_per_req']:.2f} | {m['tool_busy']:.2f} | {m['nginx_busy']:.2f} | {m['errors']:.0f} |")
        print()
        print(f"loadgen req/s ÷ wrk req/s, median of paired rounds: {paired:.3f}")
    finally:
        nginx.terminate()
        nginx.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
