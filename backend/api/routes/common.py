"""Small helpers every route module uses: JSON responses from models, ids, time."""

from __future__ import annotations

import time
import uuid

from aiohttp import web
from pydantic import BaseModel


def json_model(model: BaseModel, status: int = 200) -> web.Response:
    """Serialise a wire model with its camelCase aliases."""
    return web.Response(
        text=model.model_dump_json(by_alias=True),
        status=status,
        content_type="application/json",
    )


def new_id() -> str:
    return uuid.uuid4().hex


def now_ms() -> int:
    return time.time_ns() // 1_000_000
