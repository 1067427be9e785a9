"""The Markdown summaries of bench/compare.sh's modes l4, l7/churn, tls and idle.

Every per-run mode (l4, l7 and churn, tls keep-alive, tls handshakes) is one Spec: how the runs
of a target reduce to medians, the columns of its medians table and of its raw-runs table, its
goals and its notes. summary() lays any of them out the same way: the medians over all runs
(with the ratios ÷ HAProxy and ÷ direct), the goals and the medians of the per-round (paired)
ratios, the medians over the quiet runs only, then every raw run.
"""

import math

from .markdown import Col, render, table
from .stats import fmt, median, median_of, num, of_target, paired_ratio, quiet, ratio, read_rows, total


class Context:
    """What a summary says about how the runs were made (compare.sh's options)."""

    def __init__(self, mode="l7", load="loadgen", targets=("direct", "haproxy", "nginx", "spillway"), runs=5,
                 seconds=10, quiet_pct=25, proxy_cpu=0, backend_cpu=1, conns=64, body_size=100, hs_conns=32):
        self.mode = mode
        self.load = load
        self.targets = list(targets)
        self.runs = runs
        self.seconds = seconds
        self.quiet_pct = quiet_pct
        self.proxy_cpu = proxy_cpu
        self.backend_cpu = backend_cpu
        self.conns = conns
        self.body_size = body_size
        self.hs_conns = hs_conns

    def has(self, *targets):
        return all(t in self.targets for t in targets)

    def rounds_line(self):
        return "%s rounds × %s s, targets alternated within each round." % (self.runs, self.seconds)


def _nan(x):
    return math.nan if x is None else x


def _div(a, b):
    a, b = _nan(a), _nan(b)
    return a / b if b else math.nan


def _dash(v):
    """A raw CSV cell, "—" when it is empty."""
    return "—" if v in ("", None) else v


def _ms(v, spec):
    return spec % ((num(v) or 0) / 1000)


def _met(ok):
    return "**met**" if ok else "**missed**"


def _millis(x):
    """Microseconds (or None) in milliseconds."""
    return None if x is None else x / 1000


# The header lines of every goals table.
_GOALS_HEAD = ["| goal | result | |", "|---|---|---|"]

# The first columns of every raw-runs table.
_RAW_HEAD = [Col("round", "r", lambda r: r["round"]), Col("target", "l", lambda r: r["target"])]

# The proxy's threads at most and their names, in one cell (HTTP and handshake raw tables).
_PROXY_THREADS = Col("proxy threads", "l", lambda r: "—" if r["proxy_threads_max"] == "" else "%s (%s)" % (
    r["proxy_threads_max"], r["proxy_thread_names"]))

# What the proxy held after the run, and the rustc processes seen (HTTP and handshake raw tables).
_AFTER_RUN = [
    Col("proxy fds after", "r", lambda r: _dash(r["proxy_fds_after"])),
    Col("proxy RSS KiB after", "r", lambda r: _dash(r["proxy_rss_kib_after"])),
    Col("rustc seen", "r", lambda r: _dash(r["rustc_max"])),
]


def _medians_head(med):
    """The first columns of every medians table (one row per target)."""
    return [Col("target", "l", lambda t: t), Col("runs", "r", lambda t: med[t]["n"])]


def _foreign(ctx):
    """The foreign load on the proxy's CPU and on the backend's, per run."""
    return [Col("CPU%d foreign %%" % ctx.proxy_cpu, "r", lambda r: r["cpu0_foreign_pct"]),
            Col("CPU%d foreign %%" % ctx.backend_cpu, "r", lambda r: r["cpu1_foreign_pct"])]


class Medians(dict):
    """One target's medians over a set of runs (keys per Spec), with n = the number of runs."""


class Spec:
    """How one kind of run is summarised. Subclasses fill in the parts."""

    # the kind of run (a key of columns.BY_KIND), which is also the Spec's key in SPECS
    csv_kind = None

    def medians(self, rows):
        raise NotImplementedError

    def medians_cols(self, ctx, med):
        raise NotImplementedError

    def raw_cols(self, ctx):
        raise NotImplementedError

    def after_all(self, ctx, rows, med):
        """Lines after the medians table of all runs (goals, paired ratios, notes)."""
        return []

    def after_quiet(self, ctx, rows, med):
        return []

    def notes(self, ctx):
        return []

    def medians_table(self, ctx, rows, max_noise):
        """The medians table over the runs whose foreign load is at most MAX_NOISE %, and the
        medians (target -> Medians) it shows."""
        rows = quiet(rows, max_noise)
        med = {}
        for t in ctx.targets:
            mine = of_target(rows, t)
            m = Medians(self.medians(mine))
            m["n"] = len(mine)
            med[t] = m
        return render(self.medians_cols(ctx, med), ctx.targets), med

    def base(self, ctx, med, target, key):
        """TARGET's median KEY, the denominator of a ratio column; None when TARGET is not run."""
        return med[target][key] if ctx.has(target) else None

    def paired_lines(self, ctx, rows, what):
        """The medians of the per-round ratios spillway ÷ HAProxy and ÷ nginx: WHAT is a list of
        (label, column)."""
        out = []
        for other in ("haproxy", "nginx"):
            if ctx.has("spillway", other):
                out.append("- medians of the per-round (paired) ratios spillway ÷ %s: %s" % (other, ", ".join(
                    "%s %s" % (label, fmt(paired_ratio(rows, col, "spillway", other), "%.3f", "nan"))
                    for label, col in what)))
        return out


