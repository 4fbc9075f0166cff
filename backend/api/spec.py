"""Operation metadata that routes attach to their handlers.

A handler decorated with :func:`operation` carries its summary, request model,
response models and query model (a ``backend.schemas.QueryModel``).
``openapi.py`` walks the application's router and reads this metadata, so a
route cannot be registered without appearing in ``/openapi.json``, and the
models named here are the same ones the handler validates and serialises with
(``query.py`` parses every request's query with the route's query model).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias, TypeVar

from pydantic import BaseModel

from backend.schemas import NoQuery, QueryModel

_ATTR = "__flowdesk_operation__"

F = TypeVar("F", bound=Callable[..., Any])
MediaType: TypeAlias = Literal["application/json", "text/html", "text/plain"]


@dataclass(frozen=True)
class Operation:
    summary: str
    tag: str
    responses: Mapping[int, type[BaseModel] | None]  # None: no body (204)
    request: type[BaseModel] | None = None
    query: type[QueryModel] = NoQuery  # path parameters are read from the route's template
    errors: tuple[int, ...] = ()  # besides 401 (when authenticated), 422 (query) and 500
    auth: bool = True
    description: str = ""
    media_type: MediaType = "application/json"
    path_params: Mapping[str, str] = field(default_factory=dict)  # name -> description
    request_example: Any = None


def operation(
    summary: str,
    *,
    tag: str,
    responses: Mapping[int, type[BaseModel] | None],
    request: type[BaseModel] | None = None,
    query: type[QueryModel] = NoQuery,
    errors: tuple[int, ...] = (),
    auth: bool = True,
    description: str = "",
    media_type: MediaType = "application/json",
    path_params: Mapping[str, str] | None = None,
    request_example: Any = None,
) -> Callable[[F], F]:
    """Attach an :class:`Operation` to a handler."""
    op = Operation(
        summary=summary,
        tag=tag,
        responses=responses,
        request=request,
        query=query,
        errors=errors,
        auth=auth,
        description=description,
        media_type=media_type,
        path_params=dict(path_params or {}),
        request_example=request_example,
    )

    def attach(handler: F) -> F:
        setattr(handler, _ATTR, op)
        return handler

    return attach


def operation_of(handler: object) -> Operation | None:
    op = getattr(handler, _ATTR, None)
    return op if isinstance(op, Operation) else None
