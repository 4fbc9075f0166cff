"""What both sides of bench_vs_bullmq share: the shapes, the result record, CPU time.

The shapes are defined once, as request trees that are at the same time
Flowdesk's ``CreateFlowRequest`` and BullMQ's ``FlowJob`` (``name``,
``queueName``, ``data``, ``children``), so the two sides cannot drift apart.
CPU time is read from ``/proc`` (psutil is not a dependency) for a process
and all its descendants: ``taskiq worker --workers 1`` runs its task loop in a
child of the process it starts with.
"""

from __future__ import annotations

import os
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

QUEUE = "jobQueue"
Tree = dict[str, Any]
_TICK = os.sysconf("SC_CLK_TCK")


def leaf(index: int) -> Tree:
    return {"name": "leaf", "queueName": QUEUE, "data": {"i": index}}


def parent(*children: Tree) -> Tree:
    return {"name": "sum", "queueName": QUEUE, "children": list(children)}


@dataclass(frozen=True)
class Shape:
    """Flows created together; ``values`` are the roots' expected results."""

    key: str
    title: str
    flows: list[Tree]
    values: list[int]

    @property
    def jobs(self) -> int:
        return sum(count(tree) for tree in self.flows)


def count(tree: Tree) -> int:
    return 1 + sum(count(child) for child in tree.get("children", ()))


def shapes(wide: int, many: int, deep: int) -> list[Shape]:
    chain = leaf(0)
    for _ in range(deep - 1):
        chain = parent(chain)
    return [
        Shape("wide", f"wide: root + {wide:,} leaves",
              [parent(*(leaf(i) for i in range(wide)))], [wide]),
        Shape("many", f"many: {many} flows of root + 10",
              [parent(*(leaf(i) for i in range(10))) for _ in range(many)], [10] * many),
        Shape("deep", f"deep: chain of {deep}", [chain], [1]),
    ]  # fmt: skip


WARM_UP = [parent(*(leaf(i) for i in range(10)))]


# (job id, parent job id, started, finished), times in epoch ms
Timing = tuple[str, str | None, float, float]


@dataclass
class Result:
    """One measured run of one shape on one side."""

    jobs: int
    seconds: float
    cpu: dict[str, float]  # role -> CPU seconds used during the run
    timings: list[Timing] = field(default_factory=list)  # only where hops are measured

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds

    @property
    def hops(self) -> list[float]:
        """Per parent: its start minus its last child's finish (ms)."""
        started = {job_id: start for job_id, _, start, _ in self.timings}
        last: dict[str, float] = {}
        for _, parent_id, _, finished in self.timings:
            if parent_id is not None:
                last[parent_id] = max(last.get(parent_id, finished), finished)
        return [started[parent_id] - finished for parent_id, finished in last.items()]

    @property
    def spans(self) -> list[float]:
        """Per job: its finish minus its start (ms), where the rest of a hop's cost may hide."""
        return [finished - start for _, _, start, finished in self.timings]

    def cpu_per_job_ms(self, role: str) -> float:
        return self.cpu[role] * 1000 / self.jobs


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # comm may hold spaces and parentheses


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, ValueError):
                continue  # exited meanwhile
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` and its live descendants."""
    total = 0
    for each in _descendants(pid):
        try:
            fields = _stat(each)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / _TICK


def cpu_snapshot(pids: dict[str, int]) -> dict[str, float]:
    return {role: cpu_seconds(pid) for role, pid in pids.items()}


def cpu_used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {role: after[role] - before[role] for role in before}


def median_p90(values: list[float]) -> tuple[float, float]:
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    return statistics.median(values), statistics.quantiles(values, n=10)[8]
