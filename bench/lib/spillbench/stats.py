"""CSV rows by column name, and the statistics of the summaries: medians, ratios, paired ratios."""

import csv
import glob
import statistics

from . import columns as _columns


def read_rows(path):
    """The rows of a CSV file as dicts keyed by the header's column names ([] for no path)."""
    if not path:
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def write_header(path, kind):
    """Start PATH as a CSV of run KIND (l4, http, hs, idle): its header line only."""
    with open(path, "w", newline="") as f:
        csv.writer(f, lineterminator="\n").writerow(_columns.BY_KIND[kind])


def append_row(path, kind, row):
    """Append ROW (a dict: column name -> value) to the CSV of run KIND; missing columns stay empty."""
    cols = _columns.BY_KIND[kind]
    unknown = set(row) - set(cols)
    if unknown:
        raise KeyError("not a column of the %s CSV: %s" % (kind, ", ".join(sorted(unknown))))
    with open(path, "a", newline="") as f:
        csv.DictWriter(f, cols, lineterminator="\n").writerow(row)


def latest(pattern, exclude=None):
    """The last (newest by name: the names carry a timestamp) file matching PATTERN."""
    files = sorted(f for f in glob.glob(pattern) if not (exclude and f.endswith(exclude)))
    return files[-1] if files else None


def num(v):
    """A CSV value as a float; None for an empty or non-numeric one."""
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def median(values):
    """The median of the values that are not None; None when there is none."""
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


def median_of(rows, key):
    """The median of column KEY over ROWS, leaving out the empty cells."""
    return median(num(r.get(key)) for r in rows)


def max_of(rows, key):
    vals = [num(r.get(key)) for r in rows]
    vals = [v for v in vals if v is not None]
    return max(vals) if vals else None


def total(rows, *keys):
    """The sum of columns KEYS over ROWS (empty cells count 0), rounded to 9 decimals: the cells
    are decimals with a few places, and their sum should not carry float addition's noise
    (53.68 + 88.735 is 142.41500000000002, which would print as 142.42)."""
    return round(sum(num(r.get(k)) or 0 for r in rows for k in keys), 9)


def ratio(a, b):
    """a / b, or None when either is missing or b is not positive."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def quiet(rows, max_noise):
    """The runs whose foreign load (noise_pct) is at most MAX_NOISE % (100: all of them)."""
    return [r for r in rows if (num(r.get("noise_pct")) or 0) <= max_noise]


def of_target(rows, target):
    return [r for r in rows if r.get("target") == target]


def paired_ratio(rows, key, a, b):
    """The median over the rounds of (column KEY of target A ÷ that of target B in the same
    round); None when no round has both (or B's value is not positive)."""
    by = {(r.get("round"), r.get("target")): num(r.get(key)) for r in rows}
    rounds = dict.fromkeys(r.get("round") for r in rows)
    return median(ratio(by[(k, a)], by.get((k, b))) for k in rounds if (k, a) in by)


def fmt(x, spec, missing="—"):
    """X formatted with SPEC (printf style), MISSING when X is None."""
    return missing if x is None else spec % x
