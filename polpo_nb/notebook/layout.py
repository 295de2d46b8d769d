"""A layered drawing of a mission's DAG: one column per dependency depth, the same for the live widget
and the static HTML (both draw the coordinates computed here, so they show the same picture)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..spec.graph import layers

NODE_W = 184
NODE_H = 48
GAP_X = 56
GAP_Y = 12
PAD = 8


@dataclass(frozen=True)
class Layout:
    #: (x, y) of each node's top-left corner, in the order of the input
    positions: list[tuple[int, int]]
    #: (dependency index, dependent index) pairs
    edges: list[tuple[int, int]]
    width: int
    height: int


def layered_layout(titles: Sequence[str], depends_on: Sequence[Sequence[str]]) -> Layout:
    """Columns by longest-path depth (`spec.graph.layers`); inside a column, nodes ordered by the mean
    row of their dependencies (one barycentre sweep, ties in input order) to keep edges short."""
    index = {t: i for i, t in enumerate(titles)}
    deps = {t: [d for d in ds if d in index] for t, ds in zip(titles, depends_on, strict=True)}
    depth = layers(deps)
    columns: dict[int, list[int]] = {}
    for i, title in enumerate(titles):
        columns.setdefault(depth.get(title, 0), []).append(i)
    row: dict[int, float] = {}
    for col in sorted(columns):
        members = columns[col]

        def barycentre(i: int) -> float:
            rows = [row[index[d]] for d in deps[titles[i]] if index[d] in row]
            return sum(rows) / len(rows) if rows else float(i)

        if col > 0:
            members.sort(key=lambda i: (barycentre(i), i))
        for r, i in enumerate(members):
            row[i] = r
    positions = []
    for i, title in enumerate(titles):
        col = depth.get(title, 0)
        positions.append((PAD + col * (NODE_W + GAP_X), PAD + int(row[i]) * (NODE_H + GAP_Y)))
    edges = [(index[d], i) for i, title in enumerate(titles) for d in deps[title]]
    n_cols = max(columns, default=-1) + 1
    n_rows = max((len(m) for m in columns.values()), default=0)
    width = 2 * PAD + max(0, n_cols * (NODE_W + GAP_X) - GAP_X)
    height = 2 * PAD + max(0, n_rows * (NODE_H + GAP_Y) - GAP_Y)
    return Layout(positions, edges, width, height)


def edge_path(src: tuple[int, int], dst: tuple[int, int]) -> str:
    """An SVG cubic from the right middle of `src` to the left middle of `dst` (the JS draws the same)."""
    x1, y1 = src[0] + NODE_W, src[1] + NODE_H // 2
    x2, y2 = dst[0], dst[1] + NODE_H // 2
    mid = (x1 + x2) // 2
    return f"M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}"
