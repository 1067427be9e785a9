"""The account of a soak: from what the run recorded, the figures the issue asks for and each
goal met or missed.

Classification, strictest reading first:
- a 502/504 is *explained* only as far as the per-target `eresp` rises inside that target's
  down (killed) or stalled time cover it (`windows.attribute`); the client-seen gateway errors
  beyond that are unexplained, whatever their cause;
- any other non-2xx answer to the load, or to the closers, is unexplained; a malformed request
  must get a 4xx, anything else is unexplained; an upload that did not arrive whole, or a
  tunnel that ended other than with its process's drain (or the soak's end), is unexplained;
- a connection error (reset, refused, closed before the status line) during a reload window
  (from the reload's start to 2 s after the new process listens, and 1 s around each old
  process's exit) is a connection *lost to a reload*; outside, it is a request *without an
  answer*, as is every client timeout;
- slowloris connections are expected to end with a 408; other ends are reported, and count as
  lost or unanswered like any other connection unless an old process's exit explains them.
"""

import statistics

from . import config, hdr, windows
from .windows import Interval

FLAT = 0.05
GRACE_SLACK_S = 3.0
CONN_ERRORS = ("reset", "refused", "closed", "timeout")


def reload_windows(reloads):
    """(load windows for p99 and errors, exit windows): [start, ready+2] and old exit ±1 s."""
    spans = [Interval(r["start"], r["ready"] + 2.0) for r in reloads]
    exits = [Interval(r["old_exit"] - 1.0, r["old_exit"] + 1.0) for r in reloads if r.get("old_exit") is not None]
    return spans, exits


def median_near(samples, at, column, within=2.5):
    values = [s[column] for s in samples if abs(s[0] - at) <= within and s[column] is not None]
    return statistics.median(values) if values else None


def flat(middle, end):
    if not middle or end is None:
        return None
    return (end - middle) / middle


def _is_gateway(status):
    return status in (502, 504)


def classify_conn(t, outcome, spans, exits, tally):
    """Adds one client connection outcome that is not an HTTP answer to `tally`."""
    if any_in(exits, t):
        tally["explained_by_drain_end"] += 1
    elif any_in(spans, t):
        tally["lost_to_reloads"] += 1
    else:
        tally["no_answer"] += 1


def any_in(intervals, t):
    return windows.any_contains(intervals, t)


