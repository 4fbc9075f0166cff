"""Bearer-token authentication for every route but the public few.

The middleware resolves ``Authorization: Bearer <token>`` to a user through
the store (which compares hashes only) and puts it on the request under
``context.USER``. Missing, malformed, unknown and revoked tokens all answer
401 with the same JSON shape; the token itself is never logged.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Handler

from backend.api.context import STORE, USER
from backend.domain.models import User
from backend.errors import Unauthorized

PUBLIC_PATHS = frozenset({"/health", "/openapi.json", "/docs"})
# Browsers cannot set headers on a websocket upgrade, so /ws also accepts ?token=.
QUERY_TOKEN_PATHS = frozenset({"/ws"})


def bearer_token(header: str | None) -> str:
    """The token of an ``Authorization`` header value, or ``Unauthorized``."""
    if header is None or not header.strip():
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token


def request_token(request: web.Request) -> str:
    """The request's token: its ``Authorization`` header, or ``?token=`` where allowed."""
    header = request.headers.get("Authorization")
    if header is None and request.path in QUERY_TOKEN_PATHS and "token" in request.query:
        return request.query["token"]
    return bearer_token(header)


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    token = request_token(request)
    user = await request.app[STORE].user_for_token(token)
    if user is None:
        raise Unauthorized("unknown or revoked token")
    request[USER] = user
    return await handler(request)


def current_user(request: web.Request) -> User:
    return request[USER]
