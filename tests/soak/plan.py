"""What the soak submits: flows of mixed shapes and queues, and what each must end as.

Pure and seeded: ``plan_flows(count, rng)`` returns request trees whose every
job has a caller-chosen ``jobId`` (so a flow whose ``POST`` answer was lost
when the backend died can still be found), random sleeps, and some
failing-then-succeeding jobs with ``attempts`` enough to complete. A few
flows carry a child that always fails: ignored (the flow completes without
its value) or failing its parents (the flow fails).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

QUEUES = ("jobQueue", "webhooks")
SHAPES = ("single", "chain", "wide", "nested", "ignored", "failing")
WEIGHTS = (10, 20, 25, 30, 10, 5)
Node = dict[str, Any]


@dataclass(frozen=True)
class FlowPlan:
    key: str  # the root's jobId
    shape: str
    tree: Node
    status: str  # expected final flow status
    value: int | None  # expected root result (None when the flow fails)
    jobs: int


class _Builder:
    def __init__(self, key: str, rng: random.Random) -> None:
        self.key = key
        self.rng = rng
        self.count = 0

    def node(self, *children: Node, boom: bool = False, policy: str | None = None) -> Node:
        rng = self.rng
        fails = 0 if boom else rng.choices((0, 1, 2), (85, 10, 5))[0]
        value = rng.randint(0, 9)
        job_id = self.key if self.count == 0 else f"{self.key}.{self.count}"
        self.count += 1
        opts: dict[str, Any] = {"jobId": job_id, "attempts": fails + 1}
        if fails:
            opts["backoff"] = {"type": "fixed", "delay": 100}
        if policy is not None:
            opts[policy] = True
        out: Node = {
            "name": "soak",
            "queueName": rng.choice(QUEUES),
            "data": {
                "value": value,
                "sleep": rng.choice((0, 0, 0, 0.02, 0.05, 0.2)),
                "fails": fails,
                "boom": boom,
            },
            "opts": opts,
        }
        if children:
            out["children"] = list(children)
        return out


def value_of(node: Node) -> int:
    """The root value a tree must produce: own value plus every non-failing child's."""
    if node["data"]["boom"]:
        return 0
    return int(node["data"]["value"]) + sum(value_of(c) for c in node.get("children", []))


def _count(node: Node) -> int:
    return 1 + sum(_count(c) for c in node.get("children", []))


def _tree(shape: str, b: _Builder) -> Node:
    rng = b.rng
    if shape == "single":
        return b.node()
    if shape == "chain":
        # built bottom-up: the root must be the first node numbered, so name it last
        depth = rng.randint(3, 6)
        root = b.node()
        node = root
        for _ in range(depth - 1):
            child = b.node()
            node["children"] = [child]
            node = child
        return root
    if shape == "wide":
        root = b.node()
        root["children"] = [b.node() for _ in range(rng.randint(5, 25))]
        return root
    if shape == "nested":
        root = b.node()
        mids = []
        for _ in range(rng.randint(2, 4)):
            mid = b.node()
            mid["children"] = [b.node() for _ in range(rng.randint(2, 6))]
            mids.append(mid)
        root["children"] = mids
        return root
    if shape == "ignored":
        root = b.node()
        leaves = [b.node() for _ in range(rng.randint(1, 5))]
        root["children"] = [*leaves, b.node(boom=True, policy="ignoreDependencyOnFailure")]
        return root
    root = b.node()
    mid = b.node(policy="failParentOnFailure")
    mid["children"] = [b.node(), b.node(boom=True, policy="failParentOnFailure")]
    root["children"] = [mid, b.node()]
    return root


def plan_flows(count: int, rng: random.Random, prefix: str) -> list[FlowPlan]:
    plans = []
    for index in range(count):
        shape = rng.choices(SHAPES, WEIGHTS)[0]
        builder = _Builder(f"{prefix}-{index}", rng)
        tree = _tree(shape, builder)
        failing = shape == "failing"
        plans.append(
            FlowPlan(
                key=builder.key,
                shape=shape,
                tree=tree,
                status="failed" if failing else "completed",
                value=None if failing else value_of(tree),
                jobs=_count(tree),
            )
        )
    return plans
