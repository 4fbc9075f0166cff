"""One websocket connection: replay, live events, subscriptions, slow-client handling.

Theory of operation. A connection has ONE reader, :meth:`Connection.pump`,
and a ``cursor``: every event of its user with ``seq <= cursor`` has been
sent (or filtered out by the subscription). The pump reads
``seq > cursor`` through the hub whenever the hub says the log grew (from
the hub's in-memory buffer, or from SQLite when the cursor is older than the
buffer; both give the same answer), sends what it read, and moves the
cursor. Replay (``?since=N`` starts the cursor at N) and live delivery are
the same read, so nothing is missed or sent twice at the seam, even while
events are being written.

Bursts are **batched, never coalesced**: every event is delivered, in
``seq`` order, but after a frame the pump waits ``ws_batch_window`` seconds
before the next read, and sends everything that arrived meanwhile (up to
``ws_batch_max``) in one frame ``{"type": "batch", "items": [message, ...]}``.
A 10,000-job flow completing thus reaches a client as at most about 20
frames a second (plus full frames back to back while it catches up), each
applied and drawn once. A frame with a single event is the bare message.

Slow clients. Nothing is queued per connection: the backlog is the hub's
shared buffer and SQLite, and what is in flight is one frame plus the
socket's buffers. A client that stops
reading blocks only its own pump. When it falls more than ``ws_max_lag``
events behind the log head, the pump skips to the head and sends
``{"type": "resync", "seq": head}``: the client reloads through REST and the
stream continues after ``head``. A client that answers no ping within half
the ``ws_heartbeat`` is closed by aiohttp's heartbeat.

Client messages (text JSON objects): ``subscribe`` with a ``flowId`` narrows
the stream to that flow (repeat to add flows), without one widens it to all
the user's flows again; ``unsubscribe`` with a ``flowId`` removes one flow.
Each is answered with ``{"type": "subscription", "data": {...}}``; anything
else gets ``{"type": "error", "data": {"code", "message"}}`` and the
connection stays open.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field
from enum import StrEnum

from aiohttp import web
from pydantic import ValidationError as PydanticValidationError

from backend.api.hub import Hub
from backend.schemas import (
    ClientMessage,
    OutModel,
    ResyncMessage,
    ResyncReason,
    SubscriptionMessage,
    SubscriptionState,
    WsErrorDetail,
    WsErrorMessage,
)

log = logging.getLogger(__name__)


class ErrorCode(StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"


class ClientError(Exception):
    def __init__(self, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Subscription:
    """Which of the user's flows a connection follows (pure; see module docstring).

    ``flows`` None means all of them except ``muted``.
    """

    flows: frozenset[str] | None = None
    muted: frozenset[str] = field(default_factory=frozenset)

    def subscribe(self, flow_id: str | None) -> Subscription:
        if flow_id is None:
            return Subscription()
        return Subscription(frozenset({flow_id}) | (self.flows or frozenset()))

    def unsubscribe(self, flow_id: str | None) -> Subscription:
        if flow_id is None:
            return Subscription(frozenset())
        if self.flows is None:
            return Subscription(None, self.muted | {flow_id})
        return Subscription(self.flows - {flow_id})

    def wants(self, flow_id: str) -> bool:
        return flow_id not in self.muted  # ``flows`` is applied by ``Hub.read``

    def state(self) -> SubscriptionState:
        return SubscriptionState(
            flow_ids=None if self.flows is None else sorted(self.flows),
            excluded_flow_ids=sorted(self.muted),
        )


def parse_client_message(text: str, max_id_length: int) -> ClientMessage:
    """The client's message as :class:`ClientMessage` (the wire model the
    document publishes), or :class:`ClientError` saying what is wrong with it."""
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ClientError(ErrorCode.INVALID_JSON, f"not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ClientError(ErrorCode.INVALID_MESSAGE, "a message must be a JSON object")
    kind = raw.get("type")
    if kind not in {"subscribe", "unsubscribe"}:
        raise ClientError(
            ErrorCode.UNKNOWN_TYPE,
            f"unknown message type {kind!r}; expected 'subscribe' or 'unsubscribe'",
        )
    try:
        message = ClientMessage.model_validate(raw, strict=True)
    except PydanticValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise ClientError(ErrorCode.INVALID_MESSAGE, f"{where}: {error['msg']}") from None
    if message.flow_id is not None and len(message.flow_id) > max_id_length:
        raise ClientError(
            ErrorCode.INVALID_MESSAGE, f"flowId: longer than {max_id_length} characters"
        )
    return message


class Connection:
    """The server side of one open ``/ws`` (see the module docstring)."""

    def __init__(
        self, ws: web.WebSocketResponse, hub: Hub, user_id: str, token: str, cursor: int
    ) -> None:
        self.ws = ws
        self.hub = hub
        self.user_id = user_id
        self.token = token
        self.cursor = cursor
        self.subscription = Subscription()
        self._wake = asyncio.Event()
        self._send_lock = asyncio.Lock()
        self._window = hub.settings.ws_batch_window
        self._max_lag = hub.settings.ws_max_lag
        self._batch_max = hub.settings.ws_batch_max

    def wake(self) -> None:
        self._wake.set()

    async def send_message(self, message: OutModel) -> None:
        """One control frame, written by its wire model (``backend.schemas``)."""
        await self._send(message.model_dump_json(by_alias=True))

    async def _send(self, text: str) -> None:
        async with self._send_lock:
            await self.ws.send_str(text)

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())

    async def resync(self, reason: str, head: int) -> None:
        """Skip to ``head`` and tell the client to reload through REST."""
        self.cursor = head
        self.hub.stats.resyncs[reason] += 1
        log.info("websocket resync", extra={"user": self.user_id, "reason": reason, "seq": head})
        await self.send_message(
            ResyncMessage(type="resync", seq=head, data=ResyncReason(reason=reason))
        )

    async def pump(self) -> None:
        """Send the log after ``cursor`` until the socket closes."""
        try:
            await self._pump()
        except ConnectionResetError:
            pass  # the peer went away; the receive loop sees the close
        except Exception:
            log.exception("websocket pump failed", extra={"user": self.user_id})
            self.hub.stats.closes["server_error"] += 1
            await self.close(1011, "server error")

    async def _pump(self) -> None:
        loop = asyncio.get_running_loop()
        last_frame = float("-inf")
        self._wake.set()
        while not self.ws.closed:
            await self._wake.wait()
            self._wake.clear()
            delay = last_frame + self._window - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if self.hub.head - self.cursor > self._max_lag:
                await self.resync("slow_client", await self.hub.read_head())
                continue
            after, subscription = self.cursor, self.subscription
            read = await self.hub.read(self.user_id, after, subscription.flows)
            batch = read.events
            if subscription.muted:
                batch = [event for event in batch if subscription.wants(event.flow_id)]
            self.cursor = read.scanned_to
            if batch:
                key = (self.user_id, subscription, after, read.scanned_to)
                await self._send(self.hub.frames.text(key, batch))
                self.hub.stats.frames_sent += 1
                self.hub.stats.events_sent += len(batch)
                last_frame = loop.time()
            if len(read.events) >= self._batch_max:
                last_frame = float("-inf")  # catching up: full frames need no window
                self._wake.set()
            elif self.cursor < self.hub.head:
                self._wake.set()

    async def handle_text(self, text: str) -> None:
        try:
            message = parse_client_message(text, self.hub.settings.max_string_length)
        except ClientError as exc:
            detail = WsErrorDetail(code=exc.code.value, message=str(exc))
            await self.send_message(WsErrorMessage(type="error", data=detail))
            return
        if message.type == "subscribe":
            self.subscription = self.subscription.subscribe(message.flow_id)
        else:
            self.subscription = self.subscription.unsubscribe(message.flow_id)
        await self.send_message(
            SubscriptionMessage(type="subscription", data=self.subscription.state())
        )
