"""Structured logging: one line per event, ``key=value`` or JSON, never a token.

Callers log an event name as the message and the facts as ``extra``::

    log.info("flow created", extra={"flow_id": flow.id, "jobs": 120})

which prints ``ts=... level=info logger=backend.api msg="flow created"
flow_id=... jobs=120``. A filter on the handler redacts anything shaped like
an API token (``fd_...``) or an ``Authorization`` value from the message, its
arguments and its extras, and the formatter redacts its finished line again,
so a token that reaches a traceback is caught too.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.http_exceptions import HttpProcessingError

from backend.errors import ConfigError

LogFormat = Literal["kv", "json"]

REDACTED = "[redacted]"
# also as escaped for SQL LIKE (``fd\_...``), however many times its backslash was escaped
_TOKEN = re.compile(r"\bfd\\*_[A-Za-z0-9_\-]{6,}")
_AUTH = re.compile(
    r"(?i)(authorization[\"']?\s*[:=]\s*[\"']?)((?:bearer|basic|token)\s+)?[^\s\"',;}]+"
)
# Attributes every LogRecord has; anything else on a record came from ``extra``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}
_BARE = re.compile(r"^[A-Za-z0-9_.:/@+\-]+$")


def redact(text: str) -> str:
    text = _AUTH.sub(lambda m: m.group(1) + (m.group(2) or "") + REDACTED, text)
    return _TOKEN.sub("fd_" + REDACTED, text)


def extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RedactingFilter(logging.Filter):
    """Rewrites a record so that no token survives into any handler's output."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        for key, value in extras(record).items():
            if isinstance(value, str):
                setattr(record, key, redact(value))
        return True


def _kv_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if text and _BARE.match(text):
        return text
    return json.dumps(text)


# aiohttp's access log passes each format item as an extra; these are our names.
_ACCESS_FIELDS = {
    "remote_address": "remote",
    "request_method": "method",
    "request_path": "path",
    "response_status": "status",
    "response_size": "bytes",
    "request_time_frac": "seconds",
}


def record_fields(record: logging.LogRecord, formatter: logging.Formatter) -> dict[str, Any]:
    """The ordered fields of one log line."""
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname.lower(),
        "logger": record.name,
    }
    extra = extras(record)
    if record.name == "aiohttp.access":
        fields["msg"] = "request"
        fields.update({name: extra[key] for key, name in _ACCESS_FIELDS.items() if key in extra})
    else:
        fields["msg"] = record.getMessage()
        fields.update(extra)
    if record.exc_info:
        fields["exc"] = formatter.formatException(record.exc_info)
    return fields


class KeyValueFormatter(logging.Formatter):
    """``ts=... level=... logger=... msg="..." key=value ...`` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record, self)
        line = " ".join(f"{key}={_kv_value(value)}" for key, value in fields.items())
        return redact(line)


class JsonFormatter(logging.Formatter):
    """The same fields as :class:`KeyValueFormatter`, as one JSON object per line."""

    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record, self)
        return redact(json.dumps(fields, default=str))


class AccessLog(AbstractAccessLogger):
    """aiohttp's access log as fields: method and path, never headers (a token
    is one) nor the query string (a websocket client may carry ``?token=``)."""

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            "request",
            extra={
                "remote_address": request.remote,
                "request_method": request.method,
                "request_path": request.path,
                "response_status": response.status,
                "response_size": response.body_length,
                "request_time_frac": f"{time:.6f}",
            },
        )


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler this module installed, so reconfiguring replaces it."""


class MalformedRequestFilter(logging.Filter):
    """aiohttp logs a request its parser refuses (a request line over the limit,
    a NUL in a header) at ERROR with a traceback, after answering it 400. That
    is the client's mistake, not the server's: keep it, as an INFO line with
    the reason and no traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and exc.code < 500:
            record.levelno, record.levelname = logging.INFO, "INFO"
            record.msg, record.args = "malformed request refused", ()
            record.__dict__["reason"] = type(exc).__name__
            record.exc_info, record.exc_text = None, None
        return True


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "kv", stream: TextIO | None = None
) -> logging.Handler:
    """Route every logger to one redacting handler; returns it (tests remove it)."""
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ConfigError(f"unknown log level {level!r}")
    handler = _Handler(stream or sys.stderr)
    handler.addFilter(RedactingFilter())
    handler.setFormatter(JsonFormatter() if fmt == "json" else KeyValueFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old, _Handler):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(numeric)
    logging.getLogger("aiohttp.access").setLevel(numeric)
    server = logging.getLogger("aiohttp.server")
    if not any(isinstance(f, MalformedRequestFilter) for f in server.filters):
        server.addFilter(MalformedRequestFilter())
    # aiosqlite's DEBUG lines carry every statement's parameters: all user data
    logging.getLogger("aiosqlite").setLevel(max(numeric, logging.INFO))
    return handler
