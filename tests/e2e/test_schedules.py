"""Scheduled flows through the real server, real workers and a killed backend."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from backend.settings import Settings
from tests.e2e.kit import Api, Backend, Workers, node, wait_workers
from tests.e2e.test_crashes import serving, wait_ready

QUICK = {"name": "value", "queueName": "jobQueue", "data": {"value": 1}}


async def runs_of(api: Api, name: str) -> list[dict[str, Any]]:
    """The flows a schedule created, oldest first."""
    page = await api.ok("GET", "/flows?limit=200")
    return sorted(
        (f for f in page["items"] if f"(schedule {name} at " in f["name"]),
        key=lambda f: f["createdAt"],
    )


def planned(flow: dict[str, Any]) -> float:
    """The planned tick a run's name records."""
    return datetime.fromisoformat(flow["name"].rsplit(" at ", 1)[1].rstrip(")")).timestamp()


async def until(check: Any, within: float = 60.0) -> Any:
    deadline = time.monotonic() + within
    while not (found := await check()):
        if time.monotonic() > deadline:
            pytest.fail("timed out")
        await asyncio.sleep(0.1)
    return found


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"name": "s", "cron": "61 * * * *", "flow": QUICK}, "cron"),
        ({"name": "s", "cron": "0 3 * * *", "timezone": "Mars/Base", "flow": QUICK}, "timezone"),
        ({"name": "s", "every": 500, "flow": QUICK}, "every"),
        ({"name": "s", "every": "2000", "flow": QUICK}, "every"),
        ({"name": "s", "flow": QUICK}, None),
        ({"name": "s", "cron": "* * * * *", "every": 2000, "flow": QUICK}, None),
        ({"name": "s", "every": 2000, "flow": {**QUICK, "queueName": "nope"}}, "flow.queueName"),
        ({"name": "s", "every": 2000, "flow": {**QUICK, "opts": {"attempts": 0}}},
         "flow.opts.attempts"),
        ({"name": "s", "every": 2000, "flow": QUICK, "overlap": "queue"}, "overlap"),
        ({"name": "s", "every": 2000, "flow": QUICK, "catchUp": "all"}, "catchUp"),
    ],
)  # fmt: skip
async def test_invalid_schedules_are_422_naming_the_field(
    backend: Backend, body: dict[str, Any], path: str | None
) -> None:
    status, answer = await backend.api.call("POST", "/schedules", body)
    assert status == 422, answer
    assert answer["error"].get("path") == path
    assert (await backend.api.ok("GET", "/schedules"))["items"] == []


async def test_a_fixed_job_id_is_409(backend: Backend) -> None:
    body = {"name": "s", "every": 2000, "flow": {**QUICK, "opts": {"jobId": "fixed"}}}
    status, answer = await backend.api.call("POST", "/schedules", body)
    assert (status, answer["error"]["path"]) == (409, "flow.opts.jobId")


async def test_manage_a_schedule(backend: Backend, workers: Workers) -> None:
    api = backend.api
    created = await api.ok(
        "POST",
        "/schedules",
        {"name": "nightly", "cron": "0 3 * * *", "timezone": "Europe/Paris", "flow": QUICK},
    )
    sid = created["id"]
    assert (created["cron"], created["every"], created["overlap"], created["catchUp"]) == (
        "0 3 * * *", None, "skip", "once")  # fmt: skip
    assert created["nextRunAt"] > created["createdAt"]
    paris = datetime.fromisoformat(created["nextRunAt"]).astimezone(
        __import__("zoneinfo").ZoneInfo("Europe/Paris")
    )
    assert (paris.hour, paris.minute) == (3, 0)
    assert [s["id"] for s in (await api.ok("GET", "/schedules"))["items"]] == [sid]

    assert (await api.ok("POST", f"/schedules/{sid}/pause"))["paused"] is True
    assert (await api.ok("POST", f"/schedules/{sid}/resume"))["paused"] is False
    changed = await api.ok("PATCH", f"/schedules/{sid}", {"every": 3_600_000, "name": "hourly"})
    assert (changed["cron"], changed["every"], changed["name"]) == (None, 3_600_000, "hourly")
    status, answer = await api.call("PATCH", f"/schedules/{sid}", {"timezone": "Nowhere/X"})
    assert (status, answer["error"]["path"]) == (422, "timezone")

    workers.start()
    flow = await api.ok("POST", f"/schedules/{sid}/run")
    assert flow["name"].startswith("value (schedule hourly at ")
    assert (await api.wait_flow(flow["id"]))["status"] == "completed"
    got = await api.ok("GET", f"/schedules/{sid}")
    assert (got["lastFlowId"], got["lastFlowStatus"]) == (flow["id"], "completed")
    assert got["nextRunAt"] == changed["nextRunAt"]  # running now leaves the next tick

    status, _ = await api.call("GET", "/schedules/nope")
    assert status == 404
    status, _ = await api.call("DELETE", f"/schedules/{sid}")
    assert status == 204
    status, _ = await api.call("GET", f"/schedules/{sid}")
    assert status == 404


