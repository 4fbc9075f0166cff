"""Retention: the event log is pruned by count and age, and a too-old ``since`` means resync."""

from __future__ import annotations

from pathlib import Path

from backend.store import events
from backend.store.store import Store
from tests.backend.ws.wskit import Server, flow_tree, log_of, start_server, wait_for, ws_settings


async def test_since_older_than_the_retained_log_gets_a_resync(tmp_path: Path) -> None:
    settings = ws_settings(tmp_path, events_retention_count=4, events_prune_interval=0.05)
    server = await start_server(settings)
    try:
        api = server.apis["alice"]
        for i in range(10):
            await api.create(flow_tree(f"f{i}", leaves=1))
        await wait_for(lambda: server.hub.stats.pruned == 6)
        kept = await log_of(server.store, server.user_ids["alice"])
        assert [event.seq for event in kept] == [7, 8, 9, 10]

        old = await server.connect(since=3)
        first = (await old.until(bool))[0]
        assert first == {"type": "resync", "seq": 10, "data": {"reason": "since_pruned"}}
        assert await old.quiet(0.2) == []  # nothing replayed after a resync...
        flow = await api.create(flow_tree("new", leaves=1))
        await old.until(lambda got: len(got) == 2)  # ...but the live stream goes on
        assert old.received[1]["seq"] == 11
        assert old.received[1]["data"]["id"] == flow["id"]

        edge = await server.connect(since=6)  # 7.. are all still there: a plain replay
        await edge.until_seq(11)
        assert edge.seqs == [7, 8, 9, 10, 11]

        future = await server.connect(since=500)  # a seq from another database
        answer = (await future.until(bool))[0]
        assert answer["type"] == "resync"
        assert answer["data"]["reason"] == "since_unknown"
        assert answer["seq"] == 11
        assert server.hub.stats.resyncs == {"since_pruned": 1, "since_unknown": 1}
    finally:
        await server.close()


async def test_pruning_by_age_and_count_removes_a_prefix(tmp_path: Path) -> None:
    async with await Store.open(tmp_path / "f.db") as store:
        async with store.db.transaction() as conn:
            for created in (1_000, 2_000, 3_000, 4_000, 5_000, 6_000):
                await events.append_event(conn, "flow:updated", "f", "u", {}, created)
        async with store.db.read() as conn:
            assert await events.prune_target(conn, now=10_000, max_age_ms=None, max_count=None) == 0
            by_age = await events.prune_target(conn, now=5_500, max_age_ms=3_000, max_count=None)
            by_count = await events.prune_target(conn, now=5_500, max_age_ms=None, max_count=3)
            both = await events.prune_target(conn, now=5_500, max_age_ms=3_000, max_count=5)
        assert (by_age, by_count, both) == (2, 3, 2)

        async with store.db.transaction() as conn:
            assert await events.prune_events(conn, 5, chunk=2) == 2  # chunked
            assert await events.pruned_through(conn) == 2
            assert await events.prune_events(conn, 5, chunk=2) == 2
            assert await events.prune_events(conn, 5, chunk=2) == 1
            assert await events.prune_events(conn, 5, chunk=2) == 0
            assert await events.pruned_through(conn) == 5
        async with store.db.read() as conn:
            left = await events.events_after(conn, 0, 100)
            assert [event.seq for event in left] == [6]
            assert await events.head_seq(conn) == 6
        async with store.db.transaction() as conn:
            await conn.execute("DELETE FROM events")
        async with store.db.read() as conn:
            assert await events.head_seq(conn) == 6  # seqs are never reused


async def test_user_reads_scan_to_the_head_without_events_of_their_own(server: Server) -> None:
    await server.apis["bob"].create(flow_tree("b", leaves=1))
    await server.apis["alice"].create(flow_tree("a", leaves=1))
    async with server.store.db.read() as conn:
        bob = await events.events_after_for_user(conn, server.user_ids["bob"], 0, 10)
        alice = await events.events_after_for_user(conn, server.user_ids["alice"], 0, 1)
        only = await events.events_after_for_user(
            conn, server.user_ids["alice"], 0, 10, flow_ids={"nope"}
        )
    assert [e.seq for e in bob.events] == [1]
    assert bob.scanned_to == 2
    assert [e.seq for e in alice.events] == [2]
    assert alice.scanned_to == 2
    assert only.events == []
    assert only.scanned_to == 2
