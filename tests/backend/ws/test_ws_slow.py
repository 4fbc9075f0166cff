"""A client that stops reading is told to resync; everyone else keeps streaming."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from backend.store import events
from tests.backend.ws.wskit import Server, log_of, start_server, wait_for, ws_settings

PAD = "x" * 32_768  # big events fill the socket buffers sooner


async def append(server: Server, count: int) -> None:
    """Append ``count`` large events of alice's (the hub does not care where they come from)."""
    async with server.store.db.transaction() as conn:
        for _ in range(count):
            payload = {"id": "flow-x", "pad": PAD}
            await events.append_event(
                conn, "flow:updated", "flow-x", server.user_ids["alice"], payload, 0
            )


async def test_a_slow_client_gets_a_resync_while_a_fast_one_gets_everything(
    tmp_path: Path,
) -> None:
    settings = ws_settings(tmp_path, ws_max_lag=40, ws_batch_max=10, ws_batch_window=0.0)
    server = await start_server(settings)
    try:
        slow = await server.connect()
        fast = await server.connect()
        reader = asyncio.create_task(fast.until(lambda got: False, within=300))
        await wait_for(lambda: len(server.hub.clients) == 2)
        hub = server.hub

        # Write until the slow client's pump is stuck in a send: far behind, not moving.
        stuck_for, last_cursor = 0, -1
        for _ in range(2_000):
            await append(server, 5)
            await asyncio.sleep(0.01)
            behind = min(hub.clients, key=lambda client: client.cursor)
            if hub.head - behind.cursor > 3 * settings.ws_max_lag:
                stuck_for = stuck_for + 1 if behind.cursor == last_cursor else 0
                last_cursor = behind.cursor
                if stuck_for >= 5:
                    break
        assert stuck_for >= 5, "the slow client never fell behind"
        behind_at = hub.head

        # It reads again: what was in flight, then a resync, then the live stream.
        await slow.until(lambda got: any(m["type"] == "resync" for m in got), within=60)
        await append(server, 3)
        stored = [event.seq for event in await log_of(server.store, server.user_ids["alice"])]
        await slow.until_seq(stored[-1])
        await wait_for(lambda: bool(fast.seqs) and fast.seqs[-1] == stored[-1])
    finally:
        with contextlib.suppress(asyncio.CancelledError, AssertionError):
            reader.cancel()
            await reader
        await server.close()

    assert fast.seqs == stored
    assert not any(m["type"] == "resync" for m in fast.received)

    types = [m["type"] for m in slow.received]
    assert types.count("resync") == 1
    cut = types.index("resync")
    resync = slow.received[cut]
    before = [m["seq"] for m in slow.received[:cut]]
    after = [m["seq"] for m in slow.received[cut + 1 :]]
    assert before == stored[: len(before)]  # a gap-free prefix
    assert resync["seq"] >= behind_at > before[-1]
    assert after == [seq for seq in stored if seq > resync["seq"]]
    assert after  # the stream went on after the resync
    assert hub.stats.resyncs["slow_client"] == 1
