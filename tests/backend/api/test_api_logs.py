"""Structured log lines, and no token in them whatever way it was logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from backend.errors import ConfigError
from backend.logs import configure_logging, redact

TOKEN = "fd_Zx81kQ_abcdefghijklmnopqrstuvwxyz0123456"


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = configure_logging("DEBUG", "kv", out)
    yield out
    logging.getLogger().removeHandler(handler)


def test_token_is_redacted_everywhere(stream: io.StringIO) -> None:
    log = logging.getLogger("test.redact")
    log.info("token %s issued", TOKEN)
    log.info("with extra", extra={"header": f"Authorization: Bearer {TOKEN}"})
    log.info("headers {'Authorization': 'Bearer abc.def'}")
    try:
        raise ValueError(f"bad token {TOKEN}")
    except ValueError:
        log.exception("failed")
    text = stream.getvalue()
    assert TOKEN not in text
    assert TOKEN[3:] not in text
    assert "abc.def" not in text
    assert text.count("[redacted]") == 4
    assert len(text.strip().splitlines()) == 4  # a traceback stays on its line


def test_key_value_fields(stream: io.StringIO) -> None:
    logging.getLogger("test.kv").warning(
        "flow created", extra={"flow_id": "f1", "jobs": 3, "note": "two words"}
    )
    line = stream.getvalue().strip()
    assert "level=warning logger=test.kv" in line
    assert 'msg="flow created" flow_id=f1 jobs=3 note="two words"' in line


def test_json_format() -> None:
    out = io.StringIO()
    handler = configure_logging("INFO", "json", out)
    try:
        logging.getLogger("test.json").debug("hidden")
        logging.getLogger("test.json").info("seen %s", TOKEN, extra={"n": 1})
    finally:
        logging.getLogger().removeHandler(handler)
    (line,) = out.getvalue().splitlines()
    record = json.loads(line)
    assert record["msg"] == "seen fd_[redacted]"
    assert record["n"] == 1
    assert record["level"] == "info"


def test_redact_leaves_ordinary_text() -> None:
    assert redact("flow fd_x and jobs") == "flow fd_x and jobs"
    assert redact("Authorization=secret") == "Authorization=[redacted]"


def test_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        configure_logging("LOUD")
