"""The soak's outputs: one JSON (the account, the plan, the command) and a text summary with
each goal printed as met or missed."""

import json


def _pct(x):
    return "n/a" if x is None else f"{x * 100:+.1f}%"


def text(summary):
    a, p = summary["account"], summary["plan"]
    r, f = a["requests"], a["failures"]
    lines = [
        f"spillway soak: {p['duration_s']:.0f} s, load {r['offered_rps']} req/s offered "
        f"({summary['load_share'] * 100:.0f}% of {summary['capacity_rps']:.0f} req/s), achieved {r['achieved_rps']}",
        f"command: {summary['command']}",
        f"schedule: {a['reloads']['total']} -sf reloads ({a['reloads']['with_upgrade_socket']} via upgrade_socket), "
        f"{a['sighups']['total']} SIGHUPs, {a['kills']} target kills, {a['stalls']} stall of {p['stall_s']:.0f} s, "
        f"{summary['slowloris']} slowloris"
        + (" (counts scaled down from the 10-minute schedule)" if p["scaled"] else ""),
        f"load: {r['load_sent']} sent, {r['load_answered']} answered, status {r['load_status']}, errors {r['load_errors']}",
    ]
    for kind, counts in r["clients"].items():
        lines.append(f"  {kind}: {counts}")
    lines += [
        f"502/504 seen by clients: {f['gateway_seen']}, explained by a dead/stalled target: {f['gateway_explained']}"
        f" (rises on live targets: {f['gateway_blamed_on_live_targets']})",
        f"unexplained failures: {f['unexplained_total']} {f['unexplained'] or ''}",
        f"connections lost to reloads: {f['lost_to_reloads']}; without an answer: {f['no_answer']}; "
        f"ended by an old process's drain end: {f['explained_by_drain_end']}",
        f"p99 latency: inside reload windows {a['latency_p99']['inside_reloads_ms']} ms, "
        f"outside {a['latency_p99']['outside_reloads_ms']} ms",
    ]
    for name, v in a["resources"].items():
        lines.append(f"{name}: start {v['start']}, middle {v['middle']}, end {v['end']} (middle to end {_pct(v['middle_to_end'])})")
    exits = ", ".join(f"{e['exit_after_s']}" for e in a["old_processes"])
    lines.append(f"old processes exited after (s, grace {a['grace_s']:.0f}): {exits}")
    lines.append(f"admin polls: {a['admin_polls']['total']}, failed {a['admin_polls']['failed']}, "
                 f"answered by an old process after the hand-over {a['admin_polls']['answered_by_an_old_process']}; "
                 f"SIGHUPs applied {a['sighups']['applied']}/{a['sighups']['total']}")
    lines.append("goals:")
    for g in a["goals"]:
        lines.append(f"  {'met   ' if g['met'] else 'MISSED'}  {g['goal']} ({g['value']})")
    return "\n".join(lines) + "\n"


def write(summary, json_path, text_path):
    with open(json_path, "w") as f:
        json.dump(summary, f, indent=1, sort_keys=True)
    body = text(summary)
    with open(text_path, "w") as f:
        f.write(body)
    return body
