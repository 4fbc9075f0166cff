"""Group nodes of wide parents, as a pure computation: counts, pages, pins, live updates."""

from __future__ import annotations

import pytest
from jobkit import fan_out, two_levels

from backend.schemas import JobState
from desktop.grouping import TIMES, Grouping, attention, group_id, is_group, state_shares


def test_narrow_parents_show_their_children_and_wide_ones_one_group_per_name() -> None:
    narrow = Grouping("r", fan_out({"echo": 12}), threshold=12)
    assert not narrow.groups
    assert list(narrow.children("r")) == [f"echo-{i}" for i in range(12)]
    wide = Grouping("r", fan_out({"sleep": 300, "echo": 20, "sum": 1}), threshold=12)
    assert list(wide.children("r")) == [group_id("r", "sleep"), group_id("r", "echo"), "sum-0"]
    sleep = wide.groups[group_id("r", "sleep")]
    assert len(sleep.members) == 300
    assert sleep.counts == {JobState.WAITING: 300}
    assert wide.children(sleep.id) == []  # nothing shown until asked
    assert all(is_group(g) for g in wide.groups)
    assert not is_group("sum-0")


def test_show_more_pages_show_failed_and_fold() -> None:
    failed = ["sleep-7", "sleep-250"]
    grouping = Grouping("r", fan_out({"sleep": 300}, failed=failed), threshold=12, page=50)
    gid = group_id("r", "sleep")
    grouping.show_more(gid)
    assert grouping.children(gid) == [f"sleep-{i}" for i in range(50)]
    grouping.show_more(gid)
    assert len(grouping.children(gid)) == 100
    grouping.show_failed(gid)
    assert grouping.children(gid) == failed
    grouping.fold(gid)
    assert grouping.children(gid) == []
    group = grouping.groups[gid]
    assert group.summary() == f"300 {TIMES} sleep · 298 waiting · 2 failed"
    assert attention(group, None, grouping) == ["2 failed"]


def test_a_failure_deep_under_a_hidden_member_marks_the_group() -> None:
    # 20 sub-trees "sub" of 3 leaves each; one leaf of sub-5 fails, one of sub-9 runs.
    jobs = two_levels(20, 3)
    jobs["leaf-5-1"] = jobs["leaf-5-1"].model_copy(update={"status": JobState.FAILED})
    grouping = Grouping("r", jobs, threshold=12)
    group = grouping.groups[group_id("r", "sub")]
    assert group.counts == {JobState.WAITING: 20}  # the members themselves are fine
    assert attention(group, "leaf-9-0", grouping) == ["1 failed", "stuck"]
    before = jobs["leaf-9-2"]
    changed = grouping.apply(before, before.model_copy(update={"status": JobState.ACTIVE}))
    assert changed == (group.id,)
    assert attention(group, None, grouping) == ["1 failed", "1 active"]


def test_live_update_moves_one_count_and_touches_only_the_holding_groups() -> None:
    jobs = fan_out({"sleep": 30, "echo": 30})
    grouping = Grouping("r", jobs, threshold=12)
    sleep, echo = (grouping.groups[group_id("r", n)] for n in ("sleep", "echo"))
    old = jobs["sleep-3"]
    assert grouping.apply(old, old.model_copy(update={"status": JobState.COMPLETED})) == (sleep.id,)
    assert sleep.counts == {JobState.WAITING: 29, JobState.COMPLETED: 1}
    assert echo.counts == {JobState.WAITING: 30}
    assert grouping.apply(old, old.model_copy(update={"progress": 5})) == ()  # same state


def test_reveal_pins_the_job_and_the_members_above_it_and_survives_a_regroup() -> None:
    jobs = two_levels(15, 15, sub="s", leaf="l")
    grouping = Grouping("r", jobs, threshold=12)
    assert grouping.reveal("l-9-4")
    assert grouping.children(group_id("r", "s")) == ["s-9"]
    assert grouping.children(group_id("s-9", "l")) == ["l-9-4"]
    assert not grouping.reveal("l-9-4")  # already visible
    again = Grouping("r", jobs, threshold=12, previous=grouping)
    assert again.children(group_id("s-9", "l")) == ["l-9-4"]


@pytest.mark.parametrize(
    ("counts", "shares"),
    [
        ({}, []),
        (
            {JobState.FAILED: 1, JobState.COMPLETED: 3},
            [(JobState.COMPLETED, 0.75), (JobState.FAILED, 0.25)],
        ),
        ({JobState.ACTIVE: 2, JobState.WAITING: 0}, [(JobState.ACTIVE, 1.0)]),
    ],
)
def test_state_bar_shares_in_lifecycle_order(
    counts: dict[JobState, int], shares: list[tuple[JobState, float]]
) -> None:
    assert state_shares(counts) == shares
