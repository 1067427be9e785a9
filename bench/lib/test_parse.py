"""Tests of spillbench.parse: the readers of /proc, of the clients' reports and of the servers' output."""

import unittest

from spillbench import parse


class Proc(unittest.TestCase):
    def test_stat_ticks_sums_processes_and_survives_odd_comm(self):
        a = "123 (nginx) S 1 123 123 0 -1 4194624 1 0 0 0 70 30 0 0 20 0 1 0 100 0 0"
        b = "124 (a) b (c)) S 1 123 123 0 -1 4194624 1 0 0 0 5 7 0 0 20 0 1 0 100 0 0"
        self.assertEqual(parse.stat_ticks(a + "\n" + b + "\n"), (75, 37))
        self.assertEqual(parse.stat_ticks(""), (0, 0))

    def test_cpu_busy(self):
        text = ("cpu  10 20 30 40 50 60 70 80 0 0\n"
                "cpu0 1 2 3 100 5 6 7 8 0 0\n"
                "cpu1 10 0 10 1000 0 0 0 0 0 0\n")
        # busy = user + nice + system + irq + softirq + steal; total adds idle and iowait
        self.assertEqual(parse.cpu_busy(text, 0), (27, 132))
        self.assertEqual(parse.cpu_busy(text, 1), (20, 1020))
        with self.assertRaises(ValueError):
            parse.cpu_busy(text, 2)

    def test_status_fields(self):
        text = "Name:\tspillway\nVmRSS:\t   9000 kB\nRssAnon:\t    5000 kB\n"
        self.assertEqual(parse.status_fields(text, "VmRSS", "RssAnon", "RssFile"), [9000, 5000, 0])


class Clients(unittest.TestCase):
    WRK = ("Running 2s test @ http://127.0.0.1:8080/small.txt\n  1 threads and 64 connections\n"
           "BENCH bytes=5000 duration_us=2000100 requests=50 err_connect=1 err_read=2 err_write=0 "
           "err_status=3 err_timeout=0 p50_us=1500 p90_us=1900 p99_us=2500 max_us=9000\n")

    def test_bench_line(self):
        b = parse.bench_line(self.WRK)
        self.assertEqual(b["requests"], 50)
        self.assertEqual(b["err_status"], 3)
        self.assertEqual(b["max_us"], 9000)
        self.assertIsNone(parse.bench_line("no such line\n"))
        self.assertEqual(parse.format_bench_line(b), self.WRK.splitlines()[-1])

    def test_loadgen_read_as_wrk(self):
        j = {"requests": 1005, "requests_in_window": 1000, "duration_s": 2.0000004,
             "latency_us": {"p50": 800, "p90": 900, "p99": 1200, "max": 5000},
             "status": {"200": 990, "503": 8, "404": 2}, "connections_opened": 1001,
             "errors": {"connect": 1, "read": 2, "write": 3, "timeout": 4, "protocol": 5}}
        b = parse.loadgen_as_bench(j, 100)
        self.assertEqual(b["requests"], 1000)
        self.assertEqual(b["bytes"], 100000)
        self.assertEqual(b["duration_us"], 2000000)
        self.assertEqual(b["err_status"], 10)
        self.assertEqual(b["err_read"], 7)
        self.assertEqual(b["conns"], 1001)
        self.assertEqual(b["p99_us"], 1200)

    def test_loadgen_handshakes(self):
        j = {"requests": 500, "duration_s": 2.5, "tls": {"handshakes": 500, "full": 498, "resumed": 2, "failed": 1},
             "status": {"200": 497, "503": 3}, "errors": {"connect": 1, "read": 1},
             "latency_us": {"p50": 7000, "p99": 20000, "max": 30000}}
        h = parse.loadgen_handshakes(j)
        self.assertEqual((h["full"], h["resumed"], h["failed"], h["errors"], h["non2xx"]), (498, 2, 1, 2, 3))
        self.assertEqual(h["duration_s"], 2.5)

    def test_times(self):
        self.assertEqual(parse.times_ticks("0m0.000s 0m0.000s\n0m1.234s 1m0.567s\n", 100), 6180)
        self.assertEqual(parse.times_ticks("", 100), 0)


class Samplers(unittest.TestCase):
    def test_thread_summary(self):
        text = ("2 spillway,spillway-shard-\n"
                "5 spillway,spillway-shard-,iou-wrk-12,iou-wrk-13,iou-sqp-1\n"
                "3 spillway,spillway-shard-,iou-wrk-14\n")
        self.assertEqual(parse.thread_summary(text), (5, "spillway*1+spillway-shard-*1+iou-wrk*2+iou-sqp*1", 2))
        self.assertEqual(parse.thread_summary(""), (0, "-", 0))

    def test_max_count(self):
        self.assertEqual(parse.max_count("0\n2\n1\n"), 2)
        self.assertEqual(parse.max_count(""), 0)


class Servers(unittest.TestCase):
    def test_stub_status(self):
        text = "Active connections: 2 \nserver accepts handled requests\n 17 17 4242 \nReading: 0 Writing: 1 Waiting: 1 \n"
        self.assertEqual(parse.stub_status(text), (17, 4242))
        with self.assertRaises(ValueError):
            parse.stub_status("")

    def test_show_info(self):
        text = "Name: HAProxy\r\nCumSslConns: 1234\r\nSslFrontendSessionReuse_pct: 0\r\n"
        self.assertEqual(parse.show_info(text, "CumSslConns", "SslFrontendSessionReuse_pct", "Nope"), ["1234", "0", "-"])

    def test_s_client(self):
        text = ("CONNECTED(00000003)\nServer Temp Key: X25519, 253 bits\n---\n"
                "New, TLSv1.3, Cipher is TLS_AES_256_GCM_SHA384\n")
        self.assertEqual(parse.s_client(text), "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519")
        self.assertEqual(parse.s_client("connect: Connection refused\n"), "? ? ?")

    def test_driver_report(self):
        log = ('\x1b[2m2026-12-03T09:56:12Z\x1b[0m \x1b[32m INFO\x1b[0m shard started shard=0 driver="io_uring" '
               'ring_flags=coop_taskrun,single_issuer\n'
               'INFO listening on 127.0.0.1:8080\n'
               'INFO shard started shard=1 driver="epoll" ring_flags=\n')
        self.assertEqual(parse.driver_report(log), "io_uring[coop_taskrun+single_issuer] epoll[]")
        self.assertEqual(parse.driver_report(""), "")
        ring = ('INFO shard started shard=0 driver="io_uring" ring_flags=coop_taskrun,single_issuer '
                'data_path=recv_multishot,pbuf_ring,send\n'
                'INFO shard started shard=1 driver="io_uring" ring_flags=coop_taskrun data_path=readiness\n')
        self.assertEqual(parse.driver_report(ring),
                         "io_uring[coop_taskrun+single_issuer]{recv_multishot+pbuf_ring+send} io_uring[coop_taskrun]")


if __name__ == "__main__":
    unittest.main()
