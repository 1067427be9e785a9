"""Tests of the summaries (spillbench.report) on the CSV fixtures in testdata/.

Run: python3 -m unittest discover bench/lib
"""

import os
import unittest

from spillbench import report
from spillbench.stats import read_rows

HERE = os.path.dirname(os.path.abspath(__file__))


def data(name):
    return os.path.join(HERE, "testdata", name)


def golden(name):
    with open(data(name)) as f:
        return f.read().rstrip("\n").split("\n")


def table_rows(lines, first_header):
    """The rows (lists of cells) of the table whose header starts with FIRST_HEADER, the first
    one after... the start of LINES."""
    i = next(k for k, l in enumerate(lines) if l.startswith(first_header))
    out = []
    for l in lines[i + 2:]:
        if not l.startswith("|"):
            break
        out.append([c.strip() for c in l.strip("|").split("|")])
    return out


def section(lines, start):
    """LINES from the first line equal to START on."""
    return lines[lines.index(start):]


ALL4 = ["direct", "haproxy", "nginx", "spillway"]


class GoldenSummaries(unittest.TestCase):
    """The Python summaries are the ones compare.sh's awk wrote for the same CSVs."""

    def check(self, spec, csv, md, **ctx):
        lines = report.summary(report.SPECS[spec], report.Context(**ctx), read_rows(data(csv)))
        self.assertEqual(lines, golden(md))

    def test_l4(self):
        self.check("l4", "l4.csv", "l4-loadgen.md", mode="l4", load="loadgen", targets=ALL4, runs=2, seconds=2)

    def test_l7(self):
        self.check("http", "l7.csv", "l7-loadgen.md", mode="l7", load="loadgen", targets=ALL4, runs=3, seconds=2)

    def test_churn_wrk(self):
        self.check("http", "l7.csv", "churn-wrk.md", mode="churn", load="wrk", targets=ALL4, runs=3, seconds=2)

    def test_tls_keepalive(self):
        self.check("http", "tls.csv", "tls-keepalive.md", mode="tls", load="loadgen",
                   targets=["haproxy", "nginx", "spillway"], runs=3, seconds=2)

    def test_tls_handshakes(self):
        self.check("hs", "tls-handshakes.csv", "tls-handshakes.md", mode="tls", load="loadgen",
                   targets=["haproxy", "nginx", "spillway"], runs=2, seconds=2)

    def test_idle(self):
        lines = report.idle_report(report.Context(mode="idle", targets=["haproxy", "spillway"]), data("idle.csv"),
                                   ["200", "1000"])
        self.assertEqual(lines, golden("idle.md"))