def summary(spec, ctx, rows):
    """The summary body of one kind of run: the same layout for every mode."""
    quiet_line = "Quiet runs only (foreign load ≤ %s%% on the CPUs the run uses):" % ctx.quiet_pct
    all_table, med_all = spec.medians_table(ctx, rows, 100)
    quiet_table, med_quiet = spec.medians_table(ctx, rows, ctx.quiet_pct)
    lines = ["All runs:", ""] + all_table + [""] + spec.after_all(ctx, rows, med_all)
    lines += ["", quiet_line, ""] + quiet_table + spec.after_quiet(ctx, rows, med_quiet)
    lines += ["", "Raw runs:", ""] + render(spec.raw_cols(ctx), rows) + [""] + spec.notes(ctx)
    return lines


# ------------------------------------------------------------------ l4


class L4(Spec):
    csv_kind = "l4"

    def medians(self, rows):
        return {
            "gib": median_of(rows, "gib_per_s"),
            "cpu": median_of(rows, "proxy_cpu_s_per_gib"),
            # everything this benchmark ran, per GiB: proxy + nginx + the client
            "all": median(total([r], "proxy_cpu_s_per_gib", "nginx_cpu_s_per_gib", "wrk_cpu_s_per_gib") for r in rows),
        }

    def medians_cols(self, ctx, med):
        gd = self.base(ctx, med, "direct", "gib")
        ch = self.base(ctx, med, "haproxy", "cpu")
        return _medians_head(med) + [
            Col("GiB/s (median)", "r", lambda t: fmt(med[t]["gib"], "%.3f")),
            Col("CPU s/GiB (median)", "r", lambda t: fmt(med[t]["cpu"], "%.3f")),
            Col("GiB/s ÷ direct", "r", lambda t: fmt(ratio(med[t]["gib"], gd), "%.3f")),
            Col("CPU/GiB ÷ HAProxy", "r", lambda t: fmt(ratio(med[t]["cpu"], ch), "%.3f")),
            Col("proxy+nginx+%s CPU s/GiB" % ctx.load, "r", lambda t: fmt(med[t]["all"], "%.3f")),
        ]

    def raw_cols(self, ctx):
        return _RAW_HEAD + [
            Col("GiB/s", "r", lambda r: r["gib_per_s"]),
            Col("proxy CPU s", "r", lambda r: _dash(r["proxy_cpu_s"])),
            Col("CPU s/GiB", "r", lambda r: _dash(r["proxy_cpu_s_per_gib"])),
            Col("nginx CPU s/GiB", "r", lambda r: r["nginx_cpu_s_per_gib"]),
            Col("%s CPU s/GiB" % ctx.load, "r", lambda r: r["wrk_cpu_s_per_gib"]),
            Col("requests", "r", lambda r: r["requests"]),
            Col("errors", "r", lambda r: r["errors"]),
            Col("proxy threads (max)", "r", lambda r: _dash(r["proxy_threads_max"])),
            Col("thread names", "l", lambda r: _dash(r["proxy_thread_names"])),
            Col("iou-wrk (max)", "r", lambda r: _dash(r["iou_wrk_max"])),
        ] + _foreign(ctx) + [Col("CPU%d busy %%" % ctx.backend_cpu, "r", lambda r: r["cpu1_busy_pct"])]

    def goals(self, ctx, med):
        out = []
        s, h, d = med["spillway"], med["haproxy"], med["direct"]
        if s["cpu"] is not None and h["cpu"] is not None and h["cpu"] > 0:
            r = s["cpu"] / h["cpu"]
            out.append("- spillway/HAProxy CPU per GiB: %.3f (goal ≤ 0.60: %s)" % (r, "met" if r <= 0.60 else "missed"))
        else:
            out.append("- spillway/HAProxy CPU per GiB: n/a")
        if s["gib"] is not None and d["gib"] is not None and d["gib"] > 0:
            r = s["gib"] / d["gib"]
            out.append("- spillway/direct GiB/s: %.3f (goal ≥ 0.97: %s)" % (r, "met" if r >= 0.97 else "missed"))
        else:
            out.append("- spillway/direct GiB/s: n/a")
        return out

    def after_all(self, ctx, rows, med):
        b = ctx.backend_cpu
        out = [
            "CPU s/GiB is the proxy process's utime+stime (all threads) per GiB delivered to the client;",
            "direct has no proxy. The last column adds nginx's and %s's CPU per GiB: on loopback the" % ctx.load,
            "TCP work of a transfer is split between sender and receiver by timing, so a proxy can look",
            "cheaper by leaving more of it to the processes on CPU%d." % b,
        ]
        if ctx.load == "loadgen":
            out += ["Client: loadgen -t 1 --cpus %d -c 4 (closed loop); GiB/s = complete 16 MiB responses received in the" % b,
                    "measured window × 16 MiB ÷ the window (a download still in flight at the end is not counted)."]
        else:
            out.append("Client: wrk -t1 -c4; GiB/s = wrk's byte count ÷ its duration.")
        out.append(ctx.rounds_line())
        if ctx.has("spillway", "haproxy", "direct"):
            # the same ratios taken within each round (paired), then the median
            out += [""] + self.goals(ctx, med)
            out.append("- medians of the per-round ratios: CPU per GiB %s, GiB/s %s" % (
                fmt(paired_ratio(rows, "proxy_cpu_s_per_gib", "spillway", "haproxy"), "%.3f", "nan"),
                fmt(paired_ratio(rows, "gib_per_s", "spillway", "direct"), "%.3f", "nan")))
        return out

    def after_quiet(self, ctx, rows, med):
        return [""] + self.goals(ctx, med) if ctx.has("spillway", "haproxy", "direct") else []

    def notes(self, ctx):
        return [
            "Foreign %: share of a CPU busy with anything but this benchmark's processes (the proxy on",
            "CPU%d; nginx and %s on CPU%d), i.e. other processes, interrupts and kernel threads." % (
                ctx.proxy_cpu, ctx.load, ctx.backend_cpu),
            "A run is quiet when the foreign share of the CPUs it uses is at most %s%%." % ctx.quiet_pct,
        ]


