"""Tests of spillbench.stats: CSVs by column name, medians, ratios, paired ratios."""

import os
import tempfile
import unittest

from spillbench import columns, stats


class Medians(unittest.TestCase):
    def test_median(self):
        self.assertEqual(stats.median([3.0, 1.0, 2.0]), 2.0)
        self.assertEqual(stats.median([4.0, 1.0, 2.0, 3.0]), 2.5)
        self.assertEqual(stats.median([None, 5.0]), 5.0)
        self.assertIsNone(stats.median([]))
        self.assertIsNone(stats.median([None]))

    def test_median_of_skips_empty_cells(self):
        rows = [{"x": "1.5"}, {"x": ""}, {"x": "2.5"}, {}]
        self.assertEqual(stats.median_of(rows, "x"), 2.0)
        self.assertIsNone(stats.median_of([{"x": ""}], "x"))

    def test_total_counts_empty_as_zero_without_float_noise(self):
        rows = [{"a": "53.680", "b": "88.735", "c": ""}]
        self.assertEqual(stats.total(rows, "a", "b", "c"), 142.415)
        self.assertEqual("%.2f" % stats.total(rows, "a", "b"), "142.41")

    def test_ratio(self):
        self.assertEqual(stats.ratio(3.0, 2.0), 1.5)
        self.assertIsNone(stats.ratio(None, 2.0))
        self.assertIsNone(stats.ratio(1.0, None))
        self.assertIsNone(stats.ratio(1.0, 0.0))

    def test_fmt(self):
        self.assertEqual(stats.fmt(None, "%.3f"), "—")
        self.assertEqual(stats.fmt(None, "%.3f", "nan"), "nan")
        self.assertEqual(stats.fmt(1.23456, "%.3f"), "1.235")


class Selections(unittest.TestCase):
    ROWS = [
        {"round": "1", "target": "haproxy", "cpu": "20", "noise_pct": "3"},
        {"round": "1", "target": "spillway", "cpu": "10", "noise_pct": "30"},
        {"round": "2", "target": "haproxy", "cpu": "25", "noise_pct": "1"},
        {"round": "2", "target": "spillway", "cpu": "20", "noise_pct": "2"},
        {"round": "3", "target": "spillway", "cpu": "9", "noise_pct": "2"},  # no haproxy in round 3
        {"round": "4", "target": "haproxy", "cpu": "0", "noise_pct": "2"},
        {"round": "4", "target": "spillway", "cpu": "5", "noise_pct": "2"},  # haproxy 0: no ratio
    ]

    def test_quiet(self):
        self.assertEqual(len(stats.quiet(self.ROWS, 25)), 6)
        self.assertEqual(len(stats.quiet(self.ROWS, 100)), 7)

    def test_paired_ratio_takes_rounds_with_both(self):
        # rounds 1 and 2: 0.5 and 0.8
        self.assertAlmostEqual(stats.paired_ratio(self.ROWS, "cpu", "spillway", "haproxy"), 0.65)
        self.assertIsNone(stats.paired_ratio(self.ROWS, "cpu", "spillway", "nginx"))

    def test_of_target(self):
        self.assertEqual([r["round"] for r in stats.of_target(self.ROWS, "haproxy")], ["1", "2", "4"])


class CsvFiles(unittest.TestCase):
    def test_header_and_rows_by_name(self):
        with tempfile.TemporaryDirectory() as d:
            p = os.path.join(d, "l4.csv")
            stats.write_header(p, "l4")
            stats.append_row(p, "l4", {"mode": "l4", "round": 1, "target": "direct", "gib_per_s": "2.0000",
                                       "proxy_driver": "io_uring[a+b] io_uring[a+b]"})
            with open(p) as f:
                text = f.read()
            self.assertEqual(text.split("\n")[0], ",".join(columns.L4))
            self.assertNotIn("\r", text)
            (row,) = stats.read_rows(p)
            self.assertEqual(row["gib_per_s"], "2.0000")
            self.assertEqual(row["proxy_cpu_s"], "")
            self.assertEqual(row["proxy_driver"], "io_uring[a+b] io_uring[a+b]")
            with self.assertRaises(KeyError):
                stats.append_row(p, "l4", {"no_such_column": 1})

    def test_columns_other_tools_read(self):
        # all_summary.py and drivers_summary.py read these by name
        for col in ("rps", "proxy_us_per_req", "p50_us", "p99_us", "reuse_pct", "noise_pct", "rustc_max",
                    "proxy_user_us_per_req", "proxy_sys_us_per_req", "proxy_driver", "errors"):
            self.assertIn(col, columns.HTTP)
        for col in ("gib_per_s", "proxy_cpu_s_per_gib"):
            self.assertIn(col, columns.L4)
        for col in ("hs_per_s", "proxy_us_per_hs", "hs_per_cpu_s", "resumed"):
            self.assertIn(col, columns.HS)
        for col in ("conns", "kib_per_conn", "anon_kib_per_conn", "rss_before_kib", "rss_idle_kib"):
            self.assertIn(col, columns.IDLE)
        self.assertEqual(len(columns.L4), 22)
        self.assertEqual(len(columns.HTTP), 32)
        self.assertEqual(len(columns.HS), 36)
        self.assertEqual(len(columns.IDLE), 20)

    def test_latest(self):
        with tempfile.TemporaryDirectory() as d:
            for n in ("tls-20260101-000001.csv", "tls-20260101-000002.csv", "tls-20260101-000002-handshakes.csv"):
                open(os.path.join(d, n), "w").close()
            self.assertTrue(stats.latest(os.path.join(d, "tls-*.csv"), exclude="-handshakes.csv")
                            .endswith("tls-20260101-000002.csv"))
            self.assertIsNone(stats.latest(os.path.join(d, "l4-*.csv")))


if __name__ == "__main__":
    unittest.main()
