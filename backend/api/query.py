"""Query strings, parsed with the route's declared ``QueryModel``.

Every route declares its query parameters once, as a model in
``backend.schemas`` named in its ``spec.operation`` (none: ``NoQuery``). The
middleware parses each request's query with that model before the handler
runs, so a misspelt or unknown parameter is a 422 naming it on every route,
never a silently ignored filter; the handler reads the parsed model with
:func:`query_of`. The OpenAPI document lists the same model's fields.
"""

from __future__ import annotations

from typing import Any, TypeVar

import pydantic
from aiohttp import web
from aiohttp.typedefs import Handler

from backend.api.spec import operation_of
from backend.errors import ValidationError
from backend.schemas import NoQuery, QueryModel

Q = TypeVar("Q", bound=QueryModel)

QUERY = web.RequestKey("query", QueryModel)


def query_error(name: str, message: str, code: str = "invalid_query") -> ValidationError:
    return ValidationError(message, path=f"query.{name}", code=code)


def _first_error(exc: pydantic.ValidationError) -> ValidationError:
    errors = []
    found = exc.errors(include_url=False)
    # an optional parameter's "or absent" branch says nothing useful when the value is wrong
    useful = [err for err in found if err["type"] != "none_required"] or found
    for err in useful:
        name = str(err["loc"][0]) if err["loc"] else "query"
        message = f"{name}: {err['msg'].removeprefix('Value error, ')}"
        if err["type"] == "int_parsing":
            message = f"{name}: must be an integer written in decimal digits"
        errors.append({"path": f"query.{name}", "code": "invalid_query", "message": message})
    first = errors[0]
    return ValidationError(
        first["message"], path=first["path"], code="invalid_query", errors=errors
    )


def _prefixed(model: type[QueryModel], name: str) -> tuple[str, str] | None:
    """``(field, key)`` when ``name`` is ``FIELD.KEY`` for one of the model's maps."""
    field, dot, key = name.partition(".")
    return (field, key) if dot and field in model.prefixed else None


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """The request's query as ``model``; unknown, repeated or invalid names are 422
    (a list field may repeat; a map field is given as ``NAME.KEY``)."""
    accepted = model.model_fields
    values: dict[str, Any] = {}
    for name, value in request.query.items():
        mapped = _prefixed(model, name)
        if mapped is not None:
            field, key = mapped
            entries = values.setdefault(field, {})
            if key in entries or not key:
                raise query_error(name, f"query parameter {name!r} is given more than once")
            entries[key] = value
            continue
        if name not in accepted or name in model.prefixed:
            allowed = (
                ", ".join(f"{n}.KEY" if n in model.prefixed else n for n in accepted) or "none"
            )
            raise query_error(
                name,
                f"unknown query parameter {name!r}; this route accepts: {allowed}",
                code="unknown_query_parameter",
            )
        if name in model.repeatable:
            values.setdefault(name, []).append(value)
        elif name in values:
            raise query_error(name, f"query parameter {name!r} is given more than once")
        else:
            values[name] = value
    try:
        return model.model_validate(values)
    except pydantic.ValidationError as exc:
        raise _first_error(exc) from None


def query_of(request: web.Request, model: type[Q]) -> Q:
    """The query the middleware parsed for this route (parsed here if it did not)."""
    parsed = request.get(QUERY)
    if isinstance(parsed, model):
        return parsed
    return parse_query(request, model)


@web.middleware
async def query_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    match = request.match_info
    if match.http_exception is None:  # unknown paths and methods answer 404/405 as before
        op = operation_of(match.handler)
        request[QUERY] = parse_query(request, op.query if op is not None else NoQuery)
    return await handler(request)