# ------------------------------------------------------------------ l7, churn, tls keep-alive


class Http(Spec):
    csv_kind = "http"

    def medians(self, rows):
        return {
            "rps": median_of(rows, "rps"),
            "p50": median_of(rows, "p50_us"),
            "p99": median_of(rows, "p99_us"),
            "cpu": median_of(rows, "proxy_us_per_req"),
            "reuse": median_of(rows, "reuse_pct"),
            "all": median(total([r], "proxy_us_per_req", "nginx_us_per_req", "wrk_us_per_req") for r in rows),
        }

    def medians_cols(self, ctx, med):
        hr = self.base(ctx, med, "haproxy", "rps")
        hc = self.base(ctx, med, "haproxy", "cpu")
        h9 = self.base(ctx, med, "haproxy", "p99")
        return _medians_head(med) + [
            Col("req/s (median)", "r", lambda t: fmt(med[t]["rps"], "%.0f")),
            Col("p50 ms", "r", lambda t: fmt(_millis(med[t]["p50"]), "%.3f")),
            Col("p99 ms", "r", lambda t: fmt(_millis(med[t]["p99"]), "%.3f")),
            Col("proxy CPU µs/req", "r", lambda t: fmt(med[t]["cpu"], "%.2f")),
            Col("req/s ÷ HAProxy", "r", lambda t: fmt(ratio(med[t]["rps"], hr), "%.3f")),
            Col("CPU/req ÷ HAProxy", "r", lambda t: fmt(ratio(med[t]["cpu"], hc), "%.3f")),
            Col("p99 ÷ HAProxy", "r", lambda t: fmt(ratio(med[t]["p99"], h9), "%.3f")),
            Col("backend reuse %", "r", lambda t: "—" if t == "direct" else fmt(med[t]["reuse"], "%.3f")),
            Col("proxy+nginx+%s µs/req" % ctx.load, "r", lambda t: fmt(med[t]["all"], "%.2f")),
        ]

    def raw_cols(self, ctx):
        load = ctx.load
        return _RAW_HEAD + [
            Col("req/s", "r", lambda r: r["rps"]),
            Col("p50 ms", "r", lambda r: _ms(r["p50_us"], "%.3f")),
            Col("p99 ms", "r", lambda r: _ms(r["p99_us"], "%.3f")),
            Col("max ms", "r", lambda r: _ms(r["max_us"], "%.1f")),
            Col("errors (non-2xx)", "l", lambda r: "%s (%s)" % (r["errors"], r["non2xx"])),
            Col("proxy CPU s", "r", lambda r: _dash(r["proxy_cpu_s"])),
            Col("proxy µs/req", "r", lambda r: _dash(r["proxy_us_per_req"])),
            Col("backend nginx µs/req", "r", lambda r: r["nginx_us_per_req"]),
            Col("%s µs/req" % load, "r", lambda r: r["wrk_us_per_req"]),
            Col("new backend conns", "r", lambda r: ("(%s) " % load if r["target"] == "direct" else "") + r["backend_new_conns"]),
            Col("backend req", "r", lambda r: r["backend_requests"]),
            Col("reuse %", "r", lambda r: _dash(r["reuse_pct"])),
            Col("backend conns open after (all)", "r", lambda r: r["backend_estab_after"]),
            _PROXY_THREADS,
            Col("iou-wrk", "r", lambda r: _dash(r["iou_wrk_max"])),
        ] + _foreign(ctx) + _AFTER_RUN + [Col("spillway driver", "l", lambda r: _dash(r.get("proxy_driver", "")))]

    def goals(self, ctx, med):
        """The issues' goals for spillway against HAProxy, from the medians of all runs."""
        s, h = med["spillway"], med["haproxy"]
        if s["cpu"] is None or h["cpu"] is None or h["cpu"] <= 0:
            return ["- goals: n/a (needs haproxy and spillway)"]
        c = s["cpu"] / h["cpu"]
        out = list(_GOALS_HEAD)
        if ctx.mode == "l7":
            r = _div(s["rps"], h["rps"])
            s9, h9 = _nan(s["p99"]), _nan(h["p99"])
            u = _nan(s["reuse"])
            out += [
                "| spillway CPU/request ≤ 0.60 × HAProxy's | %.3f | %s |" % (c, _met(c <= 0.60)),
                "| spillway req/s ≥ 1.3 × HAProxy's | %.3f | %s |" % (r, _met(r >= 1.3)),
                "| spillway p99 no worse than HAProxy's | %.3f ms vs %.3f ms (%.3f×) | %s |" % (
                    s9 / 1000, h9 / 1000, _div(s9, h9), _met(s9 <= h9)),
                "| backend connection reuse ≥ 99.9 %% | %.3f %% | %s |" % (u, _met(u >= 99.9)),
            ]
        else:
            if ctx.mode == "tls":
                out.append("| spillway keep-alive CPU/request over TLS ≤ 0.70 × HAProxy's | %.3f | %s |" % (c, _met(c <= 0.70)))
            else:
                out.append("| spillway CPU/request ≤ 0.80 × HAProxy's | %.3f | %s |" % (c, _met(c <= 0.80)))
            out += ["| (no goal) req/s ÷ HAProxy | %.3f | |" % _div(s["rps"], h["rps"]),
                    "| (no goal) p99 ÷ HAProxy | %.3f | |" % _div(s["p99"], h["p99"])]
        return out

    def after_all(self, ctx, rows, med):
        out = self.goals(ctx, med) + [""] if ctx.has("spillway", "haproxy") else []
        return out + self.paired_lines(ctx, rows, [("CPU/request", "proxy_us_per_req"), ("req/s", "rps")])

    def notes(self, ctx):
        load = ctx.load
        out = [
            "CPU µs/req: the process's utime+stime (all threads, /proc/PID/stat; for the nginx proxy master + worker)",
            "over the run ÷ requests %s completed. \"nginx\" is nginx as a reverse proxy (a second instance on CPU%d);" % (
                load, ctx.proxy_cpu),
            "\"backend nginx\" is the one serving the file (CPU%d)." % ctx.backend_cpu,
            "New backend conns: the backend nginx's stub_status \"accepts\" after − before (minus the status request);",
            "reuse = 1 − new backend connections ÷ requests. For direct these are %s's own connections." % load,
        ]
        if load == "loadgen":
            out += ["Client: loadgen -t 1 --cpus %d -c %d, closed loop; requests = responses received in the measured" % (
                ctx.backend_cpu, ctx.conns),
                    "window; latency from loadgen's HdrHistogram (closed loop: the service time)."]
        out += ["rustc seen: the most rustc processes running at once during the run (sampled every 0.5 s; should be 0).",
                ctx.rounds_line()]
        return out


