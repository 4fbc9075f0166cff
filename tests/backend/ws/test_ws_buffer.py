"""The hub's in-memory buffer: the same answers as SQLite, bounded, and the fallback behind it.

The buffer's reads are checked against ``events_after_for_user`` on a real
SQLite log of several users and flows; the server tests run real websocket
clients over a buffer far smaller than the log, so that replay starts in
SQLite and continues in memory.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from backend.api.ws_buffer import EVENT_OVERHEAD, EventBuffer
from backend.api.ws_frames import FrameCache
from backend.store import events
from backend.store.store import Store
from tests.backend.ws.wskit import flow_done, flow_tree, log_of, start_server, wait_for, ws_settings

USERS = ("u1", "u2", "u3")
FLOWS = ("fa", "fb", "fc", "fd")


def log_event(seq: int, user: str = "u1", flow: str = "fa", payload: str = "{}") -> events.LogEvent:
    return events.LogEvent(seq, "flow:updated", flow, payload, 0, user)


async def random_log(store: Store, rng: random.Random, count: int) -> None:
    """``count`` events of random users and flows, in a few transactions."""
    written = 0
    while written < count:
        async with store.db.transaction() as conn:
            for _ in range(min(count - written, rng.randint(1, 40))):
                user, flow = rng.choice(USERS), rng.choice(FLOWS)
                payload = {"id": flow, "n": written, "pad": "x" * rng.randint(0, 300)}
                await events.append_event(conn, "flow:updated", flow, user, payload, written)
                written += 1


@pytest.mark.parametrize("seed", range(4))
async def test_buffer_reads_equal_sqlite_reads(tmp_path: Path, seed: int) -> None:
    rng = random.Random(seed)
    async with await Store.open(tmp_path / "f.db") as store:
        buffer = EventBuffer(max_events=rng.randint(20, 200), max_bytes=10**9)
        for _ in range(6):  # fill in several snapshot reads, as the hub does
            await random_log(store, rng, rng.randint(0, 150))
            async with store.db.read() as conn:
                read = await events.log_after(conn, buffer.head, 10**6)
            buffer.extend(read.events, read.scanned_to)
        assert buffer.start > 0  # the log outgrew the buffer: both cases below occur
        checked = fell_back = 0
        for _ in range(300):
            user = rng.choice(USERS)
            after = rng.randint(0, buffer.head + 2)
            limit = rng.choice((1, 3, 10, 1_000))
            flows = rng.choice((None, frozenset(rng.sample(FLOWS, rng.randint(0, 2)))))
            got = buffer.read(user, after, limit, flows)
            async with store.db.read() as conn:
                want = await events.events_after_for_user(conn, user, after, limit, flows)
            if got is None:
                assert after < buffer.start
                fell_back += 1
                continue
            checked += 1
            assert [e.seq for e in got.events] == [e.seq for e in want.events]
            assert [(e.type, e.flow_id, e.payload) for e in got.events] == [
                (e.type, e.flow_id, e.payload) for e in want.events
            ]
            assert got.scanned_to == want.scanned_to
        assert checked
        assert fell_back


def test_memory_stays_within_both_limits() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=50 * (EVENT_OVERHEAD + 100))
    seq = 0
    for round_ in range(50):
        batch = []
        for _ in range(37):
            seq += 1
            batch.append(log_event(seq, payload="y" * (10 if round_ % 2 else 400)))
        buffer.extend(batch, seq + round_ % 3)  # sometimes the head is past the last event
        seq += round_ % 3
        assert len(buffer) <= 100
        assert buffer.bytes <= buffer.max_bytes
        assert buffer.bytes == sum(len(e.payload) + EVENT_OVERHEAD for e in buffer._events)
        held = [e.seq for e in buffer._events]
        assert held == sorted(held)
        assert all(buffer.start < s <= buffer.head for s in held)
        assert buffer.read("u1", buffer.start - 1, 10) is None  # evicted: SQLite's job
        assert buffer.read("u1", buffer.start, 10**6) is not None
    assert buffer.start > 0


def test_an_event_bigger_than_the_byte_limit_is_not_held() -> None:
    buffer = EventBuffer(max_events=100, max_bytes=1_000)
    buffer.extend([log_event(1), log_event(2, payload="z" * 5_000)], 2)
    assert len(buffer) == 0
    assert buffer.bytes == 0
    assert (buffer.start, buffer.head) == (2, 2)
    assert buffer.read("u1", 1, 10) is None
    read = buffer.read("u1", 2, 10)
    assert read is not None
    assert (read.events, read.scanned_to) == ([], 2)


def test_extend_refuses_anything_but_the_next_events_in_order() -> None:
    buffer = EventBuffer(max_events=10, max_bytes=10**6, head=5)
    with pytest.raises(ValueError, match="out of order"):
        buffer.extend([log_event(5)], 6)
    with pytest.raises(ValueError, match="out of order"):
        buffer.extend([log_event(8), log_event(7)], 9)
    with pytest.raises(ValueError, match="out of order"):
        buffer.extend([log_event(9)], 8)
    buffer.reset(5)
    with pytest.raises(ValueError, match="move back"):
        buffer.extend([], 4)


async def test_replay_from_sqlite_and_live_delivery_from_memory_are_the_same_stream(
    tmp_path: Path,
) -> None:
    # A buffer of 5 events under flows of dozens: the live client reads from
    # memory, a client replaying from 0 starts in SQLite and catches up into memory.
    server = await start_server(ws_settings(tmp_path, ws_buffer_events=5), execution=True)
    try:
        api = server.apis["alice"]
        live = await server.connect()
        bobs = await server.connect("bob")
        first = await api.create(flow_tree("one", leaves=6))
        await server.apis["bob"].create(flow_tree("bob", leaves=2))
        await live.until(flow_done(first["id"]))
        reads_before = server.hub.stats.log_reads

        replay = await server.connect(since=0)
        second = await api.create(flow_tree("two", leaves=6))  # while the replay runs
        await live.until(flow_done(second["id"]))
        await replay.until(flow_done(second["id"]))
        stored = await log_of(server.store, server.user_ids["alice"])
        assert replay.seqs[-1] == live.seqs[-1] == stored[-1].seq
        await bobs.until_seq((await log_of(server.store, server.user_ids["bob"]))[-1].seq)
    finally:
        await server.close()

    assert replay.events == live.events  # identical messages, payloads included
    assert replay.seqs == [event.seq for event in stored]
    assert not {m["data"].get("flowId") or m["data"]["id"] for m in bobs.events} & {
        first["id"],
        second["id"],
    }
    assert server.hub.stats.log_reads > reads_before  # the replay did go to SQLite
    assert server.hub.stats.buffer_reads > 0
    assert len(server.hub.buffer) <= 5


async def test_since_older_than_the_buffer_but_still_retained_replays_everything(
    tmp_path: Path,
) -> None:
    settings = ws_settings(
        tmp_path, ws_buffer_events=3, events_retention_count=12, events_prune_interval=0.05
    )
    server = await start_server(settings)
    try:
        api = server.apis["alice"]
        for i in range(20):
            await api.create(flow_tree(f"f{i}", leaves=1))
        await wait_for(lambda: server.hub.stats.pruned == 8)
        await wait_for(lambda: server.hub.head == 20)
        kept = [event.seq for event in await log_of(server.store, server.user_ids["alice"])]
        assert kept == list(range(9, 21))
        assert server.hub.buffer.start == 17  # holds 18..20

        client = await server.connect(since=8)  # older than the buffer, newer than pruning
        await client.until_seq(20)
        assert client.received[0]["type"] != "resync"
        assert client.seqs == kept
        await api.create(flow_tree("live", leaves=1))
        await client.until_seq(21)
        assert client.seqs == [*kept, 21]
        assert await client.quiet(0.2) == []
        assert server.hub.stats.log_reads > 0
        assert server.hub.stats.resyncs == {}
    finally:
        await server.close()


async def test_the_buffer_stays_bounded_while_a_flow_runs(tmp_path: Path) -> None:
    settings = ws_settings(tmp_path, ws_buffer_events=1_000, ws_buffer_bytes=8_000)
    server = await start_server(settings, execution=True)
    try:
        client = await server.connect()
        flow = await server.apis["alice"].create(flow_tree("big", leaves=40))
        sizes: list[tuple[int, int]] = []
        while not flow_done(flow["id"])(client.received):
            await client.read_frame()
            sizes.append((len(server.hub.buffer), server.hub.buffer.bytes))
        stored = await log_of(server.store, server.user_ids["alice"])
    finally:
        await server.close()
    assert client.seqs == [event.seq for event in stored]
    assert len(stored) > 40  # (flow:created, the 41 jobs, flow:updated; some folded)
    assert all(size <= 8_000 for _, size in sizes)
    assert all(count < len(stored) for count, _ in sizes)
    assert server.hub.buffer.bytes <= 8_000


def test_frames_are_shared_by_key_and_bounded_in_size() -> None:
    cache = FrameCache(max_chars=2_000)
    one = [log_event(1, payload='{"a":1}')]
    two = [log_event(2, payload='{"b":2}'), log_event(3, payload='{"c":3}')]
    text = cache.text(("u1", 0, 1), one)
    assert json.loads(text) == {"type": "flow:updated", "seq": 1, "data": {"a": 1}}
    both = cache.text(("u1", 1, 3), two)
    assert json.loads(both)["type"] == "batch"
    assert [item["seq"] for item in json.loads(both)["items"]] == [2, 3]
    assert cache.text(("u1", 0, 1), two) is text  # same key, same frame: not rebuilt
    assert cache.hits == 1

    big = [log_event(n, payload='"' + "p" * 300 + '"') for n in range(4, 7)]
    for n in range(10):
        cache.text(("u2", n), big)
        assert cache.chars <= 2_000
        assert cache.chars == sum(len(t) for t in cache._frames.values())
    assert ("u1", 0, 1) not in cache._frames  # the oldest went first
    huge = [log_event(9, payload='"' + "h" * 5_000 + '"')]
    assert json.loads(cache.text(("u3",), huge))["seq"] == 9  # built, but not kept
    assert ("u3",) not in cache._frames


async def test_connections_at_one_position_with_other_subscriptions_get_their_own_frames(
    tmp_path: Path,
) -> None:
    server = await start_server(ws_settings(tmp_path))
    try:
        api = server.apis["alice"]
        a = await api.create(flow_tree("a", leaves=1))
        b = await api.create(flow_tree("b", leaves=1))
        everything, only_a, not_a = [await server.connect() for _ in range(3)]
        await only_a.request({"type": "subscribe", "flowId": a["id"]})
        await not_a.request({"type": "unsubscribe", "flowId": a["id"]})
        for flow in (a, b):
            assert (await api.call("DELETE", f"/flows/{flow['id']}"))[0] == 204
        c = await api.create(flow_tree("c", leaves=1))
        await everything.until(lambda got: len(got) == 3)
        for client in (only_a, not_a):
            await client.quiet(0.3)
    finally:
        await server.close()
    kinds = [(m["type"], m["data"]["id"]) for m in everything.events]
    assert kinds == [
        ("flow:deleted", a["id"]),
        ("flow:deleted", b["id"]),
        ("flow:created", c["id"]),
    ]
    assert only_a.events == everything.events[:1]
    assert not_a.events == everything.events[1:]
