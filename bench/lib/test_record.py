"""Tests of spillbench.record: a run directory of raw readings -> one CSV row and the log lines."""

import contextlib
import io
import json
import os
import tempfile
import unittest

from spillbench import record
from spillbench.report import Context
from spillbench.stats import read_rows, write_header


def stat_line(pid, comm, utime, stime):
    return "%d (%s) S 1 %d %d 0 -1 4194624 1 0 0 0 %d %d 0 0 20 0 1 0 100 0 0\n" % (pid, comm, pid, pid, utime, stime)


def proc_stat(cpu0, cpu1):
    """/proc/stat with CPU0 and CPU1 as (busy, idle) ticks (busy all in user)."""
    return "cpu  0 0 0 0 0 0 0 0 0 0\ncpu0 %d 0 0 %d 0 0 0 0 0 0\ncpu1 %d 0 0 %d 0 0 0 0 0 0\n" % (
        cpu0[0], cpu0[1], cpu1[0], cpu1[1])


STATUS = "Active connections: 1 \nserver accepts handled requests\n %d %d %d \nReading: 0 Writing: 1 Waiting: 0 \n"


class RunDir:
    """A run directory as compare.sh's measure leaves it."""

    def __init__(self, d):
        self.d = d

    def put(self, name, text):
        with open(os.path.join(self.d, name), "w") as f:
            f.write(text)

    def common(self, proxy=True):
        # proxy: 100 + 50 ticks over the run; nginx (master + worker): 80; CPU0 200 of 400
        # ticks busy, CPU1 300 of 400
        if proxy:
            self.put("before.proxy", stat_line(10, "haproxy", 1000, 500))
            self.put("after.proxy", stat_line(10, "haproxy", 1100, 550))
        else:
            self.put("before.proxy", "")
            self.put("after.proxy", "")
        self.put("before.nginx", stat_line(20, "nginx", 5, 5) + stat_line(21, "nginx", 100, 100))
        self.put("after.nginx", stat_line(20, "nginx", 5, 5) + stat_line(21, "nginx", 140, 140))
        self.put("before.cpu", proc_stat((1000, 1000), (2000, 2000)))
        self.put("after.cpu", proc_stat((1200, 1200), (2300, 2100)))
        # the client: 1.00 s user + 0.20 s system = 120 ticks
        self.put("client.out.times", "0m0.000s 0m0.000s\n0m1.000s 0m0.200s\n")
        self.put("threads.txt", "1 haproxy\n1 haproxy\n")
        self.put("rustc.txt", "0\n0\n")


def ctx_for(d, kind, target="haproxy", **kw):
    c = Context(**kw)
    c.dir = d
    c.csv = os.path.join(d, "out.csv")
    c.target = target
    c.round = "1"
    c.proxy_pid = "" if target == "direct" else str(os.getpid())
    c.driver = ""
    c.clk_tck = 100
    write_header(c.csv, kind)
    return c


def run(fn, ctx):
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        row = fn(ctx)
    return row, err.getvalue().splitlines(), read_rows(ctx.csv)