# ------------------------------------------------------------------ tls handshakes


class Handshakes(Spec):
    csv_kind = "hs"

    def medians(self, rows):
        return {
            "hs": median_of(rows, "hs_per_s"),
            "cpu": median_of(rows, "proxy_us_per_hs"),
            "per_cpu_s": median_of(rows, "hs_per_cpu_s"),
            "busy": median_of(rows, "proxy_busy_pct"),
            "p50": median_of(rows, "p50_us"),
            "p99": median_of(rows, "p99_us"),
            "client": median_of(rows, "client_us_per_hs"),
            "counts": "%d / %d / %d" % (total(rows, "full"), total(rows, "resumed"), total(rows, "failed", "errors")),
        }

    def medians_cols(self, ctx, med):
        hr = self.base(ctx, med, "haproxy", "hs")
        hp = self.base(ctx, med, "haproxy", "per_cpu_s")
        return _medians_head(med) + [
            Col("handshakes/s (median)", "r", lambda t: fmt(med[t]["hs"], "%.0f")),
            Col("proxy CPU µs/handshake", "r", lambda t: fmt(med[t]["cpu"], "%.1f")),
            Col("handshakes per proxy CPU-second", "r", lambda t: fmt(med[t]["per_cpu_s"], "%.0f")),
            Col("proxy CPU busy %", "r", lambda t: fmt(med[t]["busy"], "%.0f")),
            Col("p50 ms", "r", lambda t: fmt(_millis(med[t]["p50"]), "%.2f")),
            Col("p99 ms", "r", lambda t: fmt(_millis(med[t]["p99"]), "%.2f")),
            Col("handshakes/s ÷ HAProxy", "r", lambda t: fmt(ratio(med[t]["hs"], hr), "%.3f")),
            Col("per CPU-second ÷ HAProxy", "r", lambda t: fmt(ratio(med[t]["per_cpu_s"], hp), "%.3f")),
            Col("full / resumed / failed+errors", "l", lambda t: med[t]["counts"]),
            Col("loadgen µs/handshake", "r", lambda t: fmt(med[t]["client"], "%.1f")),
        ]

    def raw_cols(self, ctx):
        return _RAW_HEAD + [
            Col("handshakes/s", "r", lambda r: r["hs_per_s"]),
            Col("full", "r", lambda r: r["full"]),
            Col("resumed", "r", lambda r: r["resumed"]),
            Col("failed", "r", lambda r: r["failed"]),
            Col("errors (non-2xx)", "l", lambda r: "%s (%s)" % (r["errors"], r["non2xx"])),
            Col("p50 ms", "r", lambda r: _ms(r["p50_us"], "%.2f")),
            Col("p99 ms", "r", lambda r: _ms(r["p99_us"], "%.2f")),
            Col("proxy CPU s", "r", lambda r: r["proxy_cpu_s"]),
            Col("proxy µs/handshake", "r", lambda r: _dash(r["proxy_us_per_hs"])),
            Col("handshakes per CPU-s", "r", lambda r: _dash(r["hs_per_cpu_s"])),
            Col("proxy busy %", "r", lambda r: r["proxy_busy_pct"]),
            Col("backend nginx µs/hs", "r", lambda r: _dash(r["nginx_us_per_hs"])),
            Col("loadgen µs/hs", "r", lambda r: _dash(r["client_us_per_hs"])),
            Col("new backend conns", "r", lambda r: r["backend_new_conns"]),
            Col("server TLS conns (HAProxy)", "r", lambda r: "—" if r["server_tls_conns"] == "-" else r["server_tls_conns"]),
            Col("HAProxy reuse % (last s)", "r", lambda r: "—" if r["server_reuse_pct"] == "-" else r["server_reuse_pct"]),
            _PROXY_THREADS,
        ] + _foreign(ctx) + _AFTER_RUN

    def goals(self, ctx, med):
        s, h = med["spillway"]["per_cpu_s"], med["haproxy"]["per_cpu_s"]
        if s is None or h is None or h <= 0:
            return ["- goal: n/a (needs haproxy and spillway)"]
        return _GOALS_HEAD + [
                "| spillway handshakes per CPU-second ≥ HAProxy's | %.0f vs %.0f (%.3f×) | %s |" % (s, h, s / h, _met(s >= h))]

    def after_all(self, ctx, rows, med):
        out = self.goals(ctx, med) + [""] if ctx.has("spillway", "haproxy") else []
        return out + self.paired_lines(ctx, rows, [("handshakes per CPU-second", "hs_per_cpu_s"), ("handshakes/s", "hs_per_s")])

    def notes(self, ctx):
        b = ctx.backend_cpu
        return [
            "One handshake = one new TCP connection, a full TLS handshake (loadgen --no-resume: no session",
            "ticket or id offered; loadgen counts full and resumed handshakes itself), one GET of %d bytes" % ctx.body_size,
            "with Connection: close, and the close: the proxy's CPU per handshake covers all of that.",
            "Handshakes/s = full handshakes ÷ loadgen's measured duration; handshakes per proxy CPU-second = full",
            "handshakes ÷ the proxy's utime+stime over the run (for the nginx proxy master + worker). The client",
            "(loadgen, one thread) shares CPU%d with the backend nginx, so handshakes/s may be bound by" % b,
            "CPU%d rather than by the proxy (see proxy busy %%); the per-CPU-second figure is the proxy's cost." % b,
            ctx.rounds_line(),
        ]


