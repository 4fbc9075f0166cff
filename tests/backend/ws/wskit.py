"""Websocket test kit: a real server (optionally running flows), real websocket clients.

``start_server`` builds the real application over a SQLite file in tmp_path
with two users (alice, bob), on a real port; with ``execution=True`` it also
runs the execution layer with the example tasks in an in-process worker (on
taskiq's in-memory broker unless the settings say Redis). ``WsClient`` keeps
every message it received, batches flattened, in order.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from backend.api.app import create_app
from backend.api.hub import HUB, Hub
from backend.api.server import create_server_app
from backend.settings import Settings
from backend.store import events
from backend.store.store import Store
from tests.e2e.kit import Api

EXAMPLES = "backend.examples.tasks"
WAIT = 30.0
Message = dict[str, Any]


def ws_settings(tmp_path: Path, **overrides: Any) -> Settings:
    base = Settings(
        db=tmp_path / "flowdesk.db",
        tasks=(EXAMPLES,),
        in_memory_broker=True,
        redis_url="redis://127.0.0.1:1/0",
        heartbeat_interval=0.2,
        shutdown_timeout=3.0,
        ws_auth_check_interval=0.1,
    )
    return replace(base, **overrides)


@dataclass
class Server:
    settings: Settings
    store: Store
    server: TestServer
    session: aiohttp.ClientSession
    tokens: dict[str, str]
    user_ids: dict[str, str]
    apis: dict[str, Api] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def hub(self) -> Hub:
        return self.server.app[HUB]

    async def connect(
        self, user: str = "alice", since: int | None = None, *, via_query: bool = False
    ) -> WsClient:
        return WsClient(await open_ws(self, self.tokens[user], since, via_query=via_query))

    async def close(self) -> None:
        await self.session.close()
        await self.server.close()
        await self.store.close()


async def start_server(settings: Settings, *, execution: bool = False) -> Server:
    store = await Store.open(settings.db)
    tokens, user_ids = {}, {}
    for name in ("alice", "bob"):
        user, tokens[name] = await store.create_user(name)
        user_ids[name] = user.id
    app = create_server_app(settings, store) if execution else create_app(settings, store)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    running = Server(settings, store, server, aiohttp.ClientSession(), tokens, user_ids)
    running.apis = {name: Api(running.session, running.base, tokens[name]) for name in tokens}
    return running


async def open_ws(
    server: Server, token: str, since: int | None = None, *, via_query: bool = False
) -> aiohttp.ClientWebSocketResponse:
    params: dict[str, str] = {} if since is None else {"since": str(since)}
    headers = {}
    if via_query:
        params["token"] = token
    else:
        headers["Authorization"] = f"Bearer {token}"
    return await server.session.ws_connect(
        server.base + "/ws", params=params, headers=headers, max_msg_size=64 * 1024 * 1024
    )


def flatten(raw: Any) -> list[Message]:
    if isinstance(raw, list):
        return [message for item in raw for message in flatten(item)]
    if isinstance(raw, dict) and raw.get("type") == "batch":
        return flatten(raw["items"])
    return [raw]


class WsClient:
    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.received: list[Message] = []
        self.frames = 0

    @property
    def events(self) -> list[Message]:
        return [m for m in self.received if m["type"].startswith("flow:")]

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.events]

    async def read_frame(self, within: float = WAIT) -> list[Message]:
        frame = await self.ws.receive(timeout=within)
        if frame.type is not aiohttp.WSMsgType.TEXT:
            raise ConnectionError(f"socket ended: {frame.type!r} {frame.data!r}")
        messages = flatten(json.loads(frame.data))
        self.frames += 1
        self.received += messages
        return messages

    async def until(self, done: Any, within: float = WAIT) -> list[Message]:
        """Read until ``done(received)`` is true; fail after ``within`` seconds."""
        deadline = time.monotonic() + within
        while not done(self.received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"timed out; received {len(self.received)} messages")
            await self.read_frame(left)
        return self.received

    async def until_seq(self, seq: int, within: float = WAIT) -> list[Message]:
        return await self.until(lambda got: bool(self.seqs) and self.seqs[-1] >= seq, within)

    async def request(self, message: Message, within: float = WAIT) -> Message:
        """Send a client message; return the next non-event message (its answer)."""
        seen = len(self.received)
        await self.ws.send_str(json.dumps(message))
        await self.until(
            lambda got: any(not m["type"].startswith("flow:") for m in got[seen:]), within
        )
        return next(m for m in self.received[seen:] if not m["type"].startswith("flow:"))

    async def quiet(self, seconds: float = 0.3) -> list[Message]:
        """What arrives within ``seconds`` (to show that nothing more does)."""
        got: list[Message] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got += await self.read_frame(left)
            except TimeoutError:
                break
        return got

    async def close(self) -> None:
        await self.ws.close()


async def log_of(store: Store, user_id: str, after: int = 0) -> list[events.RawEvent]:
    """The user's stored events after ``after``, straight from SQLite."""
    async with store.db.read() as conn:
        read = await events.events_after_for_user(conn, user_id, after, 1_000_000)
    return read.events


def flow_tree(prefix: str, leaves: int = 3, seconds: float = 0.0) -> dict[str, Any]:
    """A root ``sum`` over ``leaves`` leaves (``sleep`` when ``seconds`` else ``echo``)."""
    children: list[dict[str, Any]]
    if seconds:
        children = [
            {"name": "sleep", "queueName": "jobQueue", "data": {"seconds": seconds, "value": i},
             "opts": {"jobId": f"{prefix}-{i}"}}
            for i in range(leaves)
        ]  # fmt: skip
    else:
        children = [
            {"name": "echo", "queueName": "jobQueue", "data": i, "opts": {"jobId": f"{prefix}-{i}"}}
            for i in range(leaves)
        ]
    return {
        "name": "sum",
        "queueName": "jobQueue",
        "opts": {"jobId": f"{prefix}-root"},
        "children": children,
    }


def flow_done(flow_id: str) -> Any:
    def done(got: list[Message]) -> bool:
        return any(
            m["type"] == "flow:updated"
            and m["data"]["id"] == flow_id
            and m["data"]["status"] != "active"
            for m in got
        )

    return done


async def wait_for(predicate: Any, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.02)