class HttpTables(unittest.TestCase):
    def setUp(self):
        self.ctx = report.Context(mode="l7", load="loadgen", targets=ALL4, runs=3, seconds=2)
        self.lines = report.summary(report.SPECS["http"], self.ctx, read_rows(data("l7.csv")))

    def test_medians_and_ratios_all_runs(self):
        rows = {r[0]: r for r in table_rows(self.lines, "| target | runs | req/s")}
        # haproxy req/s 10000, 12000, 11000 -> 11000; spillway 15000, 14000, 16000 -> 15000
        self.assertEqual(rows["haproxy"][:3], ["haproxy", "3", "11000"])
        self.assertEqual(rows["spillway"][2], "15000")
        self.assertEqual(rows["spillway"][6], "%.3f" % (15000 / 11000))  # req/s ÷ HAProxy
        # CPU µs/req: haproxy 30, 24, 27 -> 27; spillway 15, 16, 13.5 -> 15
        self.assertEqual(rows["spillway"][5], "15.00")
        self.assertEqual(rows["spillway"][7], "%.3f" % (15 / 27))
        # direct has no proxy: no CPU, no reuse; its own connections
        self.assertEqual(rows["direct"][5], "—")
        self.assertEqual(rows["direct"][9], "—")
        # proxy + nginx + client µs/req: 15 + 20 + 12.5
        self.assertEqual(rows["spillway"][10], "47.50")

    def test_quiet_runs_leave_out_the_noisy_ones(self):
        quiet = section(self.lines, "Quiet runs only (foreign load ≤ 25% on the CPUs the run uses):")
        rows = {r[0]: r for r in table_rows(quiet, "| target | runs | req/s")}
        # haproxy's round 2 (40 %) and spillway's round 3 (30 %) are noisy
        self.assertEqual(rows["haproxy"][1:3], ["2", "10500"])
        self.assertEqual(rows["spillway"][1:3], ["2", "14500"])
        self.assertEqual(rows["direct"][1], "3")

    def test_paired_ratios(self):
        # per round spillway ÷ haproxy CPU/request: 0.5, 0.667, 0.5 -> 0.5; req/s 1.5, 1.167, 1.455 -> 1.455
        self.assertIn("- medians of the per-round (paired) ratios spillway ÷ haproxy: CPU/request 0.500, req/s 1.455",
                      self.lines)

    def test_goals(self):
        self.assertIn("| spillway CPU/request ≤ 0.60 × HAProxy's | 0.556 | **met** |", self.lines)
        self.assertIn("| spillway p99 no worse than HAProxy's | 6.000 ms vs 8.500 ms (0.706×) | **met** |", self.lines)

    def test_goals_need_both(self):
        ctx = report.Context(mode="l7", load="loadgen", targets=["direct", "spillway"], runs=3, seconds=2)
        lines = report.summary(report.SPECS["http"], ctx, read_rows(data("l7.csv")))
        self.assertNotIn("| goal | result | |", lines)
        self.assertFalse(any(l.startswith("- medians of the per-round") for l in lines))
        rows = {r[0]: r for r in table_rows(lines, "| target | runs | req/s")}
        self.assertEqual(rows["spillway"][6], "—")  # no HAProxy to divide by

    def test_raw_rows(self):
        raw = table_rows(section(self.lines, "Raw runs:"), "| round | target | req/s")
        self.assertEqual(len(raw), 12)
        direct = raw[0]
        self.assertEqual(direct[:7], ["1", "direct", "30000.0", "0.500", "1.500", "3.0", "0 (0)"])
        self.assertEqual(direct[11], "(loadgen) 64")  # new backend conns: the client's own
        self.assertEqual(direct[15], "—")  # no proxy threads
        spw = raw[3]
        self.assertEqual(spw[15], "2 (spillway*1+spillway-shard-*1)")
        self.assertEqual(spw[-1], "io_uring[coop_taskrun+single_issuer]")


class L4Tables(unittest.TestCase):
    def test_ratios_and_goals(self):
        ctx = report.Context(mode="l4", load="wrk", targets=ALL4, runs=2, seconds=2)
        lines = report.summary(report.SPECS["l4"], ctx, read_rows(data("l4.csv")))
        rows = {r[0]: r for r in table_rows(lines, "| target | runs | GiB/s")}
        # GiB/s: direct 2.0, 2.1 -> 2.05; spillway 1.9, 1.95 -> 1.925
        self.assertEqual(rows["spillway"][2], "1.925")
        self.assertEqual(rows["spillway"][4], "%.3f" % (1.925 / 2.05))
        # CPU s/GiB: haproxy 0.50, 0.55 -> 0.525; spillway 0.25, 0.30 -> 0.275
        self.assertEqual(rows["spillway"][5], "%.3f" % (0.275 / 0.525))
        self.assertEqual(rows["direct"][3], "—")
        self.assertIn("- spillway/HAProxy CPU per GiB: 0.524 (goal ≤ 0.60: met)", lines)
        self.assertIn("- spillway/direct GiB/s: 0.939 (goal ≥ 0.97: missed)", lines)
        self.assertIn("Client: wrk -t1 -c4; GiB/s = wrk's byte count ÷ its duration.", lines)
        # the quiet table leaves out nginx's round 2 (50 %)
        quiet = table_rows(section(lines, "Quiet runs only (foreign load ≤ 25% on the CPUs the run uses):"), "| target")
        self.assertEqual([r[1] for r in quiet], ["2", "2", "1", "2"])