# Each Spec by the kind of run it summarises (its csv_kind: compare.sh's measure KIND).
SPECS = {s.csv_kind: s for s in (L4(), Http(), Handshakes())}


# ------------------------------------------------------------------ whole reports


def _summary_of(kind, ctx, csv_path):
    """The summary of the runs of KIND (a key of SPECS) in the CSV at CSV_PATH."""
    return summary(SPECS[kind], ctx, read_rows(csv_path))


def l4_report(ctx, csv_path):
    return _summary_of("l4", ctx, csv_path)


def http_report(ctx, csv_path):
    return _summary_of("http", ctx, csv_path)


def tls_report(ctx, csv_path, hs_csv_path, negotiated, parts, offer):
    """Mode tls: what each proxy negotiated (NEGOTIATED: rows target, keepalive, handshakes),
    then the keep-alive section and the handshake section (PARTS: which were measured)."""
    ka_offer = ("loadgen, the same offer as the handshake runs" if ctx.load == "loadgen"
                else "wrk, offering only TLS_AES_128_GCM_SHA256 and X25519")
    lines = ["Negotiated (openssl s_client before the runs; protocol, cipher, key exchange):", ""]
    lines += table([("target", "l"), ("keep-alive runs (%s)" % ka_offer, "l"),
                    ("handshake runs (loadgen's rustls offer: %s)" % offer, "l")],
                   [[n["target"], n["keepalive"], n["handshakes"]] for n in negotiated])
    if len({(n["keepalive"], n["handshakes"]) for n in negotiated}) > 1:
        lines += ["", "**WARNING: the proxies did not all negotiate the same.**"]
    lines.append("")
    if parts != "keepalive,handshakes":
        lines.append("Measured: %s only (TLS_PARTS)." % parts)
    if "keepalive" in parts:
        lines += ["", "## Keep-alive requests over TLS (%s -t1 -c%s https://…)" % (ctx.load, ctx.conns), ""]
        lines += _summary_of("http", ctx, csv_path)
    if "handshakes" in parts:
        lines += ["", "## New full TLS handshakes (loadgen --new-conn --no-resume -c %s -t 1)" % ctx.hs_conns, ""]
        lines += _summary_of("hs", ctx, hs_csv_path)
    return lines


