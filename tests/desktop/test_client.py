"""The REST and websocket clients against a real aiohttp server (a fake backend)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from fakeserver import TOKEN, FakeBackend
from pytest_aiohttp import AiohttpServer

from desktop.client.errors import ApiError, AuthError, ConnectionFailed, NotFoundError
from desktop.client.records import FlowStatus, JobState, ServerMessage
from desktop.client.rest import RestClient
from desktop.client.ws import Backoff, LinkState, LinkStatus, LiveClient, split_frame, ws_url

FLOW = {
    "name": "render",
    "queueName": "jobQueue",
    "children": [
        {
            "name": "a",
            "queueName": "jobQueue",
            "children": [{"name": "a1", "queueName": "webhooks"}],
        },
        {"name": "b", "queueName": "flowQueue"},
    ],
}


@pytest.fixture
async def backend(aiohttp_server: AiohttpServer) -> AsyncIterator[tuple[FakeBackend, str]]:
    fake = FakeBackend()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


async def test_create_list_and_read(backend: tuple[FakeBackend, str]) -> None:
    fake, url = backend
    async with RestClient(url, TOKEN) as api:
        flow = await api.create_flow(FLOW)
        assert flow.name == "render"
        assert flow.total == 4
        assert flow.status is FlowStatus.ACTIVE
        page = await api.list_flows(limit=10)
        assert [f.id for f in page.items] == [flow.id]
        assert page.next_cursor is None
        jobs = await api.flow_tree(flow.id)
        assert [j.name for j in jobs] == ["render", "a", "a1", "b"]
        assert jobs[0].children == (jobs[1].job_id, jobs[3].job_id)
        assert {j.job_id for j in await api.flow_jobs(flow.id)} == {j.job_id for j in jobs}
        await fake.complete(jobs[2].job_id, {"n": 1})
        detail = await api.job_detail(jobs[2].job_id)
        assert detail.job.status is JobState.COMPLETED
        assert detail.job.result == {"n": 1}
        assert next(q.name for q in await api.queues()) == "jobQueue"
        assert await api.workers() == []
        assert (await api.health())["status"] == "ok"


async def test_paging_and_filters(backend: tuple[FakeBackend, str]) -> None:
    _fake, url = backend
    async with RestClient(url, TOKEN) as api:
        for i in range(5):
            await api.create_flow({"name": f"flow {i}", "queueName": "jobQueue"})
        first = await api.list_flows(limit=2)
        assert [f.name for f in first.items] == ["flow 4", "flow 3"]
        assert first.next_cursor is not None
        second = await api.list_flows(limit=2, cursor=first.next_cursor)
        assert [f.name for f in second.items] == ["flow 2", "flow 1"]
        found = await api.list_flows(search="FLOW 0")
        assert [f.name for f in found.items] == ["flow 0"]
        assert (await api.list_flows(status=FlowStatus.FAILED)).items == ()


async def test_errors_are_typed_and_carry_the_path(backend: tuple[FakeBackend, str]) -> None:
    _, url = backend
    async with RestClient(url, TOKEN) as api:
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
    async with RestClient(url, "wrong") as api:
        with pytest.raises(AuthError):
            await api.list_flows()


async def test_unreachable_server_is_connection_failed() -> None:
    async with RestClient("http://127.0.0.1:9", TOKEN, timeout=2) as api:
        with pytest.raises(ConnectionFailed):
            await api.health()


def test_split_frame_handles_batches() -> None:
    one = {"type": "flow:deleted", "seq": 3, "data": {"id": "f"}}
    assert [m.seq for m in split_frame(one)] == [3]
    assert [m.seq for m in split_frame([one, {**one, "seq": 4}])] == [3, 4]
    assert [m.seq for m in split_frame({"type": "batch", "items": [one]})] == [3]


def test_ws_url_and_backoff() -> None:
    assert ws_url("http://h:1/", None) == "ws://h:1/ws"
    assert ws_url("https://h", 7) == "wss://h/ws?since=7"
    backoff = Backoff(initial=1, factor=2, maximum=5, jitter=0)
    assert [backoff.delay(n) for n in (1, 2, 3, 4)] == [1, 2, 4, 5]


class Recorder:
    def __init__(self) -> None:
        self.messages: list[ServerMessage] = []
        self.resyncs: list[str] = []
        self.states: list[LinkStatus] = []
        self.event = asyncio.Event()

    def message(self, m: ServerMessage) -> None:
        self.messages.append(m)
        self.event.set()

    def resync(self, reason: str) -> None:
        self.resyncs.append(reason)
        self.event.set()

    def status(self, s: LinkStatus) -> None:
        self.states.append(s)
        self.event.set()

    async def until(self, predicate: Callable[[], object]) -> None:
        async with asyncio.timeout(10):
            while not predicate():
                self.event.clear()
                await self.event.wait()


def live(url: str, rec: Recorder) -> LiveClient:
    return LiveClient(
        url,
        TOKEN,
        on_message=rec.message,
        on_resync=rec.resync,
        on_status=rec.status,
        backoff=Backoff(initial=0.05, maximum=0.2),
    )


async def test_reconnect_resumes_from_last_seq(backend: tuple[FakeBackend, str]) -> None:
    fake, url = backend
    rec = Recorder()
    client = live(url, rec)
    client.start()
    try:
        await rec.until(lambda: client.status.state is LinkState.CONNECTED)
        await fake.create({"name": "one", "queueName": "jobQueue"})
        await rec.until(lambda: len(rec.messages) == 1)
        await fake.drop_sockets()
        await rec.until(lambda: client.status.state is LinkState.DISCONNECTED)
        # events written while the client is away are replayed on reconnect
        await fake.create({"name": "two", "queueName": "jobQueue"})
        await fake.create({"name": "three", "queueName": "jobQueue"})
        await rec.until(lambda: len(rec.messages) == 3)
        await fake.create({"name": "four", "queueName": "jobQueue"})
        await rec.until(lambda: len(rec.messages) == 4)
    finally:
        await client.close()
    assert [m.seq for m in rec.messages] == [1, 2, 3, 4]
    assert [m.data["name"] for m in rec.messages] == ["one", "two", "three", "four"]
    assert fake.ws_connects[-1] == "since=1"
    assert rec.resyncs == []
    assert client.status.state is LinkState.CLOSED


async def test_resync_when_since_is_too_old(backend: tuple[FakeBackend, str]) -> None:
    fake, url = backend
    for i in range(3):
        await fake.create({"name": f"f{i}", "queueName": "jobQueue"})
    fake.retained_from = 3
    rec = Recorder()
    client = LiveClient(url, TOKEN, on_message=rec.message, on_resync=rec.resync, since=0)
    client.start()
    try:
        await rec.until(lambda: rec.resyncs)
        await fake.create({"name": "live", "queueName": "jobQueue"})
        await rec.until(lambda: rec.messages)
    finally:
        await client.close()
    assert rec.messages[0].seq == 4
    assert client.last_seq == 4


async def test_duplicates_at_the_seam_are_dropped(backend: tuple[FakeBackend, str]) -> None:
    fake, url = backend
    rec = Recorder()
    client = live(url, rec)
    client.start()
    try:
        await rec.until(lambda: client.status.state is LinkState.CONNECTED)
        await fake.create({"name": "one", "queueName": "jobQueue"})
        await rec.until(lambda: rec.messages)
        # a server that replays an event the client already has
        for ws in fake.sockets:
            await ws.send_str('{"type": "flow:created", "seq": 1, "data": {}}')
            await ws.send_str("not json")
        await fake.create({"name": "two", "queueName": "jobQueue"})
        await rec.until(lambda: len(rec.messages) == 2)
    finally:
        await client.close()
    assert [m.seq for m in rec.messages] == [1, 2]
