"""Tidy-tree layout: node positions for the flow tree view, as a pure function.

Theory of operation. This is Walker's algorithm in the linear-time form of
Buchheim, Jünger and Leipert ("Improving Walker's Algorithm to Run in Linear
Time", 2002). A first, post-order walk gives every node a preliminary x
relative to its siblings and pushes each subtree right just as far as its
left neighbours' contours require (``_apportion``, following threads along the
contours); shifts are spread over the subtrees in between in O(1) each
(``_move_subtree`` / ``_execute_shifts``). A second, pre-order walk adds up
the modifiers into final x positions. The result is the classic tidy tree:
no two nodes overlap, a parent is centred over its first and last child,
identical subtrees are drawn identically, and the drawing is as narrow as
those rules allow.

Flow trees can hold 20,000 jobs and be a thousand levels deep, so both walks
use explicit stacks, never recursion. Nodes are addressed by dense integer
indices internally for speed; the public function takes and returns job ids.

Collapsed nodes are drawn but their descendants are not laid out at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence, Set
from dataclasses import dataclass

Children = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class LayoutOptions:
    node_width: float = 190.0
    node_height: float = 70.0
    h_gap: float = 24.0  # between neighbouring nodes of one level
    v_gap: float = 56.0  # between levels


@dataclass(frozen=True)
class Point:
    x: float  # left edge of the node box
    y: float  # top edge of the node box


@dataclass(frozen=True)
class Layout:
    positions: Mapping[str, Point]  # visible nodes only
    edges: tuple[tuple[str, str], ...]  # (parent, child) among visible nodes
    width: float
    height: float
    options: LayoutOptions

    def center(self, node: str) -> tuple[float, float]:
        p = self.positions[node]
        return p.x + self.options.node_width / 2, p.y + self.options.node_height / 2


class _Tree:
    """Struct-of-arrays working state for the two walks."""

    def __init__(self, root: str, children: Children, collapsed: Set[str]) -> None:
        self.ids: list[str] = [root]
        self.parent: list[int] = [-1]
        self.kids: list[list[int]] = [[]]
        self.number: list[int] = [0]  # position among siblings
        self.depth: list[int] = [0]
        stack = [0]
        while stack:
            v = stack.pop()
            if self.ids[v] in collapsed:
                continue
            for i, child in enumerate(children(self.ids[v])):
                c = len(self.ids)
                self.ids.append(child)
                self.parent.append(v)
                self.kids.append([])
                self.number.append(i)
                self.depth.append(self.depth[v] + 1)
                self.kids[v].append(c)
                stack.append(c)
        n = len(self.ids)
        self.prelim = [0.0] * n
        self.mod = [0.0] * n
        self.shift = [0.0] * n
        self.change = [0.0] * n
        self.thread = [-1] * n
        self.ancestor = list(range(n))

    def left_sibling(self, v: int) -> int:
        p = self.parent[v]
        return -1 if p < 0 or self.number[v] == 0 else self.kids[p][self.number[v] - 1]

    def next_left(self, v: int) -> int:
        kids = self.kids[v]
        return kids[0] if kids else self.thread[v]

    def next_right(self, v: int) -> int:
        kids = self.kids[v]
        return kids[-1] if kids else self.thread[v]


def _move_subtree(t: _Tree, wl: int, wr: int, shift: float) -> None:
    subtrees = t.number[wr] - t.number[wl]
    t.change[wr] -= shift / subtrees
    t.shift[wr] += shift
    t.change[wl] += shift / subtrees
    t.prelim[wr] += shift
    t.mod[wr] += shift


def _execute_shifts(t: _Tree, v: int) -> None:
    shift = change = 0.0
    for w in reversed(t.kids[v]):
        t.prelim[w] += shift
        t.mod[w] += shift
        change += t.change[w]
        shift += t.shift[w] + change


def _apportion(t: _Tree, v: int, default_ancestor: int, distance: float) -> int:
    w = t.left_sibling(v)
    if w < 0:
        return default_ancestor
    vip = vop = v  # inside / outside, right contour
    vim = w  # inside, left contour
    vom = t.kids[t.parent[v]][0]  # outside, left contour
    sip, sop, sim, som = t.mod[vip], t.mod[vop], t.mod[vim], t.mod[vom]
    while t.next_right(vim) >= 0 and t.next_left(vip) >= 0:
        vim = t.next_right(vim)
        vip = t.next_left(vip)
        vom = t.next_left(vom)
        vop = t.next_right(vop)
        t.ancestor[vop] = v
        shift = (t.prelim[vim] + sim) - (t.prelim[vip] + sip) + distance
        if shift > 0:
            anc = t.ancestor[vim]
            wl = anc if t.parent[anc] == t.parent[v] else default_ancestor
            _move_subtree(t, wl, v, shift)
            sip += shift
            sop += shift
        sim += t.mod[vim]
        sip += t.mod[vip]
        som += t.mod[vom]
        sop += t.mod[vop]
    if t.next_right(vim) >= 0 and t.next_right(vop) < 0:
        t.thread[vop] = t.next_right(vim)
        t.mod[vop] += sim - sop
    if t.next_left(vip) >= 0 and t.next_left(vom) < 0:
        t.thread[vom] = t.next_left(vip)
        t.mod[vom] += sip - som
        default_ancestor = v
    return default_ancestor


def _first_walk(t: _Tree, distance: float) -> None:
    default_ancestor = [kids[0] if kids else -1 for kids in t.kids]
    stack: list[tuple[int, bool]] = [(0, False)]
    while stack:
        v, expanded = stack.pop()
        if not expanded:
            stack.append((v, True))
            stack.extend((c, False) for c in reversed(t.kids[v]))
            continue
        # All of v's children are finished (and apportioned): place v.
        w = t.left_sibling(v)
        kids = t.kids[v]
        if not kids:
            t.prelim[v] = t.prelim[w] + distance if w >= 0 else 0.0
        else:
            _execute_shifts(t, v)
            midpoint = (t.prelim[kids[0]] + t.prelim[kids[-1]]) / 2
            if w >= 0:
                t.prelim[v] = t.prelim[w] + distance
                t.mod[v] = t.prelim[v] - midpoint
            else:
                t.prelim[v] = midpoint
        # Apportion v against its left siblings before the next sibling is
        # placed, exactly where the recursive algorithm does it.
        p = t.parent[v]
        if p >= 0:
            default_ancestor[p] = _apportion(t, v, default_ancestor[p], distance)


def _second_walk(t: _Tree) -> list[float]:
    x = [0.0] * len(t.ids)
    stack: list[tuple[int, float]] = [(0, -t.prelim[0])]
    while stack:
        v, m = stack.pop()
        x[v] = t.prelim[v] + m
        for c in t.kids[v]:
            stack.append((c, m + t.mod[v]))
    return x


def layout(
    root: str,
    children: Children,
    collapsed: Set[str] = frozenset(),
    options: LayoutOptions | None = None,
) -> Layout:
    """Lay out the tree under ``root``; ``children(id)`` lists a node's children.

    Descendants of nodes in ``collapsed`` are hidden. Positions are box
    top-left corners, shifted so that the leftmost box starts at x = 0.
    """
    opts = options or LayoutOptions()
    t = _Tree(root, children, collapsed)
    _first_walk(t, opts.node_width + opts.h_gap)
    xs = _second_walk(t)
    left = min(xs)
    level = opts.node_height + opts.v_gap
    positions = {node: Point(xs[i] - left, t.depth[i] * level) for i, node in enumerate(t.ids)}
    edges = tuple((t.ids[t.parent[i]], t.ids[i]) for i in range(1, len(t.ids)))
    width = max(xs) - left + opts.node_width
    height = max(t.depth) * level + opts.node_height
    return Layout(positions, edges, width, height, opts)
