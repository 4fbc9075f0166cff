"""The one exception hierarchy of the backend.

Domain and store code raise these; the API's error middleware maps each to an
HTTP status and a JSON body ``{"error": {"code", "message", "path"?}}``, so no
client mistake ever becomes a 500 or a traceback::

    FlowdeskError
    ├── ConfigError             bad settings or config file (CLI exits 2)
    ├── MigrationError          database newer than this code, or a broken migration
    ├── ClientError             the caller's fault; carries an HTTP status
    │   ├── ValidationError     400/422: a field is wrong; ``path`` names it
    │   ├── BadBody             400: the body cannot be read (e.g. bad gzip)
    │   ├── BadJson             400: the body is not JSON
    │   ├── PayloadTooLarge     413
    │   ├── UnsupportedMediaType 415: not application/json, or an unknown coding
    │   ├── UpgradeRequired     426: /ws without a websocket upgrade
    │   ├── Unauthorized        401: missing, malformed or revoked token
    │   ├── NotFound            404: absent, or owned by someone else
    │   └── Conflict            409: duplicate job id, delete of a running flow, ...
    └── BrokerUnavailable       Redis (or the broker) cannot be reached
"""

from __future__ import annotations


class FlowdeskError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(FlowdeskError):
    """Settings or a config file are invalid."""


class MigrationError(FlowdeskError):
    """The database schema cannot be brought to this version."""


class BrokerUnavailable(FlowdeskError):
    """The task broker (Redis) cannot be reached."""


class ClientError(FlowdeskError):
    """A request the client got wrong. ``status`` and ``code`` go on the wire."""

    status = 400
    code = "bad_request"
    headers: dict[str, str] | None = None  # response headers the status calls for

    def __init__(self, message: str, *, path: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        if code is not None:
            self.code = code

    def to_json(self) -> dict[str, object]:
        body: dict[str, object] = {"code": self.code, "message": self.message}
        if self.path is not None:
            body["path"] = self.path
        return {"error": body}


class ValidationError(ClientError):
    status = 422
    code = "validation_error"

    def __init__(
        self,
        message: str,
        *,
        path: str | None = None,
        code: str | None = None,
        errors: list[dict[str, str]] | None = None,
    ) -> None:
        super().__init__(message, path=path, code=code)
        self.errors = errors or []

    def to_json(self) -> dict[str, object]:
        body = super().to_json()
        if self.errors:
            inner = body["error"]
            assert isinstance(inner, dict)
            inner["errors"] = self.errors
        return body


class BadJson(ClientError):
    status = 400
    code = "invalid_json"


class BadBody(ClientError):
    status = 400
    code = "invalid_body"


class UnsupportedMediaType(ClientError):
    status = 415
    code = "unsupported_media_type"


class UpgradeRequired(ClientError):
    status = 426
    code = "upgrade_required"
    headers = {"Upgrade": "websocket", "Connection": "Upgrade"}


class PayloadTooLarge(ClientError):
    status = 413
    code = "payload_too_large"


class Unauthorized(ClientError):
    status = 401
    code = "unauthorized"
    headers = {"WWW-Authenticate": "Bearer"}


class NotFound(ClientError):
    status = 404
    code = "not_found"


class Conflict(ClientError):
    status = 409
    code = "conflict"
