"""Tests of the soak's pure parts: the schedule, the attribution of gateway errors, the
HdrHistogram reader, the account's classification and the goals."""

import asyncio
import base64
import struct
import unittest
import zlib

from soak import account, clients, hdr, plan, windows
from soak.windows import Interval


class Schedule(unittest.TestCase):
    def test_ten_minutes_is_the_issue_schedule(self):
        p = plan.make(600)
        self.assertEqual((p.reloads, p.sighups, p.kills), (20, 10, 20))
        self.assertFalse(p.scaled)
        modes = [e.arg for e in p.of("reload")]
        self.assertEqual(modes.count("with"), 10)
        self.assertEqual(len(p.of("stall")), 1)
        self.assertEqual(p.stall_s, 10.0)

    def test_short_runs_scale_down_and_say_so(self):
        p = plan.make(60)
        self.assertTrue(p.scaled)
        self.assertEqual(p.reloads, 2)
        self.assertEqual([e.arg for e in p.of("reload")], ["with", "without"])
        self.assertLess(p.middle_at, p.of("reload")[1].at)
        self.assertGreater(p.middle_at - p.of("reload")[0].at, 13)  # past request_timeout
        self.assertGreaterEqual(p.sighups, 2)
        self.assertGreaterEqual(p.kills, 2)
        with self.assertRaises(ValueError):
            plan.make(10)

    def test_the_stall_never_meets_a_kill(self):
        for d in (60, 90, 180, 600, 1200):
            p = plan.make(d)
            stall = Interval(p.stall_at, p.stall_at + p.stall_s + plan.STALL_SLACK_S)
            for k in p.of("kill"):
                down = Interval(k.at, k.at + plan.KILL_DOWN_S + plan.KILL_RECOVERY_S)
                self.assertFalse(stall.overlaps(down.start, down.end), (d, k.at, p.stall_at))
            for r in p.of("reload"):
                self.assertFalse(stall.overlaps(r.at - 1, r.at + plan.HANDOVER_S), (d, r.at, p.stall_at))
                for k in p.of("kill"):
                    meets = k.at - plan.HANDOVER_S < r.at <= k.at + plan.KILL_DOWN_S + 1.0
                    self.assertFalse(meets, (d, r.at, k.at))

    def test_events_are_in_time_order_and_leave_a_quiet_start_and_tail(self):
        p = plan.make(120)
        times = [e.at for e in p.events]
        self.assertEqual(times, sorted(times))
        self.assertGreaterEqual(times[0], plan.QUIET_START)
        last = max(e.at for e in p.events if e.kind in ("reload", "sighup"))
        self.assertLessEqual(last, 120 - plan.TAIL_S)
        self.assertLess(p.end_at, 120)

    def test_a_handover_uses_the_socket_only_when_both_processes_have_it(self):
        for reloads in (2, 4, 6, 20):
            modes = [plan.reload_mode(i, reloads) for i in range(reloads)]
            self.assertEqual(modes.count("with"), reloads // 2, (reloads, modes))
            for i in range(reloads):
                both = plan.upgrade_socket_of(i, reloads) and plan.upgrade_socket_of(i + 1, reloads)
                self.assertEqual(modes[i] == "with", both)


class Attribution(unittest.TestCase):
    down = {"a": [Interval(10.0, 12.0)]}

    def test_rises_inside_the_targets_own_down_time_are_explained(self):
        polls = [(9.0, 0.0, {"a": 0, "b": 0}), (11.0, 0.0, {"a": 5, "b": 0}), (14.0, 0.0, {"a": 7, "b": 0})]
        self.assertEqual(windows.attribute(polls, self.down, 0.5)[:2], (7, 0))

    def test_a_live_targets_rise_is_not_explained_by_another_targets_death(self):
        polls = [(9.0, 0.0, {"a": 0, "b": 0}), (11.0, 0.0, {"a": 0, "b": 3})]
        explained, outside, samples = windows.attribute(polls, self.down, 0.5)
        self.assertEqual((explained, outside), (0, 3))
        self.assertEqual(samples, [(11.0, "b", 3)])

    def test_a_new_process_counts_from_its_own_start(self):
        polls = [(5.0, 0.0, {"a": 4}), (20.0, 19.0, {"a": 1}), (21.0, 19.0, {"a": 1})]
        explained, outside, _ = windows.attribute(polls, self.down, 0.5)
        self.assertEqual((explained, outside), (0, 5))

    def test_seconds_inside(self):
        self.assertTrue(windows.seconds_inside([Interval(3.5, 4.2)], 4))
        self.assertFalse(windows.seconds_inside([Interval(3.5, 4.0)], 4))


def _encode(counts, lowest=1, digits=3):
    """A V2 compressed histogram with `counts` ({index: count}), as HdrHistogram writes it."""
    def varint(v):
        z = (v << 1) ^ (v >> 63)
        out = bytearray()
        while True:
            b = z & 0x7F
            z >>= 7
            if z:
                out.append(b | 0x80)
            else:
                out.append(b)
                return bytes(out)
    payload, index = bytearray(), 0
    for i in sorted(counts):
        if i > index:
            payload += varint(-(i - index))
        payload += varint(counts[i])
        index = i + 1
    body = struct.pack(">iiiiqqd", 0x1C849313, len(payload), 0, digits, lowest, 3600000000, 1.0) + bytes(payload)
    packed = zlib.compress(body)
    return base64.b64encode(struct.pack(">ii", 0x1C849314, len(packed)) + packed).decode()


class Failures(unittest.TestCase):
    def test_each_kind_of_client_failure_is_named(self):
        failure = clients.failure
        self.assertEqual(failure(asyncio.IncompleteReadError(b"HTTP/1.1 503 Service Unavailable\r\n", 100)), 503)
        self.assertEqual(failure(asyncio.IncompleteReadError(b"", 100)), "closed")
        self.assertEqual(failure(asyncio.TimeoutError()), "timeout")
        self.assertEqual(failure(ConnectionResetError()), "reset")
        self.assertEqual(failure(BrokenPipeError()), "reset")
        self.assertEqual(failure(OSError("no route")), "error: no route")


class Hdr(unittest.TestCase):
    def test_decode_reads_back_what_was_encoded(self):
        layout, counts = hdr.decode(_encode({3: 2, 100: 5, 5000: 1}))
        self.assertEqual(counts, {3: 2, 100: 5, 5000: 1})
        self.assertEqual(layout.highest_equivalent(3), 3)  # below the first bucket: exact

    def test_values_above_the_first_bucket_keep_three_digits(self):
        layout = hdr.Layout(1, 3)
        # 2048 sub-buckets: index 2048 + k (k < 1024) stands for 2048 + 2k .. 2048 + 2k + 1.
        self.assertEqual(layout.highest_equivalent(2048 + 10), 2048 + 21)

    def test_percentile_of_merged_intervals(self):
        layout = hdr.Layout(1, 3)
        a = (0.0, layout, {10: 98})
        b = (1.0, layout, {1000: 2})
        merged = hdr.merge([a, b])
        self.assertEqual(hdr.percentile(merged, 50), 10)
        self.assertEqual(hdr.percentile(merged, 99), 1000)
        self.assertIsNone(hdr.percentile(hdr.merge([]), 99))

    def test_read_log_keeps_untagged_intervals(self):
        import os
        import tempfile

        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "l.hdr")
            with open(path, "w") as f:
                f.write("#[StartTime: 1]\n\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\"\n")
                f.write(f"0.000,1.000,0.010,{_encode({10: 1})}\n")
                f.write(f"Tag=service,0.000,1.000,0.010,{_encode({5: 1})}\n")
            got = hdr.read_log(path)
            self.assertEqual(len(got), 1)
            self.assertEqual(got[0][2], {10: 1})
            self.assertEqual(hdr.read_log(path, "service")[0][2], {5: 1})


