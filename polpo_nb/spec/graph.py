"""Graph helpers over `{title: [dependency titles]}` maps, shared by validation, engine and views."""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def find_cycle(deps: Mapping[str, Sequence[str]]) -> list[str] | None:
    """A dependency cycle as `[a, b, ..., a]`, or None. Iterative, so deep graphs do not recurse."""
    white, grey, black = 0, 1, 2
    colour = dict.fromkeys(deps, white)
    for root in deps:
        if colour[root] != white:
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = [root]
        colour[root] = grey
        while stack:
            node, i = stack[-1]
            children = deps.get(node, ())
            if i < len(children):
                stack[-1] = (node, i + 1)
                child = children[i]
                if child not in colour:
                    continue
                if colour[child] == grey:
                    return path[path.index(child) :] + [child]
                if colour[child] == white:
                    colour[child] = grey
                    stack.append((child, 0))
                    path.append(child)
            else:
                colour[node] = black
                stack.pop()
                path.pop()
    return None


def layers(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest-path layer of every node (0 for roots): the column of a layered DAG drawing."""
    order = topological_order(deps)
    depth: dict[str, int] = {}
    for node in order:
        depth[node] = 1 + max((depth[d] for d in deps.get(node, ()) if d in depth), default=-1)
    return depth


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Kahn's order, stable in the mapping's order. Assumes no cycle (checked by `find_cycle`)."""
    indegree = {n: sum(1 for d in ds if d in deps) for n, ds in deps.items()}
    dependents: dict[str, list[str]] = {n: [] for n in deps}
    for n, ds in deps.items():
        for d in ds:
            if d in dependents:
                dependents[d].append(n)
    ready = [n for n, k in indegree.items() if k == 0]
    order: list[str] = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for child in dependents[node]:
            indegree[child] -= 1
            if indegree[child] == 0:
                ready.append(child)
    return order


def descendants(deps: Mapping[str, Sequence[str]], roots: set[str]) -> set[str]:
    """Every node that depends, directly or not, on one of `roots` (roots excluded)."""
    dependents: dict[str, list[str]] = {}
    for n, ds in deps.items():
        for d in ds:
            dependents.setdefault(d, []).append(n)
    seen: set[str] = set()
    frontier = list(roots)
    while frontier:
        for child in dependents.get(frontier.pop(), ()):
            if child not in seen:
                seen.add(child)
                frontier.append(child)
    return seen
