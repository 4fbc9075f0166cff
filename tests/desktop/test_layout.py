"""Table tests for the tidy-tree layout: shape rules, not pixel values."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence

import pytest

from desktop.layout import Layout, LayoutOptions, layout

OPTS = LayoutOptions(node_width=100, node_height=40, h_gap=20, v_gap=30)


def tree_of(spec: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    return {k: list(v) for k, v in spec.items()}


def chain(n: int) -> dict[str, list[str]]:
    return {str(i): [str(i + 1)] for i in range(n - 1)}


def wide(n: int) -> dict[str, list[str]]:
    return {"r": [f"c{i}" for i in range(n)]}


def random_tree(n: int, seed: int) -> dict[str, list[str]]:
    rng = random.Random(seed)
    kids: dict[str, list[str]] = {"0": []}
    for i in range(1, n):
        parent = str(rng.randrange(0, i))
        kids.setdefault(parent, []).append(str(i))
        kids[str(i)] = []
    return kids


def skewed(n: int) -> dict[str, list[str]]:
    # A left spine with a bushy right side: stresses the contour threads.
    kids: dict[str, list[str]] = {}
    for i in range(n):
        kids[f"s{i}"] = [f"s{i + 1}", f"b{i}"] if i < n - 1 else [f"b{i}"]
        kids[f"b{i}"] = [f"b{i}.{j}" for j in range(i % 4)]
    return kids


TREES = {
    "single": {"r": []},
    "pair": {"r": ["a"]},
    "three": {"r": ["a", "b", "c"]},
    "uneven": {"r": ["a", "b"], "a": ["a1", "a2", "a3"], "b": []},
    "nested": {"r": ["a", "b", "c"], "a": ["a1"], "c": ["c1", "c2"], "c2": ["x", "y", "z"]},
    "gap-filling": {"r": ["a", "b", "c"], "a": ["a1", "a2", "a3", "a4"], "c": ["c1", "c2", "c3"]},
    "chain-50": chain(50),
    "wide-200": wide(200),
    "random-500": random_tree(500, 1),
    "random-2000": random_tree(2000, 7),
    "skewed-60": skewed(60),
}


def run(spec: Mapping[str, Sequence[str]], root: str | None = None, **kw: object) -> Layout:
    kids = tree_of(spec)
    first = root or next(iter(spec))
    return layout(first, lambda n: kids.get(n, []), options=OPTS, **kw)  # type: ignore[arg-type]


def assert_no_overlap(result: Layout) -> None:
    by_level: dict[float, list[float]] = {}
    for p in result.positions.values():
        by_level.setdefault(p.y, []).append(p.x)
    for xs in by_level.values():
        xs.sort()
        for left, right in itertools.pairwise(xs):
            assert right - left >= OPTS.node_width + OPTS.h_gap - 1e-6


def assert_parents_centred(result: Layout, spec: Mapping[str, Sequence[str]]) -> None:
    for parent, kids in spec.items():
        if parent not in result.positions or not kids:
            continue
        visible = [k for k in kids if k in result.positions]
        if not visible:
            continue
        first, last = result.positions[visible[0]], result.positions[visible[-1]]
        assert result.positions[parent].x == pytest.approx((first.x + last.x) / 2)
        assert result.positions[parent].y < first.y


@pytest.mark.parametrize("name", sorted(TREES))
def test_tidy_rules(name: str) -> None:
    spec = TREES[name]
    result = run(spec)
    nodes = set(spec) | {c for kids in spec.values() for c in kids}
    assert set(result.positions) == nodes
    assert_no_overlap(result)
    assert_parents_centred(result, spec)
    assert min(p.x for p in result.positions.values()) == pytest.approx(0)
    # children keep their request order left to right
    for kids in spec.values():
        xs = [result.positions[k].x for k in kids]
        assert xs == sorted(xs)


@pytest.mark.parametrize("name", ["nested", "random-500", "skewed-60"])
def test_deterministic(name: str) -> None:
    assert run(TREES[name]).positions == run(TREES[name]).positions


def test_identical_subtrees_drawn_identically() -> None:
    spec = {"r": ["a", "b"], "a": ["a1", "a2"], "b": ["b1", "b2"]}
    result = run(spec)
    p = result.positions
    assert p["a2"].x - p["a1"].x == pytest.approx(p["b2"].x - p["b1"].x)
    assert p["a"].x - p["a1"].x == pytest.approx(p["b"].x - p["b1"].x)


def test_levels_by_depth() -> None:
    result = run(TREES["nested"])
    level = OPTS.node_height + OPTS.v_gap
    assert result.positions["r"].y == 0
    assert result.positions["c2"].y == 2 * level
    assert result.positions["z"].y == 3 * level
    assert result.height == 3 * level + OPTS.node_height


def test_collapsed_subtree_hidden_and_space_reclaimed() -> None:
    spec = TREES["gap-filling"]
    full = run(spec)
    folded = run(spec, collapsed={"a"})
    assert "a" in folded.positions
    assert not {"a1", "a2", "a3", "a4"} & set(folded.positions)
    assert ("a", "a1") not in folded.edges
    assert folded.width < full.width
    assert_no_overlap(folded)


def test_edges_link_visible_parent_child_pairs() -> None:
    spec = TREES["uneven"]
    result = run(spec)
    assert set(result.edges) == {(p, c) for p, kids in spec.items() for c in kids}


def test_deep_chain_needs_no_recursion() -> None:
    # far beyond Python's recursion limit
    result = run(chain(5000))
    assert len(result.positions) == 5000
    xs = {p.x for p in result.positions.values()}
    assert xs == {0.0}


def test_twenty_thousand_nodes_200_deep() -> None:
    spec: dict[str, list[str]] = {}
    # 100 branches, each a 200-long chain with a leaf on every node
    spec["root"] = [f"b{i}.0" for i in range(100)]
    for b in range(100):
        for d in range(99):
            spec[f"b{b}.{d}"] = [f"b{b}.{d + 1}", f"b{b}.{d}.leaf"]
    result = run(spec, root="root")
    assert len(result.positions) == 1 + 100 * 99 * 2 + 100
    assert_no_overlap(result)
