"""The soak's schedule: what happens when, as a sorted list of events.

The issue fixes the 10-minute schedule: 20 `-sf` reloads (alternately with and without
`upgrade_socket`), 10 SIGHUPs, a SIGKILL (and restart) of one target every 30 s, one 10 s stall
of another. Shorter runs scale the counts down in proportion, but never below what exercises
each kind (a reload of each mode, a SIGHUP that adds and one that removes), and say so in
`scaled`. A short run keeps its reloads far enough apart that each serving process lives past
`request_timeout`: only then have the slowloris connections moved over to it, and the middle
and end samples of its descriptors compare like with like.

Placement rules, so one fault does not masquerade as another:
- the stall never overlaps a kill's down time plus health recovery: two of four targets out at
  once would push the other two past capacity, and their 504s would be the load's fault, not
  the proxy's (and not "explained" either);
- kills and the stall keep clear of the reloads' hand-overs: an old process stops answering the
  admin API when it hands over, so gateway errors it gives while draining cannot be tied to
  their target by the per-target counters;
- reloads and SIGHUPs are spread evenly and offset from each other; the last one leaves time
  for the end sample;
- nothing happens in the first `QUIET_START` seconds: that is where the start sample is taken.
"""

from dataclasses import dataclass, field

FULL_MINUTES = 10
FULL = {"reloads": 20, "sighups": 10}
KILL_PERIOD_S = 30.0
# How long the killed target stays down before it is restarted.
KILL_DOWN_S = 1.0
# A restarted target needs its healthy_threshold of checks (1 s apart) before it takes
# traffic again: the others carry its share until then.
KILL_RECOVERY_S = 4.0
STALL_S = 10.0
QUIET_START = 5.0
# No reload or SIGHUP in the last TAIL_S seconds: the end sample is taken there.
TAIL_S = 8.0
# How long after a reload starts its hand-over may still be going on (the new process starts,
# the old one begins to drain and lets go of the admin port).
HANDOVER_S = 4.0
# After the stall, its last 504s arrive up to response_timeout later.
STALL_SLACK_S = 3.0


@dataclass(frozen=True)
class Event:
    at: float
    kind: str  # reload | sighup | kill | stall | resume
    # reload: "with" or "without" (upgrade_socket); sighup: its number (0-based).
    arg: object = None


@dataclass
class Plan:
    duration: float
    events: list = field(default_factory=list)
    # Counts this run uses, and whether they were scaled down from the 10-minute schedule.
    reloads: int = 0
    sighups: int = 0
    kills: int = 0
    stall_at: float = 0.0
    stall_s: float = STALL_S
    scaled: bool = False
    # When the middle and the end resource samples are taken (see `make`).
    middle_at: float = 0.0
    end_at: float = 0.0

    def of(self, kind):
        return [e for e in self.events if e.kind == kind]


def upgrade_socket_of(process, reloads):
    """Whether spillway process number `process` (0 = the first) of a run with `reloads`
    reloads has `upgrade_socket` set.

    A hand-over goes through the socket only when the old *and* the new process have it, so
    strict alternation is impossible: after a process without it, the next reload cannot use
    it. The pattern with, with, with, without per process gives reloads in the pattern
    with, with, without (new has none), without (old has none): half each. A count that is
    2 modulo 4 ends on with, without: the last process goes without.
    """
    if reloads % 4 == 2 and process == reloads:
        return False
    return process % 4 != 3


def reload_mode(i, reloads):
    """"with" when reload `i` (from process i to i+1) hands the sockets over the socket."""
    return "with" if upgrade_socket_of(i, reloads) and upgrade_socket_of(i + 1, reloads) else "without"


def _clear_of(at, reloads, length):
    """`at`, or a time just after the reload it would meet ([at - HANDOVER_S, at + length])."""
    for r in sorted(reloads):
        if at - HANDOVER_S <= r <= at + length:
            at = r + HANDOVER_S
    return at


def _free_slot(start, length, busy, end):
    """The first t >= start (0.5 s steps) with [t, t + length] meeting no busy span; the best
    effort (start) when there is none before `end`."""
    t = start
    while t + length <= end:
        if not any(a < t + length and t < b for a, b in busy):
            return t
        t += 0.5
    return start


def _spread(count, start, end, offset):
    """`count` instants spread evenly over [start, end), each `offset` of a slot in."""
    if count <= 0:
        return []
    slot = (end - start) / count
    return [start + slot * (i + offset) for i in range(count)]


def make(duration):
    """The schedule of a run of `duration` seconds."""
    if duration < 60:
        raise ValueError("a soak needs at least 60 seconds")
    share = duration / (FULL_MINUTES * 60.0)
    reloads = max(2, round(FULL["reloads"] * share))
    reloads += reloads % 2  # as many with an upgrade socket as without
    sighups = max(2, round(FULL["sighups"] * share))
    plan = Plan(duration=duration, reloads=reloads, sighups=sighups)
    plan.scaled = (reloads, sighups) != (FULL["reloads"], FULL["sighups"])
    busy_end = duration - TAIL_S
    events = []
    for i, at in enumerate(_spread(reloads, QUIET_START, busy_end, 0.5)):
        events.append(Event(at, "reload", reload_mode(i, reloads)))
    for i, at in enumerate(_spread(sighups, QUIET_START, busy_end, 0.5 if reloads == 2 * sighups else 0.25)):
        events.append(Event(at, "sighup", i))
    # Kills every 30 s (twice in a short run), the first half a period in, each moved clear
    # of the reloads: the old process stops answering the admin API at the hand-over, so the
    # 502s it gives while draining could not be tied to the dead target.
    reload_times = [e.at for e in events if e.kind == "reload"]
    period = min(KILL_PERIOD_S, (busy_end - QUIET_START) / 2)
    kill_times = []
    at = QUIET_START + period / 2
    while at < busy_end:
        kill_times.append(_clear_of(at, reload_times, KILL_DOWN_S + 1.0))
        at += period
    events.extend(Event(t, "kill") for t in kill_times)
    plan.kills = len(kill_times)
    # The stall: from 40% of the run on, the first place where it and its slack meet no
    # reload and no kill's down and recovery time.
    gap = period - (KILL_DOWN_S + KILL_RECOVERY_S + 1.0) - 1.0
    plan.stall_s = min(STALL_S, gap)
    busy = [(t - 1.0, t + KILL_DOWN_S + KILL_RECOVERY_S) for t in kill_times]
    busy += [(t - 1.0, t + HANDOVER_S) for t in reload_times]
    plan.stall_at = _free_slot(0.4 * duration, plan.stall_s + STALL_SLACK_S, busy, busy_end)
    events.append(Event(plan.stall_at, "stall"))
    events.append(Event(plan.stall_at + plan.stall_s, "resume"))
    events.sort(key=lambda e: e.at)
    plan.events = events
    # Resources are sampled at the same age of the serving process in the middle and at the
    # end: that process changes at every reload, and a young one holds fewer connections.
    reload_times = [e.at for e in plan.of("reload")]
    slot = (busy_end - QUIET_START) / reloads
    age = min(duration - 1.0 - reload_times[-1], slot - 1.5)
    nearest = min(reload_times[:-1], key=lambda t: abs(t - duration / 2))
    plan.middle_at = nearest + age
    plan.end_at = reload_times[-1] + age
    return plan
