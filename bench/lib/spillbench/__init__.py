"""The Python side of bench/compare.sh: everything that is parsing, arithmetic or reporting.

bench/compare.sh starts, pins, samples and stops the processes (nginx, HAProxy, spillway, the
clients) and copies raw counters into a run directory; this package turns those into CSV rows,
log lines and the Markdown summaries. It is called as `python3 -m spillbench COMMAND ...` with
bench/lib on PYTHONPATH (see __main__.py); bench/lib/all_summary.py and drivers_summary.py use
its helpers too.

Modules:
    columns  the column names of every CSV the bench writes (the single place they are listed)
    stats    reading CSVs by column name, medians, ratios, the per-round (paired) ratios
    parse    readers of raw tool output: /proc files, wrk's BENCH line, loadgen's JSON, `times`,
             thread samples, openssl s_client, HAProxy's `show info`, spillway's log
    record   one measured run: raw readings -> one CSV row (a dict) and the log lines
    report   the Markdown summaries of modes l4, l7/churn, tls and idle
    markdown the one table writer
"""
