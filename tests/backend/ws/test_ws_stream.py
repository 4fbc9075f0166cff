"""Event order and content over a whole flow run, and replay with ``since``."""

from __future__ import annotations

import asyncio
import json

from tests.backend.ws.wskit import Server, flow_done, flow_tree, log_of


async def test_a_flow_run_streams_every_event_in_order_with_its_final_state(
    running: Server,
) -> None:
    client = await running.connect()
    api = running.apis["alice"]
    flow = await api.create(flow_tree("run", leaves=4))
    await client.until(flow_done(flow["id"]))

    stored = await log_of(running.store, running.user_ids["alice"])
    assert client.seqs == [event.seq for event in stored]  # all of them, in order, once
    for message, event in zip(client.events, stored, strict=True):
        assert message["type"] == event.type
        assert message["data"] == json.loads(event.payload)

    first = client.events[0]
    assert first["type"] == "flow:created"
    assert first["data"]["id"] == flow["id"]
    # the last word on each job is its state in REST
    last_job: dict[str, dict[str, object]] = {}
    for message in client.events:
        if message["type"] == "flow:job:updated":
            last_job[message["data"]["jobId"]] = message["data"]
    jobs = await api.jobs(flow["id"])
    assert set(last_job) == set(jobs)
    for job_id, job in jobs.items():
        assert last_job[job_id]["status"] == job["status"] == "completed"
        assert last_job[job_id]["result"] == job["result"]
    assert last_job["run-root"]["result"] == 0 + 1 + 2 + 3
    # (the engine may fold a job's active+completed of one batch into one update)
    states = [(m["data"]["jobId"], m["data"]["status"]) for m in client.events
              if m["type"] == "flow:job:updated"]  # fmt: skip
    for job_id in jobs:
        mine = [state for jid, state in states if jid == job_id]
        assert mine.count("completed") == 1
        assert mine[-1] == "completed"
    root_done = states.index(("run-root", "completed"))
    assert all(states.index((f"run-{i}", "completed")) < root_done for i in range(4))
    final = client.events[-1]
    assert final["type"] == "flow:updated"
    assert final["data"]["status"] == "completed"
    assert final["data"] == await api.ok("GET", f"/flows/{flow['id']}")


async def test_since_replays_exactly_the_events_after_it(running: Server) -> None:
    api = running.apis["alice"]
    watcher = await running.connect()
    flow = await api.create(flow_tree("replay", leaves=3))
    await watcher.until(flow_done(flow["id"]))
    everything = watcher.events
    assert len(everything) >= 6

    for cut in (0, 1, len(everything) // 2, len(everything) - 1, len(everything)):
        since = 0 if cut == 0 else everything[cut - 1]["seq"]
        client = await running.connect(since=since)
        expected = everything[cut:]
        if expected:
            await client.until_seq(expected[-1]["seq"])
        assert client.events == expected, cut
        assert await client.quiet(0.2) == []  # nothing more, nothing twice
        await client.close()

    # after the replay the same socket carries live events
    client = await running.connect(since=everything[2]["seq"])
    await client.until_seq(everything[-1]["seq"])
    deleted = await api.call("DELETE", f"/flows/{flow['id']}")
    assert deleted[0] == 204
    await client.until(lambda got: got[-1]["type"] == "flow:deleted")
    assert client.events[-1]["seq"] > everything[-1]["seq"]
    assert client.events[:-1] == everything[3:]


async def test_reconnecting_in_the_middle_of_a_running_flow_misses_and_repeats_nothing(
    running: Server,
) -> None:
    api = running.apis["alice"]
    first = await running.connect()
    flow = await api.create(flow_tree("mid", leaves=6, seconds=0.3))
    seen = await first.until(lambda got: len(got) >= 5)
    last = seen[-1]["seq"]
    await first.close()
    await asyncio.sleep(0.3)  # the flow keeps running while we are away

    second = await running.connect(since=last)
    await second.until(flow_done(flow["id"]))
    joined = first.events + second.events
    stored = await log_of(running.store, running.user_ids["alice"])
    assert [m["seq"] for m in joined] == [event.seq for event in stored]
    assert second.events[0]["seq"] > last


async def test_clients_connecting_while_events_are_written_see_a_seamless_stream(
    server: Server,
) -> None:
    """Connect with ``since`` again and again while flows are being created."""
    api = server.apis["alice"]
    stop = asyncio.Event()

    async def writer() -> int:
        made = 0
        while not stop.is_set():
            await api.create(flow_tree(f"w{made}", leaves=1))
            made += 1
        return made

    task = asyncio.create_task(writer())
    clients = []
    try:
        for since in range(0, 30, 3):
            # a `since` beyond the head is another database's (resync): wait
            # until the writer has got that far, however slow the machine is
            while not (log := await log_of(server.store, server.user_ids["alice"])) or (
                log[-1].seq < since
            ):
                await asyncio.sleep(0.01)
            clients.append((since, await server.connect(since=since)))
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        made = await task
    assert made >= 10
    stored = await log_of(server.store, server.user_ids["alice"])
    for since, client in clients:
        expected = [event.seq for event in stored if event.seq > since]
        await client.until_seq(expected[-1])
        assert client.seqs == expected, since