def _raw(**over):
    raw = {
        "reloads": [{"i": 0, "mode": "with", "start": 10.0, "ready": 10.5, "ok": True, "old_exit": 12.0, "old_status": 0}],
        "sighups": [{"targets_applied": True, "rule_applied": True}],
        "down": {"a": [[20.0, 21.0, "killed"]]},
        "counts": [(19.0, 10.5, {"a": 0}), (22.0, 10.5, {"a": 3})],
        "samples": [[t, 1, 100, 5000, 1] for t in range(0, 60)],
        "clients": {"slowloris": [], "malformed": [], "closers": [], "tunnel": [], "upload": []},
        "polls": [(t, True, 4, []) for t in range(60)], "poll_failures": [], "deaths": [],
        "middle_at": 30.0, "end_at": 55.0,
    }
    raw.update(over)
    return raw


def _load(status=None, errors=None):
    return {"sent": 103, "status": status or {"200": 100, "502": 3}, "errors": errors or {}, "rps": 1.0, "offered_rps": 1.0}


def _goal(result, name):
    return next(g for g in result["goals"] if g["goal"].startswith(name))


class Account(unittest.TestCase):
    timeline = [{"second": str(s), "errors": "0"} for s in range(60)]

    def test_a_clean_run_meets_every_goal(self):
        result = account.account(_raw(), _load(), self.timeline)
        self.assertEqual(result["failures"]["gateway_explained"], 3)
        self.assertTrue(all(g["met"] for g in result["goals"]), result["goals"])

    def test_gateway_errors_beyond_the_dead_targets_count_are_unexplained(self):
        result = account.account(_raw(), _load({"200": 100, "502": 5}), self.timeline)
        self.assertEqual(result["failures"]["unexplained_total"], 2)
        self.assertFalse(_goal(result, "0 unexplained")["met"])

    def test_errors_inside_a_reload_window_are_lost_to_the_reload(self):
        timeline = [dict(r) for r in self.timeline]
        timeline[11]["errors"] = "2"
        timeline[40]["errors"] = "1"
        result = account.account(_raw(), _load(), timeline)
        self.assertEqual((result["failures"]["lost_to_reloads"], result["failures"]["no_answer"]), (2, 1))

    def test_client_outcomes_are_classified(self):
        clients = {
            "slowloris": [(5.0, 408, None), (11.9, "closed", None), (30.0, "reset", None)],
            "malformed": [(5.0, 400, "cl+te"), (6.0, 200, "obs-fold"), (10.2, "reset", "x")],
            "closers": [(5.0, 200, None), (21.0, 502, None)],
            "tunnel": [(12.2, "closed", {}), (59.0, "ended by the soak", {})],
            "upload": [(40.0, "status 500: b''", {})],
        }
        result = account.account(_raw(clients=clients), _load(), self.timeline)
        f = result["failures"]
        self.assertEqual(f["explained_by_drain_end"], 2)  # slowloris at 11.9, tunnel at 12.2
        self.assertEqual(f["lost_to_reloads"], 1)  # the malformed reset at 10.2
        self.assertEqual(f["no_answer"], 1)  # the slowloris reset at 30
        self.assertEqual(f["gateway_seen"], 4)
        self.assertEqual(f["unexplained"]["malformed: answered 200"], 1)
        self.assertEqual(f["unexplained"]["upload: status 500: b''"], 1)
        self.assertEqual(f["unexplained"]["502/504 not explained by a dead or stalled target"], 1)

    def test_resources_and_old_processes(self):
        samples = [[t, 1, 100 if t < 40 else 110, 5000, 1] for t in range(60)]
        late = [{"i": 0, "mode": "with", "start": 10.0, "ready": 10.5, "ok": True, "old_exit": 60.0, "old_status": 0}]
        result = account.account(_raw(samples=samples, reloads=late), _load({"200": 100}), self.timeline)
        self.assertFalse(_goal(result, "descriptors flat")["met"])
        self.assertTrue(_goal(result, "RSS grows")["met"])
        self.assertFalse(_goal(result, "every old process")["met"])

    def test_rss_may_fall_but_not_grow(self):
        for late_rss, met in ((4600, True), (5400, False)):
            samples = [[t, 1, 100, 5000 if t < 40 else late_rss, 1] for t in range(60)]
            result = account.account(_raw(samples=samples), _load({"200": 100}), self.timeline)
            self.assertEqual(_goal(result, "RSS grows")["met"], met, late_rss)

    def test_admin_answers_from_an_old_process_after_the_hand_over_are_counted(self):
        reloads = [{"i": 0, "mode": "with", "start": 10.0, "ready": 10.5, "ok": True, "old_exit": 12.0,
                    "old_status": 0, "old_pid": 7, "new_pid": 8}]
        polls = [(10.2, True, 4, [], 7), (11.0, True, 4, [], 7), (12.0, True, 4, [], 7), (12.5, True, 4, [], 8)]
        result = account.account(_raw(reloads=reloads, polls=polls), _load({"200": 100}), self.timeline)
        self.assertEqual(result["admin_polls"]["answered_by_an_old_process"], 1)


if __name__ == "__main__":
    unittest.main()
