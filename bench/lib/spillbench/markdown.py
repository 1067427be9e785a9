"""The one Markdown table writer of the bench's summaries."""


def table(columns, rows):
    """A Markdown table: COLUMNS is a list of (header, align), align "l" or "r"; ROWS a list of
    lists of cells (strings or numbers). Returns the lines."""
    out = ["| " + " | ".join(h for h, _ in columns) + " |",
           "|" + "|".join("---:" if a == "r" else "---" for _, a in columns) + "|"]
    for r in rows:
        if len(r) != len(columns):
            raise ValueError("row has %d cells for %d columns: %r" % (len(r), len(columns), r))
        out.append("| " + " | ".join(str(c) for c in r) + " |")
    return out


class Col:
    """A column of a table: its header, its alignment ("l" or "r") and how a cell is made from
    one item (a CSV row of a raw-runs table, or a target's medians)."""

    def __init__(self, header, align, cell):
        self.header = header
        self.align = align
        self.cell = cell


def render(cols, items):
    """The table of COLS (Col) over ITEMS: one row per item."""
    return table([(c.header, c.align) for c in cols], [[c.cell(i) for c in cols] for i in items])
