"""One commit per hop: a parent made ready by its last child's event is
recorded sent in that event's transaction and sent right after it commits,
with no wake-up of the dispatcher and no second transaction. The mark comes
before the message, so the two ways the send can fail are covered here: a
broker that refuses (the job goes back to the outbox) and a backend that
dies in between (the monitor finds the message missing and sends it)."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from tests.e2e.writers import Writers, spec


@pytest.fixture
def w(writers: Writers) -> Writers:
    return writers


async def chain_to_the_last_child(w: Writers) -> None:
    await w.beat()
    await w.create("f", spec("echo", "r", spec("echo", "c")))
    assert await w.execution.dispatcher.drain() == 1
    await w.events(w.active("c", 1))


async def test_the_ready_parent_is_sent_in_the_commit_of_its_childs_outcome(w: Writers) -> None:
    await chain_to_the_last_child(w)
    await w.events(w.completed("c", 1, result=41))
    assert await w.dispatched("r")
    assert await w.queued() == [("r", 1)]
    assert (await w.label("r"))["childrenValues"] == {"c": 41}
    assert await w.execution.dispatcher.drain() == 0  # nothing was left to the outbox
    assert w.execution.dispatcher.sent == 2


async def test_a_refused_send_puts_the_parent_back_in_the_outbox(w: Writers) -> None:
    await chain_to_the_last_child(w)

    async def refuse() -> None:
        raise RedisConnectionError("Redis went away")

    w.transport.before_send = refuse
    with pytest.raises(RedisConnectionError):
        await w.events(w.completed("c", 1))
    assert (await w.job("c"))["status"] == "completed"  # the outcome is committed
    assert not await w.dispatched("r")
    assert await w.execution.dispatcher.drain() == 1
    assert await w.queued() == [("r", 1)]


async def test_a_backend_dying_between_commit_and_send_loses_no_parent(w: Writers) -> None:
    await chain_to_the_last_child(w)

    async def die() -> None:
        raise asyncio.CancelledError  # the process stops here, as if killed

    w.transport.before_send = die
    with pytest.raises(asyncio.CancelledError):
        await w.events(w.completed("c", 1))
    assert await w.dispatched("r")
    assert await w.queued() == []
    monitor = w.execution.monitor
    assert await monitor.check_lost_messages() == 0
    assert await monitor.check_lost_messages() == 1
    assert await w.execution.dispatcher.drain() == 1
    assert await w.queued() == [("r", 1)]
