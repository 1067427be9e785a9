"""The chaos soak (`bench/soak`, issue 19): spillway in front of 4 `loadgen serve` targets under
open-loop load at 70% of their capacity while reloads, SIGHUPs, target kills and stalls, slow
and broken clients run on a schedule; then an account of every failure, honest about which
ones a dead target explains.

Map, leaves first:

- `plan.py`     the schedule: which fault happens when, scaled to the run's length (pure).
- `windows.py`  time intervals, and whose fault a gateway error was (pure).
- `hdr.py`      reads loadgen's HdrHistogram interval log, to merge seconds into p99s (pure).
- `account.py`  the figures and the goals from what the run recorded (pure).
- `report.py`   the JSON and the text summary (pure).
- `procs.py`    processes: spawn, listening ports, descriptors and RSS from /proc.
- `config.py`   the spillway TOML the run writes and rewrites.
- `clients.py`  the Python clients and side backend: slowloris, malformed, early closers,
                WebSocket tunnel, 50 MiB upload, admin poller.
- `run.py`      the orchestration: start, run the plan, stop everything, hand over the record.

The pure modules carry the judgement and are unit tested (`bench/lib/test_soak*.py`); the
others only observe and record.
"""