def idle_report(ctx, csv_path, counts):
    """Mode idle: the medians of KiB per connection per target and connection count, then every run."""
    rows = read_rows(csv_path)
    targets = [t for t in ctx.targets if t != "direct"]
    med = []
    for t in targets:
        for n in counts:
            mine = [r for r in of_target(rows, t) if r["conns"] == n]
            med.append([t, n, fmt(median_of(mine, "kib_per_conn"), "%.3f", "nan"),
                        fmt(median_of(mine, "anon_kib_per_conn"), "%.3f", "nan")])
    lines = table([("target", "l"), ("connections", "r"), ("KiB/conn VmRSS (median)", "r"),
                   ("KiB/conn RssAnon (median)", "r")], med)
    lines += ["", "Raw runs:", ""]
    lines += render(_RAW_HEAD + [
        Col("conns", "r", lambda r: r["conns"]),
        Col("VmRSS before KiB", "r", lambda r: r["rss_before_kib"]),
        Col("VmRSS idle KiB", "r", lambda r: r["rss_idle_kib"]),
        Col("VmRSS after close KiB", "r", lambda r: r["rss_after_close_kib"]),
        Col("KiB/conn", "r", lambda r: r["kib_per_conn"]),
        Col("RssAnon KiB/conn", "r", lambda r: r["anon_kib_per_conn"]),
        Col("mappings before → idle", "l", lambda r: "%s → %s" % (r["maps_before"], r["maps_idle"])),
        Col("client conns established", "r", lambda r: r["client_conns_established"]),
        Col("backend conns", "r", lambda r: r["backend_conns_established"]),
        Col("client", "l", lambda r: "%s; %s" % (r["client_ready"].replace(";", " "), r["client_done"].replace(";", " "))),
    ], rows)
    return lines


# ------------------------------------------------------------------ rules


# Mode rules' targets (see rules.py) by their letter in the issue's wording, and what they are.
RULES_TARGETS = (
    ("spillway", "a", "spillway, no rules"),
    ("spillway-rules", "b", "spillway, the rules in TOML"),
    ("haproxy-rules", "c", "HAProxy, the same rules as acl + use_backend"),
    ("spillway-haproxy-cfg", "d", "spillway on (c)'s haproxy.cfg"),
    ("haproxy", "", "HAProxy, no rules (reference)"),
)
_RULES_LETTER = {t: l for t, l, _ in RULES_TARGETS}
_RULES_WHAT = {t: w for t, _, w in RULES_TARGETS}

