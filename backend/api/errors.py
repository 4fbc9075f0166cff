"""The one place where errors become HTTP responses.

Every error a client can see has the same JSON shape,
``{"error": {"code", "message", "path"?, "errors"?}}``: our own
``ClientError`` hierarchy, aiohttp's HTTP exceptions (unknown route, wrong
method, body over the size limit), and anything unexpected, which becomes a
500 with no traceback in the body (the traceback goes to the log).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from backend.errors import ClientError

log = logging.getLogger("backend.api")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    path: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if path is not None:
        body["path"] = path
    return web.json_response({"error": body}, status=status, headers=headers)


def client_error_response(exc: ClientError) -> web.Response:
    return web.json_response(exc.to_json(), status=exc.status, headers=exc.headers)


def http_error_response(exc: web.HTTPException) -> web.Response:
    """aiohttp's own errors (404, 405, 413, ...) in our JSON shape."""
    code = _HTTP_CODES.get(exc.status, "http_error")
    message = exc.reason
    if exc.status == 413:
        message = "request body is too large"
    headers: dict[str, str] = {}
    if "Allow" in exc.headers:
        headers["Allow"] = exc.headers["Allow"]
    return error_response(exc.status, code, message, headers=headers or None)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ClientError as exc:
        log.info(
            "client error",
            extra={
                "status": exc.status,
                "code": exc.code,
                "method": request.method,
                "path": request.path,
            },
        )
        return client_error_response(exc)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise  # redirects and raised 2xx responses are not errors
        return http_error_response(exc)
    except Exception:
        log.exception("unhandled error", extra={"method": request.method, "path": request.path})
        return error_response(500, "internal_error", "internal server error")
