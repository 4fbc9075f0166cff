"""Errors the desktop client raises, translated at the adapter edge.

aiohttp and JSON exceptions never leave the client; callers see one of::

    ClientError
    ├── ConnectionFailed   the server could not be reached or the call timed out
    ├── ProtocolError      the server answered with JSON of an unexpected shape
    └── ApiError           the server answered {"error": {"code", "message", "path"}}
        ├── AuthError      401: missing, wrong or revoked token
        └── NotFoundError  404

``ApiError.path`` is the request field the server blames (for example
``children[2].opts.attempts``), so the new-flow editor can point at it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ClientError(Exception):
    """Base of every error the desktop client raises."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or did not answer in time."""


class ApiError(ClientError):
    """The server rejected a request with a JSON error body."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        path: str | None = None,
        errors: tuple[Mapping[str, str], ...] = (),
    ) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (at {path})" if path else ""))
        self.status = status
        self.code = code
        self.message = message
        self.path = path
        self.errors = errors

    @classmethod
    def from_body(cls, status: int, body: Any) -> ApiError:
        """Build the right subclass from a response body (JSON or not)."""
        detail = body.get("error") if isinstance(body, Mapping) else None
        if isinstance(detail, Mapping):
            code = str(detail.get("code", "error"))
            message = str(detail.get("message", ""))
            path = detail.get("path")
            raw_errors = detail.get("errors") or ()
            errors = tuple(e for e in raw_errors if isinstance(e, Mapping))
        else:
            code, message, path, errors = "http_error", f"HTTP {status}", None, ()
            if isinstance(body, str) and body.strip():
                message = body.strip()[:500]
        kind = {401: AuthError, 404: NotFoundError}.get(status, ApiError)
        return kind(
            status, code, message, path=path if isinstance(path, str) else None, errors=errors
        )


class AuthError(ApiError):
    """401: the token is missing, malformed or revoked."""


class NotFoundError(ApiError):
    """404: the flow or job does not exist (or belongs to someone else)."""