# The ratios mode rules reports: (name, numerator target, denominator target).
RULES_RATIOS = (
    ("(b)/(a)", "spillway-rules", "spillway"),
    ("(d)/(a)", "spillway-haproxy-cfg", "spillway"),
    ("(b)/(c)", "spillway-rules", "haproxy-rules"),
    ("(d)/(c)", "spillway-haproxy-cfg", "haproxy-rules"),
    ("(c)/HAProxy without rules", "haproxy-rules", "haproxy"),
)

# Issue 17's goals on the CPU per request: (ratio, at most, what it says).
RULES_GOALS = (
    ("(b)/(a)", 1.05, "%d rules cost ≤ 5 %% over none (TOML)"),
    ("(d)/(a)", 1.05, "%d rules cost ≤ 5 %% over none (haproxy.cfg)"),
    ("(b)/(c)", 1.00, "≤ HAProxy's cost for the same rules (TOML)"),
    ("(d)/(c)", 1.00, "≤ HAProxy's cost for the same rules (haproxy.cfg)"),
)


def rules_label(target):
    """A target of mode rules as the tables name it: "(b) spillway-rules"."""
    letter = _RULES_LETTER.get(target, "")
    return "(%s) %s" % (letter, target) if letter else target


class Rules(Http):
    """Mode rules: the HTTP runs of the four targets, the ratios between them and issue 17's goals."""

    def __init__(self, rules=20, host="", path=""):
        self.rules = rules
        self.host = host
        self.path = path

    def medians(self, rows):
        m = Http.medians(self, rows)
        m["user"] = median_of(rows, "proxy_user_us_per_req")
        m["sys"] = median_of(rows, "proxy_sys_us_per_req")
        m["errors"] = int(total(rows, "errors"))
        m["non2xx"] = int(total(rows, "non2xx"))
        return m

    def medians_cols(self, ctx, med):
        ca = self.base(ctx, med, "spillway", "cpu")
        cc = self.base(ctx, med, "haproxy-rules", "cpu")
        return [Col("target", "l", rules_label), Col("what", "l", lambda t: _RULES_WHAT.get(t, "")),
                Col("runs", "r", lambda t: med[t]["n"]),
                Col("req/s (median)", "r", lambda t: fmt(med[t]["rps"], "%.0f")),
                Col("p50 ms", "r", lambda t: fmt(_millis(med[t]["p50"]), "%.3f")),
                Col("p99 ms", "r", lambda t: fmt(_millis(med[t]["p99"]), "%.3f")),
                Col("proxy CPU µs/req", "r", lambda t: fmt(med[t]["cpu"], "%.2f")),
                Col("user / kernel", "l", lambda t: "%s / %s" % (fmt(med[t]["user"], "%.2f"), fmt(med[t]["sys"], "%.2f"))),
                Col("CPU/req ÷ (a)", "r", lambda t: fmt(ratio(med[t]["cpu"], ca), "%.3f")),
                Col("CPU/req ÷ (c)", "r", lambda t: fmt(ratio(med[t]["cpu"], cc), "%.3f")),
                Col("errors (non-2xx)", "l", lambda t: "%d (%d)" % (med[t]["errors"], med[t]["non2xx"]))]

    def ratios(self, ctx, rows, med):
        """The ratios whose two targets were run: a list of dicts (name, num, den, cpu, cpu_paired,
        rps, p99); None for what cannot be worked out."""
        out = []
        for name, a, b in RULES_RATIOS:
            if not ctx.has(a, b):
                continue
            out.append({"name": name, "num": a, "den": b,
                        "cpu": ratio(med[a]["cpu"], med[b]["cpu"]),
                        "cpu_paired": paired_ratio(rows, "proxy_us_per_req", a, b),
                        "rps": ratio(med[a]["rps"], med[b]["rps"]),
                        "p99": ratio(med[a]["p99"], med[b]["p99"])})
        return out

    def goals(self, ctx, rows, med):
        """Issue 17's goals that this run can judge: dicts (goal, ratio, limit, value, met)."""
        by = {r["name"]: r for r in self.ratios(ctx, rows, med)}
        out = []
        for name, limit, what in RULES_GOALS:
            if name in by:
                v = by[name]["cpu"]
                out.append({"goal": what % self.rules if "%d" in what else what, "ratio": name, "limit": limit, "value": v,
                            "met": None if v is None else v <= limit})
        return out

    def goal_lines(self, ctx, rows, med):
        g = self.goals(ctx, rows, med)
        if not g:
            return ["- goals: n/a (they need spillway and spillway-rules or spillway-haproxy-cfg, and haproxy-rules)"]
        out = list(_GOALS_HEAD)
        for x in g:
            out.append("| %s: proxy CPU/request %s ≤ %.2f | %s | %s |" % (
                x["goal"], x["ratio"], x["limit"], fmt(x["value"], "%.3f", "n/a"),
                "n/a" if x["met"] is None else _met(x["met"])))
        return out

    def routing_line(self, ctx, rows):
        bad = int(total([r for r in rows if r["target"] != "spillway" and r["target"] != "haproxy"], "non2xx"))
        if bad:
            return "**Routing: %d answers of the rules' targets were not 2xx**: requests the rules did not route went to the default (421)." % bad
        return "Routing: every answer through the rules' targets was 2xx (a request no rule routes gets the default's 421)."

    def rule_cost_line(self, ctx, med):
        """The rules' own cost per request, spillway's against HAProxy's (needs target haproxy)."""
        if not ctx.has("spillway", "spillway-rules", "haproxy", "haproxy-rules"):
            return []
        s = _nan(med["spillway-rules"]["cpu"]) - _nan(med["spillway"]["cpu"])
        h = _nan(med["haproxy-rules"]["cpu"]) - _nan(med["haproxy"]["cpu"])
        return ["- the rules' own cost (medians): spillway (b) − (a) %.2f µs/req, HAProxy (c) − (no rules) %.2f µs/req" % (s, h)]

    def ratio_lines(self, ctx, rows, med):
        rs = self.ratios(ctx, rows, med)
        if not rs:
            return []
        return table([("ratio", "l"), ("CPU/req (of the medians)", "r"), ("CPU/req (median of per-round ratios)", "r"),
                      ("req/s", "r"), ("p99", "r")],
                     [[r["name"] + " = %s ÷ %s" % (r["num"], r["den"]), fmt(r["cpu"], "%.3f"), fmt(r["cpu_paired"], "%.3f"),
                       fmt(r["rps"], "%.3f"), fmt(r["p99"], "%.3f")] for r in rs])

    def after_all(self, ctx, rows, med):
        return (self.ratio_lines(ctx, rows, med) + [""] + self.goal_lines(ctx, rows, med) + [""]
                + self.rule_cost_line(ctx, med) + [self.routing_line(ctx, rows)])

    def after_quiet(self, ctx, rows, med):
        rows = quiet(rows, ctx.quiet_pct)  # the per-round ratios of the quiet runs too
        return [""] + self.ratio_lines(ctx, rows, med) + [""] + self.goal_lines(ctx, rows, med)

    def notes(self, ctx):
        out = [
            "The request: `GET %s` with `Host: %s`, %s -t1 -c%d keep-alive; it matches only rule %d of %d" % (
                self.path, self.host, ctx.load, ctx.conns, self.rules, self.rules),
            "(rule i: host hI.example and path /pI/*), so every rule before it is evaluated and fails. Every rule's group",
            "(backend) is the same backend nginx; the default, which no measured request should reach, answers 421.",
            "Each run starts its proxy afresh (HAProxy and spillway (d) read the same file, so they cannot run side by",
            "side), checks the routing with curl, warms it up (--warmup s, not recorded), then measures it and stops it.",
            "CPU µs/req: the proxy process's utime+stime (all threads, /proc/PID/stat) over the run ÷ requests completed.",
            "The goals are judged on the ratios of the medians over all runs (and again over the quiet runs).",
        ]
        return out + [ctx.rounds_line()]


