"""Regressions for token redaction found by the DEBUG-log test of ``backend serve``."""

from __future__ import annotations

import io
import logging

from backend.logs import configure_logging, redact

TOKEN = "fd_KC3gkACXsDps-DNhmyYpccWC5jnVhaiSmBdJ50xrI5o"


def test_a_token_escaped_for_sql_like_is_redacted() -> None:
    for text in (TOKEN, TOKEN.replace("_", "\\_", 1), TOKEN.replace("_", "\\\\_", 1)):
        assert "KC3gkACX" not in redact(f"params ['%{text}%']")


def test_sql_parameters_are_not_logged_even_at_debug() -> None:
    stream = io.StringIO()
    handler = configure_logging("DEBUG", stream=stream)
    try:
        logging.getLogger("aiosqlite").debug("executing %s", ["user data", TOKEN])
        logging.getLogger("backend.test").debug("visible")
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(logging.WARNING)
    assert "visible" in stream.getvalue()
    assert "user data" not in stream.getvalue()