async def test_every_two_seconds_creates_flows_at_that_pace(
    backend: Backend, workers: Workers
) -> None:
    workers.start()
    schedule = await backend.api.ok(
        "POST", "/schedules", {"name": "pace", "every": 2000, "flow": QUICK}
    )

    async def three() -> list[dict[str, Any]] | None:
        found = await runs_of(backend.api, "pace")
        return found if len(found) >= 3 else None

    flows = await until(three)
    ticks = [planned(f) for f in flows]
    assert [b - a for a, b in itertools.pairwise(ticks)] == [2.0] * (len(ticks) - 1)
    # each run records its schedule and tick in its metadata, and is found by them
    found = await backend.api.ok("GET", f"/flows?meta.schedule={schedule['id']}&limit=200")
    by_id = {f["id"]: f for f in found["items"]}
    assert {f["id"] for f in flows} <= set(by_id)
    for flow in flows:
        tick = datetime.fromisoformat(by_id[flow["id"]]["metadata"]["plannedAt"]).timestamp()
        assert tick == planned(flow)
    for flow in flows:
        assert (await backend.api.wait_flow(flow["id"]))["status"] == "completed"


async def test_overlap_skip_never_runs_two_at_once(backend: Backend, workers: Workers) -> None:
    workers.start()
    await wait_workers(backend.api, 1)
    slow = node("slow", "slow", data={"seconds": 3, "value": 1})
    slow.pop("opts")
    schedule = await backend.api.ok(
        "POST", "/schedules", {"name": "long", "every": 1000 * 2, "flow": slow, "overlap": "skip"}
    )

    async def two_done() -> list[dict[str, Any]] | None:
        found = await runs_of(backend.api, "long")
        done = [f for f in found if f["status"] != "active"]
        return found if len(done) >= 2 else None

    await until(two_done)
    await backend.api.ok("POST", f"/schedules/{schedule['id']}/pause")
    flows = [await backend.api.wait_flow(f["id"]) for f in await runs_of(backend.api, "long")]
    spans = sorted((f["createdAt"], f["finishedAt"]) for f in flows)
    for (_start, end), (next_start, _end) in itertools.pairwise(spans):
        assert next_start >= end, spans


async def test_a_tick_missed_while_the_backend_was_down_runs_once(
    settings: Settings, workers: Workers, tmp_path: Path
) -> None:
    async with serving(settings, tmp_path) as (server, api):
        workers.start()
        await api.ok(
            "POST",
            "/schedules",
            {"name": "tick", "cron": "*/4 * * * * *", "flow": QUICK, "overlap": "allow"},
        )
        # (overlap allow, so a run still active at the kill cannot make the
        # catch-up an overlap skip: this test is about the catch-up alone)
        await until(lambda: _at_least(api, 1))
        server.kill()
        down = time.time()
        await asyncio.sleep(9)  # two ticks fall while the backend is down
        restarted = time.time()
        server.start()
        await wait_ready(api, server)
        up = time.time()
        await asyncio.sleep(1)
        flows = await runs_of(api, "tick")
        server.kill()
    ticks = sorted(planned(f) for f in flows)
    assert len(ticks) == len(set(ticks)), ticks  # no tick fired twice
    # Of the two or three ticks that fell while it was down, at most one ran
    # (once, for the latest); the first run after the restart is for a tick
    # at most one period before the backend was ready again: the latest
    # missed one, not skipped (+1 s: the runner's first pass may come a
    # moment after /health answers, and a tick may fall in between).
    assert len([t for t in ticks if down < t < restarted]) <= 1, (down, restarted, ticks)
    first = min(t for t in ticks if t > down)
    assert up - 4 <= first <= up + 1, (down, restarted, up, ticks)


async def _at_least(api: Api, count: int) -> bool:
    done = [f for f in await runs_of(api, "tick") if f["status"] == "completed"]
    return len(done) >= count