def rules_report(ctx, csv_path, rules=20, host="", path=""):
    """Mode rules: the summary body (lines) and what the JSON summary holds (a dict)."""
    spec = Rules(rules, host, path)
    rows = read_rows(csv_path)
    lines = summary(spec, ctx, rows)
    return lines, rules_json(spec, ctx, rows)


def rules_json(spec, ctx, rows):
    """The figures of mode rules' summary as data: medians per target, ratios and goals, over all
    runs and over the quiet runs."""

    def part(max_noise):
        sel = quiet(rows, max_noise)
        med = {}
        for t in ctx.targets:
            mine = of_target(sel, t)
            m = spec.medians(mine)
            med[t] = {"runs": len(mine), "rps": m["rps"], "p50_us": m["p50"], "p99_us": m["p99"],
                      "cpu_us_per_req": m["cpu"], "user_us_per_req": m["user"], "sys_us_per_req": m["sys"],
                      "errors": m["errors"], "non2xx": m["non2xx"]}
        inner = {t: {"cpu": med[t]["cpu_us_per_req"], "rps": med[t]["rps"], "p99": med[t]["p99_us"]} for t in med}
        return {"targets": med, "ratios": spec.ratios(ctx, sel, inner), "goals": spec.goals(ctx, sel, inner)}

    return {"mode": "rules", "rules": spec.rules, "host": spec.host, "path": spec.path, "load": ctx.load,
            "conns": ctx.conns, "runs": ctx.runs, "seconds": ctx.seconds, "targets": ctx.targets,
            "all": part(100), "quiet": dict(part(ctx.quiet_pct), max_foreign_pct=ctx.quiet_pct)}
