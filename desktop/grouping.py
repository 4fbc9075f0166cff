"""Group nodes for wide parents: what the tree shows of a fan-out of hundreds.

Theory of operation. A parent with more children than ``threshold`` does not
show them one card each (300 cards at "fit" are a one-pixel strip); it
shows one *group* node per task name among them, with the members' counts by
state. A group shows none of its members until asked: "show more" reveals
them a page at a time (in request order), "show failed" shows just the
failed ones, and a job the operator goes to (from the jobs table, the stuck
banner) is *pinned* so it stays visible. A name with a single member among
the children stays an ordinary card.

The visible tree is given to the pure layout as a ``children(node)``
function over node ids, where a group's id is :func:`group_id` of its parent
and task name; group ids cannot collide with job ids (they hold a NUL).

Every group keeps two counters: ``counts`` (its members' states, for the
label and the state bar) and ``inside`` (every job in the members'
subtrees, members included), so a failed, active or stuck job deep under a
hidden member still marks the group that hides it. A live update of a job's
state touches only the groups that hold the job (``containing``, computed
once per build), so it costs O(groups above the job), never a relayout.

Nothing here imports Qt or does I/O.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from backend.schemas import FlowJobResponse, JobState

DEFAULT_THRESHOLD = 12  # a parent with more children than this shows groups
DEFAULT_PAGE = 50  # members one "show more" reveals
_SEP = "\x00"
TIMES = "\u00d7"  # the multiplication sign of "300 x sleep"
ATTENTION = (JobState.FAILED, JobState.ACTIVE)


def group_id(parent: str, name: str) -> str:
    return f"{_SEP}g{_SEP}{parent}{_SEP}{name}"


def is_group(node: str) -> bool:
    return node.startswith(_SEP)


@dataclass
class Group:
    """One task name among a wide parent's children, and what it shows."""

    id: str
    parent: str
    name: str
    members: list[str]  # job ids, in request order
    counts: Counter[JobState] = field(default_factory=Counter)  # members' states
    inside: Counter[JobState] = field(default_factory=Counter)  # members and below
    shown: int = 0  # members revealed by "show more", from the first
    failed_only: bool = False  # "show failed": only the failed members (and pins)
    pinned: set[str] = field(default_factory=set)  # jobs the operator went to

    position: dict[str, int] = field(default_factory=dict)  # member -> its index, when asked

    def index_of(self, member: str) -> int:
        if not self.position:
            self.position = {m: i for i, m in enumerate(self.members)}
        return self.position[member]

    def summary(self) -> str:
        """``300 x sleep · 290 completed · 8 active · 2 failed`` (states by count)."""
        parts = [f"{len(self.members)} {TIMES} {self.name}"]
        for state, n in sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0].value)):
            if n:
                parts.append(f"{n} {state.value}")
        return " · ".join(parts)


