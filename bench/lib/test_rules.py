"""Tests of mode rules' Python side: the configurations it runs (spillbench.rules) and its
summary (spillbench.report.Rules) on testdata/rules.csv.

Run: python3 -m unittest discover bench/lib
"""

import os
import re
import tomllib
import unittest

from spillbench import report, rules
from spillbench.stats import read_rows

HERE = os.path.dirname(os.path.abspath(__file__))
RULES_CSV = os.path.join(HERE, "testdata", "rules.csv")
FIVE = ["spillway", "spillway-rules", "haproxy-rules", "spillway-haproxy-cfg", "haproxy"]
FOUR = FIVE[:4]


def toml(n=20):
    return tomllib.loads(rules.toml_config(n, 8080, 9901, "127.0.0.1:81", "127.0.0.1:82"))


def haproxy_sections(text):
    """haproxy.cfg TEXT as {section header: [its lines, stripped]}."""
    out, cur = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line.startswith(" "):
            cur = line.strip()
            out[cur] = []
        else:
            out[cur].append(line.strip())
    return out


def haproxy_route(text, host, path):
    """The backend HAProxy picks for HOST and PATH under the frontend of TEXT, read the way
    HAProxy reads the subset the bench writes: `acl N hdr(host) -i H`, `acl N path_beg P`,
    `use_backend B if A1 A2` in order, then default_backend."""
    lines = haproxy_sections(text)["frontend rules"]
    acls = {}
    for l in lines:
        m = re.fullmatch(r"acl (\S+) hdr\(host\) -i (\S+)", l)
        if m:
            acls[m[1]] = host.lower() == m[2].lower()
        m = re.fullmatch(r"acl (\S+) path_beg (\S+)", l)
        if m:
            acls[m[1]] = path.startswith(m[2])
    for l in lines:
        m = re.fullmatch(r"use_backend (\S+) if (.+)", l)
        if m and all(acls[a] for a in m[2].split()):
            return m[1]
    return next(l.split()[1] for l in lines if l.startswith("default_backend "))


def toml_route(conf, host, path):
    """The group the TOML's rules pick for HOST and PATH (exact host, `/pI/*` paths only)."""
    lst = conf["listener"][0]
    for r in sorted(lst["rule"], key=lambda r: r["priority"]):
        c = r["conditions"]
        hosts = [h.lower() for h in c["host_header"]]
        if host.lower() in hosts and any(path.startswith(p.rstrip("*")) for p in c["path_pattern"]):
            return r["action"]["target_group"]
    return lst["target_group"]


class Request(unittest.TestCase):
    def test_matches_only_the_last_rule(self):
        self.assertEqual(rules.request(20), ("h20.example", "/p20/x"))
        self.assertEqual(rules.request(1), ("h1.example", "/p1/x"))


