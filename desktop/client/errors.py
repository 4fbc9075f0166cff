"""Errors the desktop client raises, translated at the adapter edge.

aiohttp, JSON and pydantic exceptions never leave the client; callers see
one of::

    ClientError
    ├── ConnectionFailed   the server could not be reached or the call timed out
    ├── ProtocolError      the server answered with something the wire models refuse
    └── ApiError           the server answered with an ``ErrorResponse``
        ├── AuthError      401: missing, wrong or revoked token
        └── NotFoundError  404

``ApiError.path`` is the request field the server blames (for example
``children[2].opts.attempts``), so the new-flow editor can point at it.
Because every one of them is a :class:`ClientError`, a malformed answer is
shown to the operator as what it is, never as an internal error.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import ValidationError

from backend.schemas import ErrorResponse


class ClientError(Exception):
    """Base of every error the desktop client raises."""


class ConnectionFailed(ClientError):
    """The server could not be reached, or did not answer in time."""


class ProtocolError(ClientError):
    """The server sent something that does not have the documented shape."""


class ApiError(ClientError):
    """The server rejected a request with an error answer."""

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
    def from_body(cls, status: int, body: str) -> ApiError:
        """The right subclass for an error answer (an ``ErrorResponse``, or any text)."""
        kind = {401: AuthError, 404: NotFoundError}.get(status, ApiError)
        try:
            detail = ErrorResponse.model_validate_json(body).error
        except ValidationError:
            # Not the backend's JSON: a proxy's page, an empty body. Say what came.
            message = body.strip()[:500] or f"HTTP {status}"
            return kind(status, "http_error", message)
        return kind(
            status, detail.code, detail.message, path=detail.path, errors=tuple(detail.errors or ())
        )


class AuthError(ApiError):
    """401: the token is missing, malformed or revoked."""


class NotFoundError(ApiError):
    """404: the flow or job does not exist (or belongs to someone else)."""
