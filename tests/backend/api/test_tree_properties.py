"""Property tests of the tree validator and ``flatten``: random request trees.

A valid random tree survives validate -> flatten -> rebuild -> validate ->
flatten unchanged, keeps every node's fields, and links parents and children
as the request nested them. A tree with one fault planted at a random node
is refused with an error whose path names that node and field, whatever the
tree around it; the size and depth limits cut exactly at the limit.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.api.validation import join_path, validate_tree
from backend.domain.models import Job, JobState
from backend.domain.tree import flatten, walk
from backend.errors import ClientError, ValidationError
from backend.settings import DEFAULT_QUEUES, Settings

SETTINGS = Settings()
Node = dict[str, Any]

# JSON text cannot carry lone surrogates as UTF-8 (tests/fuzz checks the escaped form)
text = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)

POLICIES = ("failParentOnFailure", "ignoreDependencyOnFailure",
            "removeDependencyOnFailure", "continueParentOnFailure")  # fmt: skip
options = st.fixed_dictionaries(
    {},
    optional={
        "attempts": st.integers(1, 5),
        "delay": st.integers(0, 10_000),
        "priority": st.integers(0, 100),
        "timeout": st.integers(1, 60_000),
        "backoff": st.integers(0, 1000)
        | st.fixed_dictionaries(
            {"type": st.sampled_from(["fixed", "exponential"]), "delay": st.integers(0, 1000)}
        ),
    },
)


@st.composite
def trees(draw: st.DrawFn, max_depth: int = 4) -> Node:
    counter = itertools.count()

    def build(depth: int) -> Node:
        node: Node = {
            "name": draw(text.filter(lambda s: s.strip() != "")),
            "queueName": draw(st.sampled_from(DEFAULT_QUEUES)),
        }
        if draw(st.booleans()):
            node["data"] = draw(json_values)
        opts: dict[str, Any] = dict(draw(options))
        policy = draw(st.sampled_from([None, *POLICIES]))
        if policy is not None:
            opts[policy] = True
        if draw(st.booleans()):
            opts["jobId"] = f"job-{next(counter)}"
        empty_opts: bool = draw(st.booleans())
        if opts or empty_opts:
            node["opts"] = opts
        width = draw(st.integers(0, 3)) if depth < max_depth else 0
        if width or draw(st.booleans()):
            node["children"] = [build(depth + 1) for _ in range(width)]
        return node

    return build(1)


def nodes_of(tree: Node) -> list[tuple[str, Node]]:
    """(path, node) in pre-order, as the validator walks them."""
    out: list[tuple[str, Node]] = []
    stack = [("", tree)]
    while stack:
        path, node = stack.pop()
        out.append((path, node))
        prefix = f"{path}.children" if path else "children"
        children = node.get("children") or []
        stack.extend((f"{prefix}[{i}]", children[i]) for i in range(len(children) - 1, -1, -1))
    return out


def jobs_of(tree: Node) -> list[Job]:
    ids = itertools.count()
    spec = validate_tree(tree, SETTINGS).root
    return flatten(spec, "flow", now=1000, new_id=lambda: f"id-{next(ids)}")


def rebuild(jobs: list[Job]) -> Node:
    """The request a stored flow corresponds to, from its jobs' parent links."""
    by_id = {job.job_id: job for job in jobs}

    def node(job: Job) -> Node:
        out: Node = {"name": job.name, "queueName": job.queue_name, "data": job.data,
                     "opts": job.opts.to_json() | {"jobId": job.job_id}}  # fmt: skip
        if job.children:
            out["children"] = [node(by_id[c]) for c in job.children]
        return out

    return node(next(job for job in jobs if job.parent_id is None))


@settings(max_examples=150, deadline=None)
@given(tree=trees())
def test_valid_tree_round_trips_through_flatten(tree: Node) -> None:
    jobs = jobs_of(tree)
    expected = nodes_of(tree)
    assert len(jobs) == len(expected) == validate_tree(tree, SETTINGS).size
    by_id = {job.job_id: job for job in jobs}
    for job, (path, raw) in zip(jobs, expected, strict=True):
        assert job.name == raw["name"]
        assert job.queue_name == raw["queueName"]
        assert job.data == raw.get("data")
        assert job.depth == path.count("children[")
        opts = raw.get("opts") or {}
        assert job.opts.attempts == opts.get("attempts", 1)
        if "jobId" in opts:
            assert job.job_id == opts["jobId"]
        assert len(job.children) == len(raw.get("children") or [])
        for child in job.children:
            assert by_id[child].parent_id == job.job_id
        assert job.status is (JobState.WAITING_CHILDREN if job.children else
                              JobState.DELAYED if job.opts.delay else JobState.WAITING)  # fmt: skip

    # a stored tree, turned back into a request, is accepted and stores the same jobs
    def same(job: Job) -> Job:  # ids are new; an assigned jobId became a caller-chosen one
        return replace(job, id="", opts=replace(job.opts, job_id=None))

    assert [same(job) for job in jobs_of(rebuild(jobs))] == [same(job) for job in jobs]


