"""No writer overwrites a newer change, every change has its event, and a
message that goes missing is sent again.

The first test replays, step by step, the interleaving the fault soak found
(issue 18): Redis comes back empty while a job's second attempt is failing;
the monitor requeues the job, the dispatcher reads it from the outbox, the
consumer records attempt 2's failure and schedules attempt 3, and only then
does the dispatcher mark its (attempt 2) message sent. That mark used to
overwrite the scheduled retry with "waiting, sent": attempt 3 was never sent
and the flow hung, with no event telling anyone.
"""

from __future__ import annotations

import pytest

from backend.domain.models import Backoff, BackoffType, JobState
from tests.e2e.writers import Writers, assert_log_replays, spec

RETRY = {"attempts": 3, "backoff": Backoff(BackoffType.FIXED, 100)}


@pytest.fixture
def w(writers: Writers) -> Writers:
    return writers


async def test_a_redis_loss_racing_a_retry_never_loses_the_next_attempt(w: Writers) -> None:
    x = w.execution
    await w.beat()
    await w.create("f", spec("echo", "r", spec("fail", "j", **RETRY)))
    assert await x.dispatcher.drain() == 1  # attempt 1
    await w.events(w.active("j", 1), w.failed("j", 1))
    assert (await w.job("j"))["status"] == JobState.DELAYED
    w.clock.now += 150
    assert await x.dispatcher.drain() == 1  # attempt 2, due
    assert await w.dispatched("j")

    await w.redis.flushall()  # Redis restarts empty while attempt 2 runs
    await w.beat()
    assert await x.monitor.check_redis_reset()  # requeues j (attempt 2 again)

    async def attempt_2_fails_meanwhile() -> None:
        await w.events(w.active("j", 2), w.failed("j", 2))

    w.transport.before_send = attempt_2_fails_meanwhile
    await x.dispatcher.drain()  # read j (attempt 2) ... consumer ... send ... mark

    job = await w.job("j")
    assert job["status"] == JobState.DELAYED, job
    assert job["attemptsMade"] == 2
    assert not await w.dispatched("j"), "attempt 3 was never sent, but the row says it was"
    w.clock.now += 150
    assert await x.dispatcher.drain() == 1
    assert ("j", 3) in await w.queued()
    await w.events(w.active("j", 3), w.completed("j", 3))  # the parent goes out at once
    assert ("r", 1) in await w.queued()
    await w.events(w.active("r", 1), w.completed("r", 1))
    assert (await w.store.get_flow(w.user.id, "f")).status.value == "completed"
    await assert_log_replays(w.store, w.user, w.created)


async def send_two_and_lose_the_first(w: Writers) -> None:
    """Jobs "a" and "b" sent; "a"'s message then vanishes while its row says sent."""
    await w.beat()
    await w.create("f", spec("echo", "r", spec("echo", "a"), spec("echo", "b")))
    assert await w.execution.dispatcher.drain() == 2
    [stream] = [key async for key in w.redis.scan_iter(match="flowdesk:q:*")]
    [(entry_id, _fields), _b] = await w.redis.xrange(stream)
    await w.redis.xdel(stream, entry_id)


async def test_a_sent_job_whose_message_vanished_is_sent_again(w: Writers) -> None:
    x = w.execution
    await send_two_and_lose_the_first(w)

    assert await x.monitor.check_lost_messages() == 0  # seen missing once: wait
    assert await x.monitor.check_lost_messages() == 1  # still missing: resent
    assert not await w.dispatched("a")
    assert await x.dispatcher.drain() == 1
    assert sorted(await w.queued()) == [("a", 1), ("b", 1)]
    assert await x.monitor.check_lost_messages() == 0
    assert x.monitor.lost_resent == 1


async def test_a_message_taken_and_finished_meanwhile_is_not_resent(w: Writers) -> None:
    """The worker deleted the message after its final event, which the consumer
    has not applied yet: missing on one check only, so never run twice."""
    x = w.execution
    await send_two_and_lose_the_first(w)
    assert await x.monitor.check_lost_messages() == 0
    await w.events(w.active("a", 1), w.completed("a", 1))  # the event arrives
    assert await x.monitor.check_lost_messages() == 0
    assert await w.queued() == [("b", 1)]


async def test_every_writer_appends_the_event_of_every_change(w: Writers) -> None:
    """All writers in turn; the log replayed from zero equals the store."""
    x = w.execution
    await w.beat(tasks=("echo", "fail"))
    a1, a2, a3 = spec("fail", "a1", **RETRY), spec("echo", "a2", delay=50), spec("echo", "a3")
    await w.create("a", spec("echo", "ar", a1, a2, a3))
    await w.create("b", spec("echo", "br", spec("nobody", "b1")))
    await w.create("c", spec("echo", "cr", spec("echo", "c1"), spec("echo", "c2")))
    await x.dispatcher.drain()  # a1, a3, c1, c2 sent; b1 failed: no worker knows "nobody"
    assert (await w.job("b1"))["status"] == JobState.FAILED
    await w.events(w.active("a1", 1), w.failed("a1", 1), w.active("a3", 1, worker="w-dead"))
    await w.events(w.active("c1", 1))
    w.clock.now += 150
    await x.dispatcher.drain()  # a1 attempt 2 and a2 (delayed) woken and sent
    w.clock.now += 20_000  # w-dead never beat; w1 keeps beating
    await w.beat()
    assert await x.monitor.check_stalled() == 1  # a3
    await x.commands.cancel_flow(w.user.id, "c")
    await x.commands.retry_flow(w.user.id, "c")
    await x.commands.retry_job(w.user.id, "b1")
    await w.redis.flushall()
    await w.beat(tasks=("echo",))  # "fail" is no longer known by any worker
    assert await x.monitor.check_redis_reset()
    await x.monitor.check_unknown_tasks()
    await x.dispatcher.drain()
    await w.events(
        w.active("a2", 1),
        w.completed("a2", 1),
        w.active("a3", 2),
        w.completed("a3", 2),
    )
    await w.events(w.active("c1", 2), w.completed("c1", 2), w.active("c2", 1))
    await w.events(w.completed("c2", 1))
    await x.dispatcher.drain()
    await w.events(w.active("cr", 1), w.completed("cr", 1))
    for job_id in ("a1", "b1"):
        assert (await w.job(job_id))["status"] == JobState.FAILED
    assert (await w.store.get_flow(w.user.id, "c")).status.value == "completed"
    await assert_log_replays(w.store, w.user, w.created)