class HttpRun(unittest.TestCase):
    def test_figures(self):
        with tempfile.TemporaryDirectory() as d:
            r = RunDir(d)
            r.common()
            r.put("client.out", "BENCH bytes=1000000 duration_us=2000000 requests=10000 err_connect=0 err_read=0 "
                                "err_write=0 err_status=0 err_timeout=0 p50_us=1000 p90_us=1500 p99_us=3000 max_us=9000\n")
            r.put("status-before.txt", STATUS % (10, 10, 500))
            r.put("status-after.txt", STATUS % (12, 12, 10502))
            r.put("backend-estab.txt", "ESTAB 0 0 127.0.0.1:1 127.0.0.1:2\n" * 3)
            ctx = ctx_for(d, "http", mode="l7", load="wrk")
            row, log, rows = run(record.record_http, ctx)
        self.assertEqual(len(rows), 1)
        csv_row = rows[0]
        self.assertEqual(csv_row["rps"], "5000.0")
        self.assertEqual(csv_row["duration_s"], "2.000000")
        # proxy 150 ticks = 1.5 s over 10000 requests = 150 µs/req; user 100, kernel 50 ticks
        self.assertEqual(csv_row["proxy_cpu_s"], "1.50")
        self.assertEqual(csv_row["proxy_us_per_req"], "150.000")
        self.assertEqual(csv_row["proxy_user_us_per_req"], "100.000")
        self.assertEqual(csv_row["proxy_sys_us_per_req"], "50.000")
        # nginx 80 ticks, the client 120 ticks
        self.assertEqual(csv_row["nginx_us_per_req"], "80.000")
        self.assertEqual(csv_row["wrk_us_per_req"], "120.000")
        # stub_status: 12 - 10 - 1 new connections, 10502 - 500 - 1 requests
        self.assertEqual(csv_row["backend_new_conns"], "1")
        self.assertEqual(csv_row["backend_requests"], "10001")
        self.assertEqual(csv_row["reuse_pct"], "99.9900")
        self.assertEqual(csv_row["backend_estab_after"], "3")
        # CPU0: 200 busy of 400, 150 of it the proxy's: 12.5 -> 12 % foreign (rounded to even);
        # CPU1: 300 busy of 400, 80 + 120 ours: 25 % foreign, 75 % busy
        self.assertEqual(csv_row["cpu0_foreign_pct"], "12")
        self.assertEqual(csv_row["cpu1_busy_pct"], "75")
        self.assertEqual(csv_row["cpu1_foreign_pct"], "25")
        self.assertEqual(csv_row["noise_pct"], "25")
        self.assertEqual(csv_row["proxy_threads_max"], "1")
        self.assertEqual(csv_row["proxy_thread_names"], "haproxy*1")
        self.assertEqual(csv_row["rustc_max"], "0")
        self.assertNotEqual(csv_row["proxy_fds_after"], "")
        self.assertRegex(log[0], r"^\[bench \d\d:\d\d:\d\d\] round 1 haproxy  5000\.0 req/s p50 1000µs p99 3000µs "
                                 r"\| 10000 req, 0 errors \(0 non-2xx/3xx\) \| nginx 80\.000 µs/req, wrk 120\.000 µs/req "
                                 r"\| proxy CPU 1\.50s = 150\.000 µs/req \(user 100\.000 \+ kernel 50\.000\)")
        self.assertEqual(len(log), 1)

    def test_direct_with_loadgen_and_warnings(self):
        with tempfile.TemporaryDirectory() as d:
            r = RunDir(d)
            r.common(proxy=False)
            r.put("client.out", "")
            with open(os.path.join(d, "client.out.json"), "w") as f:
                json.dump({"requests": 2000, "requests_in_window": 2000, "duration_s": 2.0,
                           "latency_us": {"p50": 500, "p90": 600, "p99": 900, "max": 2000},
                           "status": {"200": 1990, "502": 10}, "errors": {}, "connections_opened": 64}, f)
            r.put("status-before.txt", STATUS % (10, 10, 500))
            r.put("status-after.txt", STATUS % (75, 75, 2501))
            r.put("rustc.txt", "0\n2\n1\n")
            ctx = ctx_for(d, "http", target="direct", mode="churn", load="loadgen")
            row, log, rows = run(record.record_http, ctx)
        csv_row = rows[0]
        self.assertEqual(csv_row["proxy_cpu_s"], "")
        self.assertEqual(csv_row["proxy_us_per_req"], "")
        self.assertEqual(csv_row["reuse_pct"], "")
        self.assertEqual(csv_row["proxy_threads_max"], "")
        self.assertEqual(csv_row["errors"], "10")
        self.assertEqual(csv_row["non2xx"], "10")
        self.assertEqual(csv_row["backend_new_conns"], "64")
        # direct does not use CPU0: the noise is CPU1's
        self.assertEqual(csv_row["noise_pct"], "25")
        self.assertEqual(csv_row["rustc_max"], "2")
        self.assertIn("WARNING: direct round 1: 10 loadgen errors: BENCH bytes=200000", log[1])
        self.assertTrue(log[2].endswith("WARNING: direct round 1: loadgen opened 64 connections for 2000 requests"))
        self.assertTrue(log[3].endswith("WARNING: direct round 1: up to 2 rustc processes ran during the run (noise)"))


