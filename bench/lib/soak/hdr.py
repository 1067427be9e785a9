"""Reads loadgen's `--hdr-log` (HdrHistogram interval log, V2 compressed histograms, values in
microseconds), so the soak can merge the seconds inside reload windows into one histogram and
the seconds outside into another, and give a true p99 of each (per-second p99s cannot be
averaged into one).

The encoding (HdrHistogram's V2, as the Rust and Java libraries write it): base64 of
[cookie u32][length u32][zlib stream]; inflated: [cookie u32][payload length u32]
[normalizing offset u32][significant digits u32][lowest u64][highest u64][ratio f64], then the
counts as ZigZag LEB128 numbers, a negative number standing for that many empty buckets.
"""

import base64
import math
import struct
import zlib

HEADER = struct.Struct(">iiiiqqd")


def _varints(data):
    """ZigZag LEB128 numbers (at most 9 bytes each, the 9th carrying 8 bits)."""
    i, n = 0, len(data)
    while i < n:
        value, shift = 0, 0
        for k in range(9):
            b = data[i]
            i += 1
            if k == 8:
                value |= b << shift
                break
            value |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                break
        yield (value >> 1) ^ -(value & 1)


class Layout:
    """Bucket geometry of a histogram: which value an index stands for."""

    def __init__(self, lowest, digits):
        largest_single_unit = 2 * 10**digits
        self.sub_count_magnitude = max(1, math.ceil(math.log2(largest_single_unit)))
        self.sub_half_magnitude = self.sub_count_magnitude - 1
        self.sub_half = 1 << self.sub_half_magnitude
        self.unit_magnitude = max(0, int(math.floor(math.log2(max(1, lowest)))))

    def highest_equivalent(self, index):
        bucket = (index >> self.sub_half_magnitude) - 1
        sub = (index & (self.sub_half - 1)) + self.sub_half
        if bucket < 0:
            sub -= self.sub_half
            bucket = 0
        shift = bucket + self.unit_magnitude
        return (sub << shift) + (1 << shift) - 1


def decode(encoded):
    """(Layout, {index: count}) of one base64 V2 compressed histogram."""
    raw = base64.b64decode(encoded)
    _cookie, length = struct.unpack(">ii", raw[:8])
    data = zlib.decompress(raw[8 : 8 + length])
    _cookie, payload_len, _offset, digits, lowest, _highest, _ratio = HEADER.unpack(data[: HEADER.size])
    counts, index = {}, 0
    for v in _varints(data[HEADER.size : HEADER.size + payload_len]):
        if v < 0:
            index += -v
        else:
            if v:
                counts[index] = counts.get(index, 0) + v
            index += 1
    return Layout(lowest, digits), counts


def read_log(path, tag=None):
    """[(start_s, Layout, counts)] of the intervals of `path` with tag `tag` (None: untagged,
    loadgen's corrected latency)."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#") or line.startswith('"'):
                continue
            this_tag = None
            if line.startswith("Tag="):
                this_tag, line = line[4:].split(",", 1)
            if this_tag != tag:
                continue
            fields = line.split(",")
            if len(fields) < 4:
                continue
            layout, counts = decode(fields[3])
            out.append((float(fields[0]), layout, counts))
    return out


def merge(intervals):
    """(Layout, counts) of the intervals together (None when there are none)."""
    if not intervals:
        return None
    total = {}
    for _, _, counts in intervals:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return intervals[0][1], total


def percentile(merged, q):
    """The value at percentile `q` (0..100) of a merged histogram, or None when empty."""
    if merged is None:
        return None
    layout, counts = merged
    n = sum(counts.values())
    if n == 0:
        return None
    want = max(1, math.ceil(q / 100.0 * n))
    seen = 0
    for index in sorted(counts):
        seen += counts[index]
        if seen >= want:
            return layout.highest_equivalent(index)
    return None