class HandshakeTables(unittest.TestCase):
    def test_goal_and_counts(self):
        ctx = report.Context(mode="tls", targets=["haproxy", "nginx", "spillway"], runs=2, seconds=2)
        lines = report.summary(report.SPECS["hs"], ctx, read_rows(data("tls-handshakes.csv")))
        rows = {r[0]: r for r in table_rows(lines, "| target | runs | handshakes/s")}
        # handshakes per CPU-second: haproxy 2500, 2632 -> 2566; spillway 3333, 3226 -> 3279.5
        self.assertEqual(rows["haproxy"][4], "2566")
        self.assertEqual(rows["nginx"][10], "7000 / 0 / 2")  # full / resumed / failed+errors
        self.assertIn("| spillway handshakes per CPU-second ≥ HAProxy's | 3280 vs 2566 (1.278×) | **met** |", lines)


class TlsReport(unittest.TestCase):
    NEG = [{"target": "haproxy", "keepalive": "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519",
            "handshakes": "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519"},
           {"target": "spillway", "keepalive": "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519",
            "handshakes": "TLSv1.3 TLS_AES_256_GCM_SHA384 X25519"}]

    def ctx(self):
        return report.Context(mode="tls", load="loadgen", targets=["haproxy", "spillway"], runs=3, seconds=2)

    def test_sections(self):
        lines = report.tls_report(self.ctx(), data("tls.csv"), data("tls-handshakes.csv"), self.NEG,
                                  "keepalive,handshakes", "A:B; X25519")
        self.assertEqual(lines[0], "Negotiated (openssl s_client before the runs; protocol, cipher, key exchange):")
        self.assertEqual(lines[2], "| target | keep-alive runs (loadgen, the same offer as the handshake runs) "
                                   "| handshake runs (loadgen's rustls offer: A:B; X25519) |")
        self.assertNotIn("**WARNING: the proxies did not all negotiate the same.**", lines)
        self.assertIn("## Keep-alive requests over TLS (loadgen -t1 -c64 https://…)", lines)
        self.assertIn("## New full TLS handshakes (loadgen --new-conn --no-resume -c 32 -t 1)", lines)
        self.assertFalse(any(l.startswith("Measured:") for l in lines))

    def test_one_part_and_a_difference(self):
        neg = [dict(self.NEG[0]), dict(self.NEG[1], keepalive="TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 X25519")]
        lines = report.tls_report(self.ctx(), data("tls.csv"), data("tls-handshakes.csv"), neg, "handshakes", "A; B")
        self.assertIn("**WARNING: the proxies did not all negotiate the same.**", lines)
        self.assertIn("Measured: handshakes only (TLS_PARTS).", lines)
        self.assertNotIn("## Keep-alive requests over TLS (loadgen -t1 -c64 https://…)", lines)


class IdleReport(unittest.TestCase):
    def test_medians(self):
        lines = report.idle_report(report.Context(targets=["direct", "haproxy", "spillway"]), data("idle.csv"),
                                   ["200", "1000", "5000"])
        rows = table_rows(lines, "| target | connections")
        # direct has no proxy; haproxy 2.5 and 3.0 KiB/conn -> 2.75; 5000 was not run: nan
        self.assertEqual(rows[0], ["haproxy", "200", "2.750", "2.475"])
        self.assertEqual(rows[2], ["haproxy", "5000", "nan", "nan"])
        self.assertEqual([r[0] for r in rows], ["haproxy"] * 3 + ["spillway"] * 3)


if __name__ == "__main__":
    unittest.main()
