"""Websocket client: live server messages with reconnect and gap-free resume.

Theory of operation. The server numbers every event with the event log's
``seq``. The client remembers the highest ``seq`` it has handed on; after a
drop it reconnects with exponential backoff and asks for ``?since=<seq>``,
so the server replays what was missed, then streams live events. Messages
with a ``seq`` at or below the remembered one are duplicates from the seam
and are dropped here, so consumers see every event exactly once, in order.

Two cases need a REST reload instead of a replay, and both are reported
through ``on_resync``: the server says ``resync`` (our ``seq`` is older than
its retained log), or we reconnect without ever having seen a ``seq`` (so
there is nothing to resume from).

Every frame is parsed with the wire's own models (``ServerFrame`` of
:mod:`backend.schemas`): one message, or a batch the server sends for a
burst. A frame the models refuse is logged and skipped, the connection
stays. No Qt here; callbacks are plain callables.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from urllib.parse import urlencode

import aiohttp

from backend.backoff import Backoff
from backend.schemas import (
    ClientMessage,
    EventMessage,
    ResyncMessage,
    ServerMessage,
    SubscriptionMessage,
    WsErrorMessage,
    WsQuery,
)
from desktop.client.errors import ProtocolError
from desktop.client.wire import dumps, parse_frame

log = logging.getLogger(__name__)


class LinkState(StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    CLOSED = "closed"


@dataclass(frozen=True)
class LinkStatus:
    state: LinkState
    detail: str = ""
    retry_in: float | None = None  # seconds until the next attempt, when disconnected


MessageHandler = Callable[[EventMessage], None]
ResyncHandler = Callable[[str], None]
StatusHandler = Callable[[LinkStatus], None]


def ws_url(base_url: str, since: int | None) -> str:
    url = base_url.rstrip("/")
    if url.startswith("http"):
        url = "ws" + url[4:]
    query = urlencode(WsQuery(since=since).to_query())
    return f"{url}/ws" + (f"?{query}" if query else "")


class LiveClient:
    """Keeps one websocket open to ``/ws`` until :meth:`close`."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        on_message: MessageHandler,
        on_resync: ResyncHandler,
        on_status: StatusHandler | None = None,
        backoff: Backoff | None = None,
        heartbeat: float = 20.0,
        since: int | None = None,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.last_seq = since
        self._on_message = on_message
        self._on_resync = on_resync
        self._on_status = on_status or (lambda status: None)
        self._backoff = backoff or Backoff()
        self._heartbeat = heartbeat
        self._task: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._connected_once = False
        self.status = LinkStatus(LinkState.DISCONNECTED)
        self.connections = 0  # successful connects, for the status bar and tests

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="flowdesk-ws")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._set_status(LinkStatus(LinkState.CLOSED))

    async def drop(self) -> None:
        """Close the current socket (as a network failure would); reconnects."""
        if self._ws is not None:
            await self._ws.close()

    async def send(self, message: ClientMessage) -> None:
        """Send a client message (``subscribe`` / ``unsubscribe``) if connected."""
        if self._ws is not None and not self._ws.closed:
            await self._ws.send_str(dumps(message))

    def _set_status(self, status: LinkStatus) -> None:
        self.status = status
        try:
            self._on_status(status)
        except Exception:
            log.exception("status handler failed")

    async def _run(self) -> None:
        failures = 0
        headers = {"Authorization": f"Bearer {self.token}"}
        async with aiohttp.ClientSession(headers=headers) as session:
            while True:
                self._set_status(LinkStatus(LinkState.CONNECTING))
                before = self.connections
                status = await self._attempt(session)
                # A socket that opened resets the backoff: only consecutive
                # failed attempts slow the retries down.
                failures = 1 if self.connections > before else failures + 1
                status = replace(status, retry_in=self._backoff.delay(failures))
                self._set_status(status)
                await asyncio.sleep(status.retry_in or 0.0)

    async def _attempt(self, session: aiohttp.ClientSession) -> LinkStatus:
        """One connection, until it ends; the status to report afterwards."""
        try:
            detail = await self._session(session)
        except aiohttp.WSServerHandshakeError as exc:
            detail = f"websocket refused (HTTP {exc.status})"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            detail = str(exc) or type(exc).__name__
        return LinkStatus(LinkState.DISCONNECTED, detail)

    async def _session(self, session: aiohttp.ClientSession) -> str:
        url = ws_url(self.base_url, self.last_seq)
        async with session.ws_connect(url, heartbeat=self._heartbeat) as ws:
            self._ws = ws
            try:
                self.connections += 1
                resumed = self.last_seq is not None
                self._set_status(LinkStatus(LinkState.CONNECTED, url))
                if self._connected_once and not resumed:
                    self._notify_resync("reconnected without a seq to resume from")
                self._connected_once = True
                async for frame in ws:
                    if frame.type == aiohttp.WSMsgType.TEXT:
                        self._handle_text(frame.data)
                    elif frame.type == aiohttp.WSMsgType.ERROR:
                        return f"websocket error: {ws.exception()}"
                code = ws.close_code
                return "closed by server" if code == 1000 else f"closed (code {code})"
            finally:
                self._ws = None

    def _handle_text(self, text: str) -> None:
        try:
            messages = parse_frame(text)
        except ProtocolError as exc:
            log.warning("ignoring malformed frame: %s", exc)
            return
        for message in messages:
            self._dispatch(message)

    def _dispatch(self, message: ServerMessage) -> None:
        if isinstance(message, ResyncMessage):
            self.last_seq = message.seq
            self._notify_resync("server asked for a resync")
            return
        if isinstance(message, WsErrorMessage):
            log.warning("server error message: %s", message.data.message)
            return
        if isinstance(message, SubscriptionMessage):
            return  # the answer to a subscription change: nothing to apply
        if self.last_seq is not None and message.seq <= self.last_seq:
            return
        self.last_seq = message.seq
        try:
            self._on_message(message)
        except Exception:
            log.exception("message handler failed for %s", message.type)

    def _notify_resync(self, reason: str) -> None:
        try:
            self._on_resync(reason)
        except Exception:
            log.exception("resync handler failed")
