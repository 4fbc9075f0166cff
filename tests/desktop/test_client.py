"""The REST and websocket clients against the real application (in-memory broker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from realserver import real_server, wait_finished, wait_stuck

from backend.api.hub import HUB
from backend.backoff import Backoff
from backend.schemas import (
    BULK_OK,
    BulkAction,
    EventMessage,
    FlowCreatedMessage,
    FlowStatus,
    JobState,
)
from desktop.client.errors import ApiError, AuthError, ConnectionFailed, NotFoundError
from desktop.client.rest import RestClient
from desktop.client.ws import LinkState, LinkStatus, LiveClient, ws_url

# root sum = 1 + (2 + 3) + 4 = 10; pre-order: sum, sum, echo, echo
TREE: dict[str, Any] = {
    "name": "sum",
    "queueName": "jobQueue",
    "data": {"add": 1},
    "children": [
        {
            "name": "sum",
            "queueName": "jobQueue",
            "data": {"add": 2},
            "children": [{"name": "echo", "queueName": "webhooks", "data": 3}],
        },
        {"name": "echo", "queueName": "flowQueue", "data": 4},
    ],
}


async def test_create_list_and_read(tmp_path: Path) -> None:
    async with real_server(tmp_path) as server, RestClient(server.url, server.token) as api:
        flow = await api.create_flow(TREE)
        assert (flow.name, flow.total, flow.status) == ("sum", 4, FlowStatus.ACTIVE)
        page = await api.list_flows(limit=10)
        assert [f.id for f in page.items] == [flow.id]
        assert page.next_cursor is None
        assert await wait_finished(api, flow.id) is FlowStatus.COMPLETED
        jobs = await api.flow_tree(flow.id)
        assert [j.name for j in jobs] == ["sum", "sum", "echo", "echo"]
        assert jobs[0].children == [jobs[1].job_id, jobs[3].job_id]
        assert {j.job_id for j in await api.flow_jobs(flow.id)} == {j.job_id for j in jobs}
        detail = await api.get_job(jobs[0].job_id)
        assert (detail.status, detail.result) == (JobState.COMPLETED, 10)
        assert {q.name for q in await api.queues()} >= {"jobQueue", "webhooks", "flowQueue"}
        assert len(await api.workers()) == 1  # the in-process worker
        assert (await api.health()).status == "ok"


async def test_paging_search_and_status_filter(tmp_path: Path) -> None:
    async with real_server(tmp_path) as server, RestClient(server.url, server.token) as api:
        for i in range(5):
            await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": i})
        failing = await api.create_flow(
            {"name": "fail", "queueName": "jobQueue", "opts": {"attempts": 1}}
        )
        first = await api.list_flows(limit=2)
        assert first.items[0].id == failing.id
        assert first.next_cursor is not None
        second = await api.list_flows(limit=2, cursor=first.next_cursor)
        assert not {f.id for f in first.items} & {f.id for f in second.items}
        assert len(second.items) == 2
        # the search the window's box sends: a case-insensitive substring of the name
        found = await api.list_flows(search="FAI")
        assert [f.id for f in found.items] == [failing.id]
        assert len((await api.list_flows(search="ech")).items) == 5
        assert await wait_finished(api, failing.id) is FlowStatus.FAILED
        assert [f.id for f in (await api.list_flows(status=FlowStatus.FAILED)).items] == [
            failing.id
        ]


async def test_bulk_reads_the_servers_cap_and_answers_per_flow(tmp_path: Path) -> None:
    async with (
        real_server(tmp_path, bulk_max_flows=3) as server,
        RestClient(server.url, server.token) as api,
    ):
        assert await api.bulk_cap() == 3  # from the server's OpenAPI document
        flow = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 1})
        await wait_finished(api, flow.id)
        answer = await api.bulk_flows(BulkAction.DELETE, [flow.id, "missing"])
        assert {r.id: r.outcome for r in answer.results} == {
            flow.id: BULK_OK,
            "missing": "flow_not_found",
        }
        with pytest.raises(ApiError) as info:  # more than the cap: refused as a whole
            await api.bulk_flows(BulkAction.DELETE, ["a", "b", "c", "d"])
        assert (info.value.code, info.value.path) == ("too_many_flows", "ids")


async def test_errors_are_typed_and_carry_the_path(tmp_path: Path) -> None:
    async with real_server(tmp_path) as server:
        async with RestClient(server.url, server.token) as api:
            bad = {
                "name": "x",
                "queueName": "jobQueue",
                "children": [{"name": "y", "queueName": "nope"}],
            }
            with pytest.raises(ApiError) as info:
                await api.create_flow(bad)
            assert info.value.status == 422
            assert info.value.path == "children[0].queueName"
            with pytest.raises(NotFoundError):
                await api.get_flow("missing")
            with pytest.raises(NotFoundError):
                await api.get_job("missing")
        async with RestClient(server.url, "fd_wrong") as api:
            with pytest.raises(AuthError):
                await api.list_flows()


async def test_unreachable_server_is_connection_failed() -> None:
    async with RestClient("http://127.0.0.1:9", "t", timeout=2) as api:
        with pytest.raises(ConnectionFailed):
            await api.health()


def test_ws_url_and_backoff() -> None:
    assert ws_url("http://h:1/", None) == "ws://h:1/ws"
    assert ws_url("https://h", 7) == "wss://h/ws?since=7"
    backoff = Backoff(initial=1, factor=2, maximum=5, jitter=0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


class Recorder:
    def __init__(self) -> None:
        self.messages: list[EventMessage] = []
        self.resyncs: list[str] = []
        self.states: list[LinkStatus] = []
        self.event = asyncio.Event()

    def message(self, m: EventMessage) -> None:
        self.messages.append(m)
        self.event.set()

    def resync(self, reason: str) -> None:
        self.resyncs.append(reason)
        self.event.set()

    def status(self, s: LinkStatus) -> None:
        self.states.append(s)
        self.event.set()

    def created(self) -> list[str]:
        return [m.data.name for m in self.messages if isinstance(m, FlowCreatedMessage)]

    async def until(self, predicate: Callable[[], object]) -> None:
        async with asyncio.timeout(30):
            while not predicate():
                self.event.clear()
                await self.event.wait()


def live(url: str, token: str, rec: Recorder, since: int | None = None) -> LiveClient:
    return LiveClient(
        url,
        token,
        on_message=rec.message,
        on_resync=rec.resync,
        on_status=rec.status,
        backoff=Backoff(initial=0.05, maximum=0.2),
        since=since,
    )


async def test_reconnect_resumes_from_last_seq(tmp_path: Path) -> None:
    async with real_server(tmp_path) as server, RestClient(server.url, server.token) as api:
        rec = Recorder()
        client = live(server.url, server.token, rec)
        client.start()
        try:
            await rec.until(lambda: client.status.state is LinkState.CONNECTED)
            one = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 1})
            await rec.until(lambda: client.last_seq is not None)
            await client.drop()
            await rec.until(lambda: client.status.state is LinkState.DISCONNECTED)
            # events written while the client is away are replayed on reconnect
            two = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 2})
            await wait_finished(api, two.id)
            await wait_finished(api, one.id)
            await rec.until(lambda: client.connections == 2)
            three = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 3})
            await wait_finished(api, three.id)
            await rec.until(
                lambda: (
                    {one.id, two.id, three.id}
                    <= {m.data.id for m in rec.messages if isinstance(m, FlowCreatedMessage)}
                )
            )
            await asyncio.sleep(0.2)
        finally:
            await client.close()
        seqs = [m.seq for m in rec.messages]
        assert seqs == list(range(1, len(seqs) + 1))  # every event, once, in order
        assert rec.resyncs == []
        assert client.status.state is LinkState.CLOSED


async def test_resync_when_since_is_older_than_the_retained_log(tmp_path: Path) -> None:
    async with (
        real_server(tmp_path, events_retention_count=2, events_prune_interval=0.05) as server,
        RestClient(server.url, server.token) as api,
    ):
        for i in range(3):
            flow = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": i})
            await wait_finished(api, flow.id)
        hub = server.runner.app[HUB]
        async with asyncio.timeout(20):
            while hub.stats.pruned < 2:  # the oldest events are gone
                await asyncio.sleep(0.05)
        rec = Recorder()
        client = live(server.url, server.token, rec, since=0)
        client.start()
        try:
            await rec.until(lambda: rec.resyncs)
            head = client.last_seq
            assert head is not None
            assert head > 2
            later = await api.create_flow({"name": "echo", "queueName": "jobQueue", "data": 9})
            await rec.until(lambda: any(m.data.id == later.id for m in rec.messages))
        finally:
            await client.close()
        assert rec.messages[0].seq == head + 1  # nothing replayed, the live stream goes on


async def test_stuck_flow_is_seen_live(tmp_path: Path) -> None:
    async with real_server(tmp_path) as server, RestClient(server.url, server.token) as api:
        rec = Recorder()
        client = live(server.url, server.token, rec)
        client.start()
        try:
            await rec.until(lambda: client.status.state is LinkState.CONNECTED)
            flow = await api.create_flow(
                {
                    "name": "sum",
                    "queueName": "jobQueue",
                    "children": [{"name": "fail", "queueName": "jobQueue"}],
                }
            )
            await wait_stuck(api, flow.id)
            await rec.until(lambda: any(getattr(m.data, "stuck", None) for m in rec.messages))
        finally:
            await client.close()