def account(raw, load, timeline, latency=None):
    """The figures and goals. `raw`: run.py's record; `load`: loadgen's JSON; `timeline`: its CSV
    rows (dicts); `latency`: hdr.read_log intervals (or None)."""
    spans, exits = reload_windows(raw["reloads"])
    conn_windows = spans + exits
    tally = {"explained_by_drain_end": 0, "lost_to_reloads": 0, "no_answer": 0}
    unexplained = {}

    def bad(kind, n=1):
        if n:
            unexplained[kind] = unexplained.get(kind, 0) + n

    # The load.
    status = {int(k): v for k, v in load.get("status", {}).items()}
    gateway_seen = sum(v for k, v in status.items() if _is_gateway(k))
    bad("load: non-2xx other than 502/504", sum(v for k, v in status.items() if not 200 <= k < 300 and not _is_gateway(k)))
    errors = load.get("errors", {})
    err_in = sum(int(r.get("errors") or 0) for r in timeline if windows.seconds_inside(conn_windows, int(r["second"])))
    err_total = sum(int(r.get("errors") or 0) for r in timeline)
    tally["lost_to_reloads"] += err_in
    tally["no_answer"] += err_total - err_in
    # The Python clients.
    per_client = {}
    for kind, outcomes in raw["clients"].items():
        counts = {}
        for t, outcome, detail in outcomes:
            counts[str(outcome)] = counts.get(str(outcome), 0) + 1
            if kind == "slowloris":
                if outcome != 408:
                    classify_conn(t, outcome, spans, exits, tally)
            elif kind in ("malformed", "closers"):
                if isinstance(outcome, int):
                    if _is_gateway(outcome):
                        gateway_seen += 1
                    elif kind == "malformed" and not 400 <= outcome < 500:
                        bad(f"malformed: answered {outcome}")
                    elif kind == "closers" and not 200 <= outcome < 300:
                        bad(f"closers: answered {outcome}")
                else:
                    classify_conn(t, outcome, spans, exits, tally)
            elif kind == "tunnel":
                if outcome != "ended by the soak":
                    if any_in(exits, t):
                        tally["explained_by_drain_end"] += 1
                    elif outcome in CONN_ERRORS:
                        classify_conn(t, outcome, spans, exits, tally)
                    else:
                        bad(f"tunnel: {outcome}")
            elif kind == "upload" and outcome != "ok":
                if outcome in CONN_ERRORS:
                    classify_conn(t, outcome, spans, exits, tally)
                else:
                    bad(f"upload: {outcome}")
        per_client[kind] = counts
    # Gateway errors: explained only as far as a down target's own counters cover them.
    down = {t: [Interval(a, b) for a, b, _ in spans_] for t, spans_ in raw["down"].items()}
    slack = config.RESPONSE_TIMEOUT_S + 1.5
    explained, blamed_live, samples = windows.attribute(raw["counts"], down, slack)
    explained = min(explained, gateway_seen)
    bad("502/504 not explained by a dead or stalled target", gateway_seen - explained)

    # Latency inside and outside reload windows.
    p99 = {"inside_reloads_ms": None, "outside_reloads_ms": None}
    if latency:
        inside = [i for i in latency if windows.seconds_inside(spans, int(i[0]))]
        outside = [i for i in latency if not windows.seconds_inside(spans, int(i[0]))]
        for key, part in (("inside_reloads_ms", inside), ("outside_reloads_ms", outside)):
            v = hdr.percentile(hdr.merge(part), 99.0)
            p99[key] = None if v is None else round(v / 1000.0, 3)

    # Resources of the serving process.
    samples_ = raw["samples"]
    start_at = max(1.0, min([r["start"] for r in raw["reloads"]] or [5.0]) - 2.0)
    resources = {}
    for name, col in (("fds", 2), ("rss_kib", 3)):
        resources[name] = {
            "start": median_near(samples_, start_at, col),
            "middle": median_near(samples_, raw["middle_at"], col),
            "end": median_near(samples_, raw["end_at"], col),
        }
        resources[name]["middle_to_end"] = flat(resources[name]["middle"], resources[name]["end"])

    # Old processes.
    grace = config.DRAIN_TIMEOUT_S + GRACE_SLACK_S
    exits_ = []
    for r in raw["reloads"]:
        if not r["ok"]:
            continue
        took = None if r["old_exit"] is None else round(r["old_exit"] - r["ready"], 3)
        exits_.append({"reload": r["i"], "mode": r["mode"], "exit_after_s": took, "status": r["old_status"]})
    late = [e for e in exits_ if e["exit_after_s"] is None or e["exit_after_s"] > grace or e["status"] != 0]

    # Admin answers from an old process after its successor took over (`/healthz` would say
    # 503 to a health checker while the new process serves).
    old_answers = 0
    for poll in raw["polls"]:
        pid = poll[4] if len(poll) > 4 else None
        if pid is not None and any(pid == r.get("old_pid") and poll[0] > r["ready"] + 1.0 for r in raw["reloads"] if r["ok"]):
            old_answers += 1

    unexplained_total = sum(unexplained.values())
    fl = resources["fds"]["middle_to_end"]
    rl = resources["rss_kib"]["middle_to_end"]
    reloads_ok = sum(1 for r in raw["reloads"] if r["ok"])
    sighups_ok = sum(1 for s in raw["sighups"] if s["targets_applied"] and s["rule_applied"])
    poll_failures = len(raw["poll_failures"])
    goals = [
        ("0 unexplained failures", unexplained_total == 0, unexplained_total),
        ("0 connections lost to reloads", tally["lost_to_reloads"] == 0, tally["lost_to_reloads"]),
        ("0 requests without an answer", tally["no_answer"] == 0, tally["no_answer"]),
        ("descriptors flat within 5% (middle to end)", fl is not None and abs(fl) <= FLAT, fl),
        # RSS is judged one way: growth is what a leak looks like, while a fall is the
        # allocator handing pages back after a burst (src/memory.rs does that on purpose),
        # e.g. once a reload's slowloris wave has timed out.
        ("RSS grows at most 5% (middle to end)", rl is not None and rl <= FLAT, rl),
        ("every old process gone within its grace, exit 0", not late, len(late)),
        ("every reload took over", reloads_ok == len(raw["reloads"]), f"{reloads_ok}/{len(raw['reloads'])}"),
        ("every SIGHUP applied (targets and rule)", sighups_ok == len(raw["sighups"]), f"{sighups_ok}/{len(raw['sighups'])}"),
        ("admin API answered every poll, from the serving process", poll_failures + old_answers == 0,
         f"{poll_failures} failed, {old_answers} from an old process"),
        ("the proxy never died", not raw["deaths"], len(raw["deaths"])),
    ]
    answered = sum(status.values())
    return {
        "requests": {"load_sent": load.get("sent", load.get("requests")), "load_answered": answered,
                     "load_status": {str(k): v for k, v in sorted(status.items())}, "load_errors": errors,
                     "offered_rps": load.get("offered_rps"), "achieved_rps": load.get("rps"), "clients": per_client},
        "failures": {"gateway_seen": gateway_seen, "gateway_explained": explained,
                     "gateway_blamed_on_live_targets": blamed_live, "blamed_samples": samples,
                     "unexplained": unexplained, "unexplained_total": unexplained_total,
                     "lost_to_reloads": tally["lost_to_reloads"], "no_answer": tally["no_answer"],
                     "explained_by_drain_end": tally["explained_by_drain_end"]},
        "latency_p99": p99,
        "resources": resources,
        "old_processes": exits_,
        "grace_s": grace,
        "reloads": {"total": len(raw["reloads"]), "ok": reloads_ok,
                    "with_upgrade_socket": sum(1 for r in raw["reloads"] if r["mode"] == "with")},
        "sighups": {"total": len(raw["sighups"]), "applied": sighups_ok},
        "kills": len([d for ds in raw["down"].values() for d in ds if d[2] == "killed"]),
        "stalls": len([d for ds in raw["down"].values() for d in ds if d[2] == "stalled"]),
        "admin_polls": {"total": len(raw["polls"]), "failed": poll_failures,
                        "answered_by_an_old_process": old_answers},
        "goals": [{"goal": g, "met": bool(m), "value": v} for g, m, v in goals],
    }
