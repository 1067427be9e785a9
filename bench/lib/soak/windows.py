"""Time intervals, and whose fault a gateway error was.

spillway has no access log naming the target of each request, but its `/stats;csv` counts per
target the connects that failed (`econ`) and the 502/504 it answered because that target reset,
broke or timed out (`eresp`). The soak polls that every second. A rise of a target's counters
between two polls is *explained* only when the target was down (killed, not yet restarted) or
stalled during that poll interval, widened by `slack` seconds on both sides (a request routed
just before the kill fails just after it; a 504 arrives `response_timeout` after its request).
Everything else is unexplained: gateway errors on a live target, gateway errors the client saw
but no poll attributed (an old process answered them while draining, after its admin port went
to its successor), and any other failure status.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Interval:
    start: float
    end: float

    def overlaps(self, start, end):
        return self.start < end and start < self.end

    def contains(self, t):
        return self.start <= t <= self.end

    def widened(self, before, after):
        return Interval(self.start - before, self.end + after)


def any_contains(intervals, t):
    return any(i.contains(t) for i in intervals)


def seconds_inside(intervals, second):
    """Whether second `second` (covering [second, second+1)) meets any interval."""
    return any(i.overlaps(second, second + 1) for i in intervals)


def attribute(polls, down, slack):
    """Splits the per-target gateway-error rises seen by consecutive polls.

    `polls`: [(t, since, counts)] in time order: `counts` = {target: eresp} of the serving
    process, `since` = when that process started serving (its reload). Within one `since` the
    counts only grow; the first poll of a process counts everything since it started (polls
    taken during a hand-over, when either process may answer, are left out by the poller).
    `down`: {target: [Interval]} when each target was dead or stalled. Returns (explained,
    unattributed, samples): the rises inside a down interval of the same target, the others,
    and the first few of those as (t, target, rise).
    """
    explained, outside, samples = 0, 0, []
    prev_since, prev_t, prev = None, None, {}
    for t, since, counts in polls:
        same = since == prev_since
        for target, count in counts.items():
            before = prev.get(target, 0) if same else 0
            rise = count - before
            if rise <= 0:
                continue
            start = prev_t if same else since
            windows = [w.widened(slack, slack) for w in down.get(target, [])]
            if any(w.overlaps(start, t) for w in windows):
                explained += rise
            else:
                outside += rise
                if len(samples) < 20:
                    samples.append((round(t, 1), target, rise))
        prev_since, prev_t, prev = since, t, counts
    return explained, outside, samples