class TomlConfig(unittest.TestCase):
    def test_twenty_rules_each_host_and_path_to_its_group(self):
        conf = toml()
        self.assertEqual(conf["runtime"], {"threads": 1, "pin": False})
        self.assertEqual(conf["admin"], {"listen": "127.0.0.1:9901"})
        (lst,) = conf["listener"]
        self.assertEqual((lst["bind"], lst["protocol"], lst["target_group"]), ("127.0.0.1:8080", "http", "miss"))
        self.assertEqual([r["priority"] for r in lst["rule"]], list(range(1, 21)))
        self.assertEqual(lst["rule"][19], {"priority": 20,
                                           "conditions": {"host_header": ["h20.example"], "path_pattern": ["/p20/*"]},
                                           "action": {"type": "forward", "target_group": "g20"}})
        groups = {g["name"]: g["targets"] for g in conf["target_group"]}
        self.assertEqual(len(groups), 21)
        for i in range(1, 21):
            self.assertEqual(groups["g%d" % i], [{"addr": "127.0.0.1:81"}])
        self.assertEqual(groups["miss"], [{"addr": "127.0.0.1:82"}])

    def test_the_request_reaches_the_last_group_and_near_misses_the_default(self):
        conf = toml()
        self.assertEqual(toml_route(conf, *rules.request(20)), "g20")
        self.assertEqual(toml_route(conf, "H20.EXAMPLE", "/p20/x"), "g20")  # host_header ignores case
        self.assertEqual(toml_route(conf, "h21.example", "/p20/x"), "miss")
        self.assertEqual(toml_route(conf, "h20.example", "/p21/x"), "miss")
        self.assertEqual(toml_route(conf, "h20.example", "/p19/x"), "miss")

    def test_extra_lines(self):
        conf = tomllib.loads(rules.toml_config(2, 1, 2, "127.0.0.1:3", "127.0.0.1:4", 'driver = "epoll"',
                                               "max_connections_per_target = 100000"))
        self.assertEqual(conf["runtime"]["driver"], "epoll")
        self.assertTrue(all(g["max_connections_per_target"] == 100000 for g in conf["target_group"]))

    def test_the_number_of_rules_is_bounded(self):
        for n in (0, 101):
            with self.assertRaises(ValueError):
                rules.toml_config(n, 1, 2, "127.0.0.1:3", "127.0.0.1:4")
            with self.assertRaises(ValueError):
                rules.haproxy_config(n, 1, 2, "127.0.0.1:3", "127.0.0.1:4")
        self.assertEqual(len(toml(100)["listener"][0]["rule"]), 100)


class HaproxyConfig(unittest.TestCase):
    def setUp(self):
        self.text = rules.haproxy_config(20, 8080, 9901, "127.0.0.1:81", "127.0.0.1:82", proxy_cpu=0, maxconn=9900)
        self.sec = haproxy_sections(self.text)

    def test_sections(self):
        self.assertEqual(list(self.sec), ["global", "defaults", "frontend rules"] + ["backend b%d" % i for i in range(1, 21)]
                         + ["backend miss", "listen stats"])
        self.assertEqual(self.sec["global"], ["nbthread 1", "cpu-map 1/1 0", "maxconn 9900"])
        self.assertIn("http-reuse always", self.sec["defaults"])
        self.assertEqual(self.sec["listen stats"], ["bind 127.0.0.1:9901", "stats enable", "stats uri /stats"])
        for i in range(1, 21):
            self.assertEqual(self.sec["backend b%d" % i], ["server nginx 127.0.0.1:81"])
        self.assertEqual(self.sec["backend miss"], ["server miss 127.0.0.1:82"])

    def test_twenty_acl_pairs_and_use_backend_lines_in_order(self):
        fe = self.sec["frontend rules"]
        self.assertEqual(fe[0], "bind 127.0.0.1:8080")
        self.assertEqual(sum(l.startswith("acl ") for l in fe), 40)
        self.assertEqual([l for l in fe if l.startswith("use_backend ")],
                         ["use_backend b%d if host%d path%d" % (i, i, i) for i in range(1, 21)])
        self.assertIn("acl host20 hdr(host) -i h20.example", fe)
        self.assertIn("acl path20 path_beg /p20/", fe)
        self.assertEqual(fe[-1], "default_backend miss")

    def test_the_request_reaches_the_last_backend_and_near_misses_the_default(self):
        self.assertEqual(haproxy_route(self.text, *rules.request(20)), "b20")
        self.assertEqual(haproxy_route(self.text, "h21.example", "/p20/x"), "miss")
        self.assertEqual(haproxy_route(self.text, "h20.example", "/p21/x"), "miss")

    def test_same_rules_as_the_toml(self):
        conf = toml()
        for host, path in [rules.request(20), rules.request(7), ("h3.example", "/p4/x"), ("x", "/")]:
            t, h = toml_route(conf, host, path), haproxy_route(self.text, host, path)
            self.assertEqual(t.replace("g", "b"), h, (host, path))