class Grouping:
    """The grouped view of one flow's tree; rebuilt when its shape changes."""

    def __init__(
        self,
        root: str,
        jobs: Mapping[str, FlowJobResponse],
        *,
        threshold: int = DEFAULT_THRESHOLD,
        page: int = DEFAULT_PAGE,
        previous: Grouping | None = None,
    ) -> None:
        self.root = root
        self.jobs = jobs
        self.threshold = threshold
        self.page = page
        self.groups: dict[str, Group] = {}
        self.group_of: dict[str, str] = {}  # member job id -> its group id
        self.containing: dict[str, tuple[str, ...]] = {}  # job id -> groups holding it
        self._order: dict[str, tuple[str, ...]] = {}  # wide parent -> groups and lone jobs
        self._build()
        if previous is not None:
            self._keep_view_of(previous)

    # --- building --------------------------------------------------------------

    def _kids(self, job_id: str) -> list[str]:
        job = self.jobs.get(job_id)
        return [] if job is None else [c for c in job.children if c in self.jobs]

    def _group_children(self, parent: str, kids: Sequence[str]) -> None:
        by_name: dict[str, list[str]] = {}
        for kid in kids:
            by_name.setdefault(self.jobs[kid].name, []).append(kid)
        order: list[str] = []
        seen: set[str] = set()
        for kid in kids:
            name = self.jobs[kid].name
            if len(by_name[name]) == 1:
                order.append(kid)
            elif name not in seen:
                seen.add(name)
                gid = group_id(parent, name)
                self.groups[gid] = Group(gid, parent, name, by_name[name])
                order.append(gid)
                for member in by_name[name]:
                    self.group_of[member] = gid
        self._order[parent] = tuple(order)

    def _build(self) -> None:
        if self.root not in self.jobs:
            return
        self.containing[self.root] = ()
        stack = [self.root]
        while stack:  # pre-order, explicit stack: trees may be very deep
            node = stack.pop()
            kids = self._kids(node)
            if len(kids) > self.threshold:
                self._group_children(node, kids)
            above = self.containing[node]
            for kid in kids:
                gid = self.group_of.get(kid)
                self.containing[kid] = above if gid is None else (*above, gid)
                stack.append(kid)
        for job_id, groups in self.containing.items():
            status = self.jobs[job_id].status
            for gid in groups:
                self.groups[gid].inside[status] += 1
            gid = self.group_of.get(job_id)
            if gid is not None:
                self.groups[gid].counts[status] += 1

    def _keep_view_of(self, previous: Grouping) -> None:
        for gid, group in self.groups.items():
            old = previous.groups.get(gid)
            if old is not None:
                group.shown = old.shown
                group.failed_only = old.failed_only
                group.pinned = {m for m in old.pinned if self.group_of.get(m) == gid}

    # --- the visible tree ------------------------------------------------------

    def children(self, node: str) -> Sequence[str]:
        """Visible children of a job or group node, for :func:`desktop.layout.layout`."""
        group = self.groups.get(node)
        if group is not None:
            return self.visible_members(group)
        order = self._order.get(node)
        return order if order is not None else self._kids(node)

    def visible_members(self, group: Group) -> list[str]:
        """The members on screen, in request order (asked on every paint of the card)."""
        if group.failed_only:
            wanted = {m for m in group.members if self.jobs[m].status is JobState.FAILED}
            wanted |= group.pinned
            return [m for m in group.members if m in wanted]
        head = group.members[: group.shown]
        beyond = [m for m in group.pinned if group.index_of(m) >= group.shown]
        return head + sorted(beyond, key=group.index_of)

    # --- what the operator asks ------------------------------------------------

    def show_more(self, gid: str) -> None:
        group = self.groups[gid]
        group.failed_only = False
        group.shown = min(len(group.members), group.shown + self.page)

    def show_failed(self, gid: str) -> None:
        self.groups[gid].failed_only = True

    def fold(self, gid: str) -> None:
        """Hide the group's members again (pins included)."""
        group = self.groups[gid]
        group.shown, group.failed_only = 0, False
        group.pinned.clear()

    def reveal(self, job_id: str) -> bool:
        """Pin ``job_id`` and its ancestors in every group that hides them; True if any was."""
        changed = False
        node: str | None = job_id
        while node is not None and node in self.jobs:
            gid = self.group_of.get(node)
            if gid is not None:
                group = self.groups[gid]
                if node not in self.visible_members(group):
                    group.pinned.add(node)
                    changed = True
            node = self.jobs[node].parent_id
        return changed

    # --- live updates ----------------------------------------------------------

    def apply(self, previous: FlowJobResponse, job: FlowJobResponse) -> tuple[str, ...]:
        """Count a job's change of state; the groups whose numbers changed."""
        if previous.status is job.status:
            return ()
        groups = self.containing.get(job.job_id, ())
        for gid in groups:
            inside = self.groups[gid].inside
            inside[previous.status] -= 1
            inside[job.status] += 1
        own = self.group_of.get(job.job_id)
        if own is not None:
            counts = self.groups[own].counts
            counts[previous.status] -= 1
            counts[job.status] += 1
        return groups

    def holds(self, gid: str, job_id: str | None) -> bool:
        """Whether ``job_id`` is a member of the group or below one."""
        return job_id is not None and gid in self.containing.get(job_id, ())


def state_shares(counts: Mapping[JobState, int]) -> list[tuple[JobState, float]]:
    """The state bar: each present state's share of the total, in lifecycle order."""
    total = sum(counts.values())
    if total <= 0:
        return []
    return [(s, counts.get(s, 0) / total) for s in JobState if counts.get(s, 0) > 0]


def attention(group: Group, stuck_job: str | None, grouping: Grouping) -> list[str]:
    """What the group's mark says is inside it: e.g. ``["2 failed", "8 active", "stuck"]``."""
    marks = [f"{group.inside[s]} {s.value}" for s in ATTENTION if group.inside.get(s, 0) > 0]
    if grouping.holds(group.id, stuck_job):
        marks.append("stuck")
    return marks
