"""Locating a server error's field path in the re-indented editor text."""

from __future__ import annotations

import json

import pytest

from desktop.jsonpath import line_of, parse_path, pretty

DOC = {
    "name": "echo",
    "queueName": "jobQueue",
    "children": [
        {"name": "a", "queueName": "jobQueue"},
        {"name": "b", "queueName": "nope", "opts": {"attempts": 0}},
    ],
}


def test_pretty_matches_json_dumps() -> None:
    text, _ = pretty(DOC)
    assert text == json.dumps(DOC, indent=2)
    assert json.loads(text) == DOC


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("children[1].queueName", '"queueName": "nope"'),
        ("children[1].opts.attempts", '"attempts": 0'),
        ("children[1].opts.timeout", '"opts": {'),  # missing: nearest ancestor
        ("children[0].data", "{"),  # children[0] starts with its brace
        ("", "{"),
    ],
)
def test_line_of_path(path: str, expected: str) -> None:
    text, where = pretty(DOC)
    assert text.splitlines()[line_of(where, path)].strip().startswith(expected)


def test_parse_path() -> None:
    assert parse_path("children[2].children[0].opts.attempts") == [
        "children",
        2,
        "children",
        0,
        "opts",
        "attempts",
    ]


def test_deep_tree_needs_no_recursion() -> None:
    node: dict[str, object] = {"name": "leaf", "queueName": "jobQueue"}
    for _ in range(1200):
        node = {"name": "n", "queueName": "jobQueue", "children": [node]}
    text, where = pretty(node)
    deep = ".".join(["children[0]"] * 1200) + ".name"
    assert '"leaf"' in text.splitlines()[line_of(where, deep)]