def rules_ctx(targets=FIVE, **kw):
    return report.Context(mode="rules", load="wrk", targets=targets, runs=3, seconds=2, **kw)


def table_rows(lines, first_header):
    i = next(k for k, l in enumerate(lines) if l.startswith(first_header))
    out = []
    for l in lines[i + 2:]:
        if not l.startswith("|"):
            break
        out.append([c.strip() for c in l.strip("|").split("|")])
    return out


class RulesSummary(unittest.TestCase):
    # testdata/rules.csv, CPU µs/req by round: (a) 10, 11, 12; (b) 10.3, 11.4, 12.5;
    # (c) 20, 22, 21; (d) 10.9, 12.1, 13.0 (round 3 has 40 % foreign load); haproxy 19, 20, 20.5

    def setUp(self):
        self.lines, self.data = report.rules_report(rules_ctx(), RULES_CSV, 20, "h20.example", "/p20/x")

    def test_medians_per_target(self):
        rows = {r[0]: r for r in table_rows(self.lines, "| target | what | runs")}
        self.assertEqual(list(rows), ["(a) spillway", "(b) spillway-rules", "(c) haproxy-rules",
                                      "(d) spillway-haproxy-cfg", "haproxy"])
        b = rows["(b) spillway-rules"]
        self.assertEqual(b[2:7], ["3", "28500", "1.920", "4.300", "11.40"])
        self.assertEqual(b[8], "%.3f" % (11.4 / 11))  # ÷ (a)
        self.assertEqual(b[9], "%.3f" % (11.4 / 21))  # ÷ (c)
        self.assertEqual(b[10], "0 (0)")

    def test_ratios(self):
        rows = {r[0].split(" = ")[0]: r for r in table_rows(self.lines, "| ratio |")}
        self.assertEqual(list(rows), ["(b)/(a)", "(d)/(a)", "(b)/(c)", "(d)/(c)", "(c)/HAProxy without rules"])
        self.assertEqual(rows["(b)/(a)"][1], "%.3f" % (11.4 / 11))
        # per round 10.3/10, 11.4/11, 12.5/12 -> the median is round 2's
        self.assertEqual(rows["(b)/(a)"][2], "%.3f" % (11.4 / 11))
        self.assertEqual(rows["(d)/(c)"][1], "%.3f" % (12.1 / 21))
        self.assertEqual(rows["(c)/HAProxy without rules"][1], "%.3f" % (21 / 20))

    def test_goals_met_and_missed(self):
        self.assertIn("| 20 rules cost ≤ 5 % over none (TOML): proxy CPU/request (b)/(a) ≤ 1.05 | 1.036 | **met** |", self.lines)
        self.assertIn("| 20 rules cost ≤ 5 % over none (haproxy.cfg): proxy CPU/request (d)/(a) ≤ 1.05 | 1.100 | **missed** |",
                      self.lines)
        self.assertIn("| ≤ HAProxy's cost for the same rules (TOML): proxy CPU/request (b)/(c) ≤ 1.00 | 0.543 | **met** |", self.lines)

    def test_quiet_runs_leave_out_the_noisy_one(self):
        quiet = self.lines[self.lines.index("Quiet runs only (foreign load ≤ 25% on the CPUs the run uses):"):]
        rows = {r[0]: r for r in table_rows(quiet, "| target | what | runs")}
        self.assertEqual(rows["(d) spillway-haproxy-cfg"][2], "2")
        # (10.9 + 12.1) / 2 = 11.5, 11.5 / 11 = 1.045: met over the quiet runs
        self.assertIn("| 20 rules cost ≤ 5 % over none (haproxy.cfg): proxy CPU/request (d)/(a) ≤ 1.05 | 1.045 | **met** |", quiet)
        rows = {r[0].split(" = ")[0]: r for r in table_rows(quiet, "| ratio |")}
        # per round, quiet runs only: 10.9/10, 12.1/11 -> 1.095
        self.assertEqual(rows["(d)/(a)"][2], "%.3f" % ((10.9 / 10 + 12.1 / 11) / 2))

    def test_rule_cost_and_routing_lines(self):
        self.assertIn("- the rules' own cost (medians): spillway (b) − (a) 0.40 µs/req, HAProxy (c) − (no rules) 1.00 µs/req",
                      self.lines)
        self.assertTrue(any(l.startswith("Routing: every answer") for l in self.lines))

    def test_routing_failures_are_flagged(self):
        rows = read_rows(RULES_CSV)
        rows[1]["non2xx"] = "7"  # round 1 spillway-rules
        spec = report.Rules(20, "h20.example", "/p20/x")
        self.assertTrue(spec.routing_line(rules_ctx(), rows).startswith("**Routing: 7 answers"))

    def test_without_haproxy_no_rule_cost_line_and_four_ratios(self):
        lines, data = report.rules_report(rules_ctx(FOUR), RULES_CSV, 20, "h20.example", "/p20/x")
        self.assertFalse(any("the rules' own cost" in l for l in lines))
        self.assertEqual([r["name"] for r in data["all"]["ratios"]], ["(b)/(a)", "(d)/(a)", "(b)/(c)", "(d)/(c)"])

    def test_goals_need_their_targets(self):
        lines, data = report.rules_report(rules_ctx(["spillway", "spillway-rules"]), RULES_CSV, 20, "h", "/p")
        self.assertEqual([g["ratio"] for g in data["all"]["goals"]], ["(b)/(a)"])
        lines, data = report.rules_report(rules_ctx(["haproxy-rules"]), RULES_CSV, 20, "h", "/p")
        self.assertEqual(data["all"]["goals"], [])
        self.assertTrue(any(l.startswith("- goals: n/a") for l in lines))

    def test_json(self):
        d = self.data
        self.assertEqual((d["mode"], d["rules"], d["host"], d["path"], d["load"]), ("rules", 20, "h20.example", "/p20/x", "wrk"))
        self.assertEqual(d["all"]["targets"]["spillway"]["cpu_us_per_req"], 11.0)
        self.assertEqual(d["all"]["targets"]["spillway-haproxy-cfg"]["runs"], 3)
        self.assertEqual(d["quiet"]["targets"]["spillway-haproxy-cfg"]["runs"], 2)
        self.assertEqual(d["quiet"]["max_foreign_pct"], 25)
        goals = {g["ratio"]: g for g in d["all"]["goals"]}
        self.assertEqual((goals["(b)/(a)"]["limit"], goals["(b)/(a)"]["met"]), (1.05, True))
        self.assertFalse(goals["(d)/(a)"]["met"])
        self.assertTrue({g["ratio"]: g for g in d["quiet"]["goals"]}["(d)/(a)"]["met"])
        self.assertAlmostEqual({r["name"]: r for r in d["all"]["ratios"]}["(b)/(c)"]["cpu"], 11.4 / 21)

    def test_cli_writes_summary_and_json(self):
        import json
        import subprocess
        import sys
        import tempfile
        with tempfile.TemporaryDirectory() as d:
            head = os.path.join(d, "head.md")
            with open(head, "w") as f:
                f.write("# head\n\n")
            out, js = os.path.join(d, "out.md"), os.path.join(d, "out.json")
            subprocess.run([sys.executable, "-m", "spillbench", "report", "rules", "--csv", RULES_CSV, "--head", head,
                            "--out", out, "--json", js, "--mode", "rules", "--load", "wrk", "--targets", ",".join(FOUR),
                            "--runs", "3", "--seconds", "2"], check=True, cwd=HERE)
            with open(out) as f:
                md = f.read()
            self.assertTrue(md.startswith("# head\n\nAll runs:"))
            self.assertIn("GET /p20/x` with `Host: h20.example`", md)
            with open(js) as f:
                self.assertEqual(json.load(f)["targets"], FOUR)


if __name__ == "__main__":
    unittest.main()