def _too_long(node: Node) -> tuple[str, ...]:
    node["name"] = "x" * (SETTINGS.max_string_length + 1)
    return ("name",)


def _bad_queue(node: Node) -> tuple[str, ...]:
    node["queueName"] = "no-such-queue"
    return ("queueName",)


def _unknown_option(node: Node) -> tuple[str, ...]:
    node.setdefault("opts", {})["attemps"] = 3
    return ("opts", "attemps")


def _unknown_field(node: Node) -> tuple[str, ...]:
    node["queue"] = "jobQueue"
    return ("queue",)


def _zero_attempts(node: Node) -> tuple[str, ...]:
    node.setdefault("opts", {})["attempts"] = 0
    return ("opts", "attempts")


def _bad_backoff(node: Node) -> tuple[str, ...]:
    node.setdefault("opts", {})["backoff"] = {"type": "linear", "delay": 5}
    return ("opts", "backoff", "type")


def _deep_data(node: Node) -> tuple[str, ...]:
    data: Any = 1
    for _ in range(SETTINGS.max_json_depth + 1):
        data = [data]
    node["data"] = data
    return ("data",)


def _missing_name(node: Node) -> tuple[str, ...]:
    del node["name"]
    return ("name",)


def _bad_children(node: Node) -> tuple[str, ...]:
    node["children"] = {"name": "x"}
    return ("children",)


FAULTS = [_too_long, _bad_queue, _unknown_option, _unknown_field, _zero_attempts,
          _bad_backoff, _deep_data, _missing_name, _bad_children]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(tree=trees(), data=st.data())
def test_error_path_names_the_faulty_node_and_field(tree: Node, data: st.DataObject) -> None:
    targets = nodes_of(tree)
    path, node = data.draw(st.sampled_from(targets))
    fault = data.draw(st.sampled_from(FAULTS))
    field = fault(node)
    with pytest.raises(ValidationError) as refused:
        validate_tree(tree, SETTINGS)
    assert refused.value.path == join_path(path, field)


@settings(max_examples=100, deadline=None)
@given(tree=trees(), data=st.data())
def test_child_that_is_not_an_object_is_named_by_its_path(tree: Node, data: st.DataObject) -> None:
    parents = [(p, n) for p, n in nodes_of(tree) if n.get("children")]
    if not parents:
        return
    path, node = data.draw(st.sampled_from(parents))
    index = data.draw(st.integers(0, len(node["children"]) - 1))
    node["children"][index] = data.draw(st.integers() | st.text() | st.lists(st.none()))
    with pytest.raises(ValidationError) as refused:
        validate_tree(tree, SETTINGS)
    prefix = f"{path}.children" if path else "children"
    assert (refused.value.path or "").startswith(f"{prefix}[{index}]")


@settings(max_examples=100, deadline=None)
@given(tree=trees(), cut=st.integers(1, 30))
def test_size_limit_cuts_exactly_at_the_limit(tree: Node, cut: int) -> None:
    size = len(nodes_of(tree))
    limited = replace(SETTINGS, max_tree_jobs=cut)
    if size <= cut:
        assert validate_tree(tree, limited).size == size
        return
    with pytest.raises(ValidationError) as refused:
        validate_tree(tree, limited)
    assert refused.value.code == "tree_too_large"
    # the path is that of the first node past the limit, in request order
    assert refused.value.path == (nodes_of(tree)[cut][0] or None)


@settings(max_examples=100, deadline=None)
@given(tree=trees(max_depth=6), limit=st.integers(1, 6))
def test_depth_limit_names_the_children_that_go_too_deep(tree: Node, limit: int) -> None:
    limited = replace(SETTINGS, max_tree_depth=limit)
    deepest = max(path.count("children[") + 1 for path, _node in nodes_of(tree))
    if deepest <= limit:
        validate_tree(tree, limited)
        return
    with pytest.raises(ClientError) as refused:
        validate_tree(tree, limited)
    assert refused.value.code == "tree_too_deep"
    offending = refused.value.path or ""
    assert offending.endswith("children")
    parent_path = offending.removesuffix("children").removesuffix(".")
    assert parent_path.count("children[") + 1 == limit
    assert [p for p, _d, _s in walk(validate_tree(tree, SETTINGS).root)] == [
        p for p, _n in nodes_of(tree)
    ]