class L4Run(unittest.TestCase):
    def test_figures(self):
        with tempfile.TemporaryDirectory() as d:
            r = RunDir(d)
            r.common()
            r.put("client.out", "BENCH bytes=2147483648 duration_us=2000000 requests=128 err_connect=0 err_read=0 "
                                "err_write=0 err_status=0 err_timeout=0 p50_us=60000 p90_us=1 p99_us=90000 max_us=1\n")
            ctx = ctx_for(d, "l4", mode="l4", load="wrk")
            row, log, rows = run(record.record_l4, ctx)
        csv_row = rows[0]
        # 2 GiB in 2 s; proxy 1.5 s, nginx 0.8 s, the client 1.2 s per 2 GiB
        self.assertEqual(csv_row["gib_per_s"], "1.0000")
        self.assertEqual(csv_row["proxy_cpu_s"], "1.50")
        self.assertEqual(csv_row["proxy_cpu_s_per_gib"], "0.7500")
        self.assertEqual(csv_row["nginx_cpu_s_per_gib"], "0.4000")
        self.assertEqual(csv_row["wrk_cpu_s_per_gib"], "0.6000")
        self.assertEqual(csv_row["p99_us"], "90000")
        self.assertIn("round 1 haproxy  1.0000 GiB/s | 128 req | nginx 0.4000 s/GiB, wrk 0.6000 s/GiB "
                      "| proxy CPU 1.50s = 0.7500 s/GiB | threads 1 (haproxy*1) | foreign load: CPU0 12% CPU1 25% "
                      "(CPU1 busy 75%)", log[0])


class HandshakeRun(unittest.TestCase):
    def test_figures(self):
        with tempfile.TemporaryDirectory() as d:
            r = RunDir(d)
            r.common()
            r.put("client.out", "")
            with open(os.path.join(d, "client.out.json"), "w") as f:
                json.dump({"requests": 1000, "duration_s": 2.0, "tls": {"handshakes": 1000, "full": 1000, "resumed": 0,
                                                                      "failed": 0},
                           "status": {"200": 1000}, "errors": {}, "latency_us": {"p50": 7000, "p99": 20000, "max": 30000}}, f)
            r.put("status-before.txt", STATUS % (10, 10, 500))
            r.put("status-after.txt", STATUS % (12, 12, 1501))
            r.put("haproxy-before.txt", "CumSslConns: 100\nSslFrontendSessionReuse_pct: 0\n")
            r.put("haproxy-after.txt", "CumSslConns: 1101\nSslFrontendSessionReuse_pct: 0\n")
            ctx = ctx_for(d, "hs", mode="tls")
            row, log, rows = run(record.record_hs, ctx)
        csv_row = rows[0]
        self.assertEqual(csv_row["hs_per_s"], "500.0")
        # 1.5 s of proxy CPU for 1000 handshakes
        self.assertEqual(csv_row["proxy_us_per_hs"], "1500.0")
        self.assertEqual(csv_row["hs_per_cpu_s"], "667")
        self.assertEqual(csv_row["proxy_busy_pct"], "75.0")
        self.assertEqual(csv_row["client_us_per_hs"], "1200.0")
        self.assertEqual(csv_row["server_tls_conns"], "1001")
        self.assertEqual(csv_row["server_reuse_pct"], "0")
        self.assertEqual(csv_row["duration_s"], "2.0")
        self.assertEqual(len(log), 1)


class IdleRun(unittest.TestCase):
    def test_figures(self):
        with tempfile.TemporaryDirectory() as d:
            r = RunDir(d)
            r.put("mem-before.txt", "8000 3000 3100 40\n")
            r.put("mem-idle.txt", "8500 3400 3500 41\n")
            r.put("mem-after.txt", "8100 3050 3150 40\n")
            r.put("client-estab.txt", "x\n" * 200)
            r.put("backend-estab.txt", "x\n")
            r.put("ready", "ready 200 conns\n")
            r.put("client.out", "opening\ndone 200 closed_by_proxy 0\n")
            r.put("client.rc", "0\n")
            ctx = ctx_for(d, "idle", target="spillway", mode="idle")
            ctx.conns = 200
            row, log, rows = run(record.record_idle, ctx)
        csv_row = rows[0]
        self.assertEqual(csv_row["kib_per_conn"], "2.500")
        self.assertEqual(csv_row["anon_kib_per_conn"], "2.000")
        self.assertEqual(csv_row["client_ready"], "ready;200;conns")
        self.assertEqual(csv_row["client_done"], "done;200;closed_by_proxy;0")
        self.assertEqual(csv_row["client_conns_established"], "200")
        self.assertIn("idle round 1 spillway 200 conns: VmRSS 8000 -> 8500 KiB (after close 8100) = 2.500 KiB/conn "
                      "(RssAnon 2.000 KiB/conn) | maps 40 -> 41 | 200 client conns established, 1 backend "
                      "| ready 200 conns | done 200 closed_by_proxy 0", log[0])


if __name__ == "__main__":
    unittest.main()
