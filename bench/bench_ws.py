"""Websocket fan-out under a burst: 50 clients watch a 10,000-job flow run.

The backend (API, hub, execution layer, and an in-process worker running
``bench/flow_tasks.py``'s no-op task on taskiq's in-memory broker) runs in
this process; the clients run in a child process (this script with
``--clients``), so parsing 50 streams does not steal the server's loop. Each
client connects, records the receive time of every event, reconnects with
``?since=`` if it is dropped, and stops when it has seen the flow finish.

Prints: events delivered per second (all clients), frames per client,
commit-to-delivery lag (receive time minus the event's ``created_at``,
median and p99), and per client the events missed (the stored log minus what
it received, replay included: must be 0) and duplicates. The lag is then split
at the moment the hub read the event into its buffer: before it is the write
side (``created_at`` is stamped when the event's transaction starts), after it
websocket delivery (including the client process's own queue). The server
line says how many frames were shared between clients and how many reads
were served from memory or from SQLite.

    python bench/bench_ws.py [--clients 50] [--jobs 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from backend.api.hub import HUB  # noqa: E402
from backend.api.server import create_server_app  # noqa: E402
from backend.settings import Settings  # noqa: E402
from backend.store import events  # noqa: E402
from backend.store.store import Store  # noqa: E402

# -- client process -----------------------------------------------------------


async def watch(url: str, token: str, since: int) -> dict[str, Any]:
    got: list[tuple[int, float]] = []
    stats = {"frames": 0, "resyncs": 0, "reconnects": 0}
    last = since
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        while True:
            async with session.ws_connect(
                f"{url}/ws?since={last}", max_msg_size=0, heartbeat=30
            ) as ws:
                if stats["frames"] == 0:
                    print("connected", flush=True)
                async for frame in ws:
                    now = time.time()
                    raw = json.loads(frame.data)
                    items = raw["items"] if raw.get("type") == "batch" else [raw]
                    stats["frames"] += 1
                    for item in items:
                        if item["type"] == "resync":
                            stats["resyncs"] += 1
                        elif item["seq"] > last:
                            got.append((item["seq"], now))
                        last = max(last, item["seq"])
                        if item["type"] == "flow:updated" and item["data"]["status"] != "active":
                            return {"got": got, **stats}
            stats["reconnects"] += 1


async def clients_main(url: str, token: str, since: int, count: int) -> list[dict[str, Any]]:
    return await asyncio.gather(*(watch(url, token, since) for _ in range(count)))


# -- server side --------------------------------------------------------------


def tree(jobs: int) -> dict[str, Any]:
    leaves = [{"name": "noop", "queueName": "jobQueue"} for _ in range(jobs - 1)]
    return {"name": "noop", "queueName": "jobQueue", "children": leaves}


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))]


async def run(
    args: argparse.Namespace, workdir: Path
) -> tuple[list[Any], list[tuple[float, int]], float]:
    settings = Settings(
        db=workdir / "bench.db",
        in_memory_broker=True,
        tasks=("bench.flow_tasks",),
        redis_url="redis://127.0.0.1:1/0",
        shutdown_timeout=3.0,
    )
    store = await Store.open(settings.db)
    user, token = await store.create_user("bench")
    app = create_server_app(settings, store)
    hub = app[HUB]
    fills: list[tuple[float, int]] = []  # (time, buffer head) after each hub read of the log
    extend = hub.buffer.extend

    def recording_extend(found: Iterable[events.LogEvent], scanned_to: int) -> None:
        extend(found, scanned_to)
        fills.append((time.time(), scanned_to))

    hub.buffer.extend = recording_extend  # type: ignore[method-assign]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    async with store.db.read() as conn:
        start = await events.head_seq(conn)
    out = workdir / "clients.json"
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--clients", str(args.clients), "--url", url,
        "--token", token, "--since", str(start), "--out", str(out),
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    for _ in range(args.clients):
        await child.stdout.readline()
    await asyncio.sleep(0.5)
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {token}"}) as session:
        began = time.time()
        async with session.post(url + "/flows", json=tree(args.jobs)) as response:
            assert response.status == 201, await response.text()
        await asyncio.wait_for(child.wait(), 600)
        finished = time.time()
    stats = hub.stats
    print(f"server: frames sent {stats.frames_sent:,} ({hub.frames.hits:,} shared), "
          f"events sent {stats.events_sent:,}, resyncs {dict(stats.resyncs)}, "
          f"reads from memory {stats.buffer_reads:,}, from SQLite {stats.log_reads:,}")  # fmt: skip
    async with store.db.read() as conn:
        stored = (await events.events_after_for_user(conn, user.id, start, 10**9)).events
    await runner.cleanup()
    await store.close()
    return stored, fills, finished - began


def report(
    args: argparse.Namespace, results: list[dict[str, Any]], stored: list[Any], elapsed: float
) -> None:
    created = {event.seq: event.created_at / 1000 for event in stored}
    expected = set(created)
    lags: list[float] = []
    missed, dupes, delivered = [], [], 0
    for result in results:
        seqs = [seq for seq, _ in result["got"]]
        delivered += len(seqs)
        missed.append(len(expected - set(seqs)))
        dupes.append(len(seqs) - len(set(seqs)))
        lags += [(at - created[seq]) * 1000 for seq, at in result["got"] if seq in created]
    first = min(at for result in results for _, at in result["got"])
    last = max(at for result in results for _, at in result["got"])
    frames = [result["frames"] for result in results]
    print(f"{args.clients} clients, flow of {args.jobs:,} jobs: {len(stored):,} events stored, "
          f"flow done + delivered in {elapsed:.2f} s")  # fmt: skip
    print(f"events delivered: {delivered:,} ({delivered / (last - first):,.0f}/s over the "
          f"{last - first:.2f} s of delivery)")  # fmt: skip
    print(f"frames per client: median {statistics.median(frames):.0f} "
          f"(≈{statistics.median(len(r['got']) for r in results) / statistics.median(frames):.0f} "
          f"events/frame)")  # fmt: skip
    print(f"commit-to-delivery lag: median {statistics.median(lags):.1f} ms, "
          f"p99 {pct(lags, 0.99):.1f} ms, max {max(lags):.1f} ms")  # fmt: skip
    print(f"missed events per client: max {max(missed)} (total {sum(missed)}); "
          f"duplicates: {sum(dupes)}; resyncs: {sum(r['resyncs'] for r in results)}; "
          f"reconnects: {sum(r['reconnects'] for r in results)}")  # fmt: skip


def split(results: list[dict[str, Any]], stored: list[Any], fills: list[tuple[float, int]]) -> None:
    """The lag in two parts: until the hub had read the event (the write side:
    ``created_at`` is stamped when its transaction starts), and from there to
    the client (websocket delivery, including the client process's queue)."""
    heads = [head for _, head in fills]
    buffered = {}
    for event in stored:
        at = fills[bisect.bisect_left(heads, event.seq)][0]
        buffered[event.seq] = (at - event.created_at / 1000) * 1000
    to_hub = list(buffered.values())
    to_client = [
        (at - fills[bisect.bisect_left(heads, seq)][0]) * 1000
        for result in results
        for seq, at in result["got"]
        if seq in buffered
    ]
    print(f"  of which created-to-hub-read: median {statistics.median(to_hub):.1f} ms, "
          f"p99 {pct(to_hub, 0.99):.1f} ms; hub-read-to-client: median "
          f"{statistics.median(to_client):.1f} ms, p99 {pct(to_client, 0.99):.1f} ms, "
          f"max {max(to_client):.1f} ms")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--url")
    parser.add_argument("--token")
    parser.add_argument("--since", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.url:  # the child process
        results = asyncio.run(clients_main(args.url, args.token, args.since, args.clients))
        args.out.write_text(json.dumps(results))
        return
    with tempfile.TemporaryDirectory(prefix="flowdesk-bench-ws-") as tmp:
        stored, fills, elapsed = asyncio.run(run(args, Path(tmp)))
        results = json.loads((Path(tmp) / "clients.json").read_text())
        report(args, results, stored, elapsed)
        split(results, stored, fills)


if __name__ == "__main__":
    main()
