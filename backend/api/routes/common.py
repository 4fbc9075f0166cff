"""Small helpers every route module uses: JSON responses from models, ids."""

from __future__ import annotations

import os

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
    """128 random bits as 32 hex digits (uuid4's shape, a quarter of its cost)."""
    return os.urandom(16).hex()
