"""The flow-control rules, driven with plain values (no store, no clock)."""

from __future__ import annotations

import pytest

from backend.domain.limits import (
    Candidate,
    HeldBy,
    QueueControls,
    QueueLoad,
    RateLimit,
    admit,
    blocked,
    next_opening,
)

NOW = 10_000
Q = "q"


def jobs(*keys: str | None, queue: str = Q) -> list[Candidate]:
    return [Candidate(f"j{i}", queue, key) for i, key in enumerate(keys)]


@pytest.mark.parametrize(
    ("controls", "load", "keys", "admitted", "held"),
    [
        # no controls: everything goes
        (QueueControls(Q), QueueLoad(), [None, None], ["j0", "j1"], {}),
        # paused holds everything, whatever the room
        (QueueControls(Q, paused=True), QueueLoad(), [None], [], {"j0": HeldBy.PAUSED}),
        # concurrency counts what is already in flight, then what this batch takes
        (
            QueueControls(Q, concurrency=3),
            QueueLoad(in_flight=1),
            [None, None, None],
            ["j0", "j1"],
            {"j2": HeldBy.CONCURRENCY},
        ),
        (
            QueueControls(Q, concurrency=2),
            QueueLoad(in_flight=2),
            [None],
            [],
            {"j0": HeldBy.CONCURRENCY},
        ),
        # per key: one each, a key already running waits, a job without a key is free
        (
            QueueControls(Q, key_concurrency=1),
            QueueLoad(in_flight=1, per_key={"a": 1}),
            ["a", "b", "b", None, None],
            ["j1", "j3", "j4"],
            {"j0": HeldBy.KEY_CONCURRENCY, "j2": HeldBy.KEY_CONCURRENCY},
        ),
        # rate: sends older than the window do not count
        (
            QueueControls(Q, rate_limit=RateLimit(2, 1000)),
            QueueLoad(sends=[NOW - 1000, NOW - 999]),
            [None, None],
            ["j0"],
            {"j1": HeldBy.RATE_LIMIT},
        ),
        # the first check that refuses names the reason: the queue cap before the key
        (
            QueueControls(Q, concurrency=1, key_concurrency=1),
            QueueLoad(in_flight=1, per_key={"a": 1}),
            ["a"],
            [],
            {"j0": HeldBy.CONCURRENCY},
        ),
        # a job the key holds does not use up the rate
        (
            QueueControls(Q, key_concurrency=1, rate_limit=RateLimit(1, 1000)),
            QueueLoad(),
            ["a", "a", "b"],
            ["j0"],
            {"j1": HeldBy.KEY_CONCURRENCY, "j2": HeldBy.RATE_LIMIT},
        ),
    ],
)
def test_admit(
    controls: QueueControls,
    load: QueueLoad,
    keys: list[str | None],
    admitted: list[str],
    held: dict[str, HeldBy],
) -> None:
    out = admit({Q: controls}, {Q: load}, jobs(*keys), NOW)
    assert out.admitted == admitted
    assert out.held == held
    assert out.sent[Q] == (len(admitted) if controls.controlled else 0)


def test_queues_without_a_row_are_not_controlled() -> None:
    out = admit({}, {}, jobs(None, "a", queue="other"), NOW)
    assert out.admitted == ["j0", "j1"]
    assert not QueueControls("x").controlled


@pytest.mark.parametrize(
    ("controls", "load", "queues", "keys"),
    [
        (QueueControls(Q), QueueLoad(), {}, set()),
        (QueueControls(Q, paused=True), QueueLoad(), {Q: HeldBy.PAUSED}, set()),
        (QueueControls(Q, concurrency=2), QueueLoad(in_flight=2), {Q: HeldBy.CONCURRENCY}, set()),
        (QueueControls(Q, concurrency=2), QueueLoad(in_flight=1), {}, set()),
        (
            QueueControls(Q, key_concurrency=2),
            QueueLoad(in_flight=3, per_key={"a": 2, "b": 1}),
            {},
            {(Q, "a")},
        ),
        (
            QueueControls(Q, rate_limit=RateLimit(1, 500)),
            QueueLoad(sends=[NOW - 100]),
            {Q: HeldBy.RATE_LIMIT},
            set(),
        ),
    ],
)
def test_blocked(
    controls: QueueControls,
    load: QueueLoad,
    queues: dict[str, HeldBy],
    keys: set[tuple[str, str]],
) -> None:
    stop = blocked({Q: controls}, {Q: load}, NOW)
    assert dict(stop.queues) == queues
    assert set(stop.keys) == keys


def test_next_opening_is_when_the_oldest_counted_send_leaves_the_window() -> None:
    rate = RateLimit(2, 1000)
    controls = {Q: QueueControls(Q, rate_limit=rate), "free": QueueControls("free")}
    full = {Q: QueueLoad(sends=[NOW - 1500, NOW - 300, NOW - 100])}
    assert next_opening(controls, full, NOW) == NOW - 300 + 1000
    room = {Q: QueueLoad(sends=[NOW - 300])}
    assert next_opening(controls, room, NOW) is None
    paused = {Q: QueueControls(Q, paused=True, rate_limit=rate)}
    assert next_opening(paused, full, NOW) is None
