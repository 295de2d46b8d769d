"""The listing commands' tables, as plain text: columns padded to their widest cell, two spaces apart.

Not a Rich `Table`: Rich read every cell as console markup, so a title such as `- [x] done` lost its
`[x]` and one with `[/]` crashed the command; and it measured and wrapped every cell through its
renderables, about 0.6 ms a row (1.2 s for `polpo show` of a 2,000-task mission, against a few ms here).
Widths are terminal cells (`rich.cells`), so wide characters line up. A table wider than the page
shrinks its widest columns and folds their cells onto more lines, as Rich's `fold` did.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, chop_cells

#: Cells a shrunk column keeps at least (or its header's width, if wider).
MIN_WIDTH = 8
GAP = "  "


def render_table(columns: Sequence[str], rows: Sequence[Sequence[str]], *, width: int) -> list[str]:
    """The table's lines (header first), at most `width` cells wide unless its columns cannot shrink
    that far."""
    widths = [max([cell_len(column), *(cell_len(row[i]) for row in rows)]) for i, column in enumerate(columns)]
    _shrink(widths, [max(cell_len(c), MIN_WIDTH) for c in columns], width - len(GAP) * (len(columns) - 1))
    return [line for row in (columns, *rows) for line in _row_lines(row, widths)]


def _shrink(widths: list[int], floors: list[int], room: int) -> None:
    """Narrow the widest column a cell at a time until all fit in `room`, or every column is at its floor."""
    while sum(widths) > room:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            return
        widths[max(shrinkable, key=widths.__getitem__)] -= 1


def _row_lines(row: Sequence[str], widths: list[int]) -> list[str]:
    """One row as lines: each cell folded to its column's width, padded, the line's end trimmed."""
    cells = [_fold(cell, width) for cell, width in zip(row, widths, strict=True)]
    height = max(len(c) for c in cells)
    return [GAP.join(_pad(c[n] if n < len(c) else "", w) for c, w in zip(cells, widths, strict=True)).rstrip()
            for n in range(height)]


def _pad(text: str, width: int) -> str:
    return text + " " * (width - cell_len(text))


def _fold(text: str, width: int) -> list[str]:
    """The cell's lines: its own line breaks, then words wrapped to `width` (a longer word cut)."""
    if "\n" not in text and cell_len(text) <= width:
        return [text]
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            candidate = f"{line} {word}" if line else word
            if cell_len(candidate) <= width:
                line = candidate
                continue
            if line:
                lines.append(line)
            pieces = chop_cells(word, width) if cell_len(word) > width else [word]
            lines.extend(pieces[:-1])
            line = pieces[-1] if pieces else ""
        lines.append(line)
    return lines
