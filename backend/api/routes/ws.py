"""``GET /ws``: the live event stream (protocol in ``docs/websocket.md``).

Authentication is the REST middleware's, so a missing, unknown or revoked
token is refused with the usual 401 JSON before the upgrade. The connection
itself lives in ``backend.api.ws``; this module only opens it, decides where
its cursor starts, and feeds it the client's messages.
"""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import WSCloseCode, WSMsgType, web

from backend.api.auth import current_user, request_token
from backend.api.context import SETTINGS
from backend.api.hub import HUB
from backend.api.query import query_of
from backend.api.spec import operation
from backend.api.ws import Connection
from backend.errors import UpgradeRequired
from backend.schemas import WsQuery

routes = web.RouteTableDef()

_DESCRIPTION = (
    "Upgrades to a websocket that streams the user's events as JSON text frames "
    '`{"type", "seq", "data"}` (types `flow:created`, `flow:job:updated`, `flow:updated`, '
    '`flow:deleted`), several at once as `{"type": "batch", "items": [...]}`. With `since`, '
    "every stored event after that seq is replayed first; if it is older than the retained "
    'log the first message is `{"type": "resync", "seq": N}`: reload through REST. '
    'Client messages: `{"type": "subscribe" | "unsubscribe", "flowId": ...}`. '
    "A request without the websocket upgrade is answered 426 with `Upgrade: websocket`. "
    "See docs/websocket.md."
)


@routes.get("/ws")
@operation(
    "Live events (websocket)",
    tag="live",
    responses={101: None},
    errors=(400, 426),
    query=WsQuery,
    description=_DESCRIPTION,
)
async def websocket(request: web.Request) -> web.WebSocketResponse:
    if request.headers.get("Upgrade", "").strip().lower() != "websocket":
        raise UpgradeRequired(
            "GET /ws opens a websocket: send the upgrade handshake (Upgrade: websocket)"
        )
    settings = request.app[SETTINGS]
    hub = request.app[HUB]
    user = current_user(request)
    since = query_of(request, WsQuery).since
    token = request_token(request)
    ws = web.WebSocketResponse(
        heartbeat=settings.ws_heartbeat, max_msg_size=settings.ws_max_message_bytes
    )
    await ws.prepare(request)
    if since is None:
        replayable, head = True, await hub.read_head()
    else:
        replayable, head = await hub.replayable(since)
    conn = Connection(ws, hub, user.id, token, head if since is None else since)
    hub.add(conn)
    pump: asyncio.Task[None] | None = None
    try:
        if not replayable:
            assert since is not None
            await conn.resync("since_pruned" if since < head else "since_unknown", head)
        pump = asyncio.create_task(conn.pump(), name="flowdesk-ws-pump")
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await conn.handle_text(message.data)
            elif message.type is WSMsgType.BINARY:
                hub.stats.closes["binary"] += 1
                await ws.close(
                    code=WSCloseCode.UNSUPPORTED_DATA, message=b"send JSON text, not binary"
                )
        if ws.close_code == WSCloseCode.MESSAGE_TOO_BIG:
            hub.stats.closes["too_big"] += 1
    finally:
        hub.remove(conn)
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
    return ws
