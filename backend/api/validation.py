"""Turn a request body into a validated flow tree, or a precise client error.

The order of checks is the order of the failure modes a client can hit:
media type and content coding (415), body size (413), a body that cannot be
decoded (400), JSON syntax and numbers no double holds (400), nesting too deep for the JSON decoder
(422), then the tree, node by node. The tree is walked with an explicit stack
and each node is validated on its own with ``FlowNode``: a recursive pydantic
model would hit pydantic's recursion limit on deep chains, and one node at a
time is also what lets an error name its full path
(``children[2].opts.backoff.type``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import pydantic
from aiohttp import web

from backend.domain.models import (
    JSON,
    JobOptions,
)
from backend.domain.search import MetaValue
from backend.domain.tree import JobSpec
from backend.errors import (
    BadBody,
    BadJson,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationError,
)
from backend.schemas import FlowNode, JobOpts, MetadataField
from backend.settings import Settings

M = TypeVar("M", bound=pydantic.BaseModel)

_DEFAULT_OPTIONS = JobOptions()


@dataclass(frozen=True)
class ValidatedTree:
    """A request tree that passed every check that needs no database."""

    root: JobSpec
    size: int
    job_id_paths: dict[str, str]  # caller-chosen jobId -> path of its node, in request order
    metadata: dict[str, MetaValue] | None = None  # the root's ``metadata``, checked


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        # 1e400 is valid JSON syntax, but no double holds it: stored, it would
        # become Infinity, which JSON cannot carry back out.
        raise ValueError(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def parse_json(raw: bytes) -> JSON:
    """Decode a body; syntax errors are 400, nesting beyond the decoder's reach 422."""
    if not raw.strip():
        raise BadJson("request body is empty; expected a JSON object")
    try:
        value = json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError as exc:
        raise ValidationError("JSON nesting is too deep to decode", code="json_too_deep") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        # json.JSONDecodeError is a ValueError; so is our NaN/Infinity refusal
        raise BadJson(f"request body is not valid JSON: {exc}") from exc
    if b"\\ud" in raw or b"\\uD" in raw:
        _reject_lone_surrogates(value)
    return value


def _reject_lone_surrogates(value: JSON) -> None:
    """A ``\\ud800``-style escape that is not half of a pair decodes to a string
    no UTF-8 store can hold; refuse it here rather than fail at the write.
    Only bodies that contain such an escape pay for this check."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError as exc:
        raise ValidationError("JSON nesting is too deep to decode", code="json_too_deep") from exc
    except UnicodeEncodeError:
        raise BadJson(
            "request body is not valid JSON: it escapes a lone UTF-16 surrogate "
            "(\\ud800-\\udfff without its pair), which is not a Unicode character"
        ) from None


# What aiohttp decodes (it passes other codings through undecoded, as if identity).
_CONTENT_CODINGS = frozenset({"identity", "gzip", "x-gzip", "deflate"})


def check_media_type(request: web.Request) -> None:
    """Only ``application/json`` bodies, in a content coding the server decodes: else 415."""
    if request.headers.get("Content-Type") is None or request.content_type != "application/json":
        got = request.headers.get("Content-Type", "none")
        raise UnsupportedMediaType(
            f"the body must be JSON sent as Content-Type: application/json (got {got})"
        )
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in _CONTENT_CODINGS:
        raise UnsupportedMediaType(
            f"unsupported Content-Encoding {coding!r}; send gzip, deflate or none",
            code="unsupported_content_encoding",
        )


async def read_json(request: web.Request, settings: Settings) -> JSON:
    """Read and decode the body, enforcing the media type and ``max_body_bytes``."""
    check_media_type(request)
    if request.content_length is not None and request.content_length > settings.max_body_bytes:
        raise PayloadTooLarge(
            f"request body is {request.content_length} bytes; the limit is "
            f"{settings.max_body_bytes}"
        )
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as exc:
        raise PayloadTooLarge(
            f"request body exceeds the limit of {settings.max_body_bytes} bytes"
        ) from exc
    except web.RequestPayloadError as exc:
        # e.g. Content-Encoding: gzip on a body that is not gzip
        raise BadBody(
            f"request body could not be read: {exc.args[0] if exc.args else exc}"
        ) from exc
    return parse_json(raw)


async def read_model(request: web.Request, settings: Settings, model: type[M]) -> M:
    """Read the body and validate it with ``model``; errors name the field path."""
    return validate_model(model, await read_json(request, settings))


def validate_model(model: type[M], raw: JSON) -> M:
    """``raw`` validated with ``model``; errors name the field path."""
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        raise _from_pydantic("", exc) from None


def join_path(base: str, loc: Sequence[int | str]) -> str:
    """``children[2]`` + ``("opts", "backoff", "type")`` -> ``children[2].opts.backoff.type``."""
    out = base
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else str(part)
    return out


# pydantic's wording for these names Python types or model classes
# ("a valid dictionary or instance of JobOpts"); the API speaks JSON.
_JSON_WORDS = {
    "model_type": "Input should be a JSON object",
    "model_attributes_type": "Input should be a JSON object",
    "dict_type": "Input should be a JSON object",
    "list_type": "Input should be a JSON array",
    "int_type": "Input should be an integer",
    "int_from_float": "Input should be an integer",
    "float_type": "Input should be a number",
    "bool_type": "Input should be true or false",
    "string_type": "Input should be a string",
    "extra_forbidden": "Unknown field: the request schema has no such field",
}


def _from_pydantic(node_path: str, exc: pydantic.ValidationError) -> ValidationError:
    errors = [
        {
            "path": join_path(node_path, err["loc"]),
            "code": err["type"],
            "message": _JSON_WORDS.get(err["type"], err["msg"].removeprefix("Value error, ")),
        }
        for err in exc.errors(include_url=False)
    ]
    first = errors[0]
    return ValidationError(first["message"], path=first["path"] or None, errors=errors)


def json_depth(value: JSON) -> int:
    """Nesting depth of a JSON value (a scalar is 0), computed without recursion."""
    if not isinstance(value, dict | list):
        return 0
    deepest = 0
    stack: list[tuple[dict[str, JSON] | list[JSON], int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        deepest = max(deepest, depth)
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return deepest


def to_options(opts: JobOpts | None) -> JobOptions:
    """The validated wire options as the domain's record, through the one decoder
    of stored options (:meth:`JobOptions.from_json`), so the two cannot drift."""
    if opts is None:
        return _DEFAULT_OPTIONS
    return JobOptions.from_json(opts.model_dump(mode="json", by_alias=True, exclude_defaults=True))


class _TreeChecker:
    """One pass over a request tree; holds the state the walk accumulates."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.allowed_queues = frozenset(settings.allowed_queues)
        self.nodes: list[FlowNode] = []
        self.children_of: list[list[int]] = []
        self.job_id_paths: dict[str, str] = {}
        # Generated trees repeat the same options; building JobOptions is the costly part.
        self._options: dict[JobOpts, JobOptions] = {}
        self.fail_fast = False  # CreateFlowRequest.failFast: the flow's default

    def check_node(self, path: str, raw: JSON) -> FlowNode:
        try:
            node = FlowNode.model_validate(raw)
        except pydantic.ValidationError as exc:
            raise _from_pydantic(path, exc) from None
        limit = self.settings.max_string_length
        for field, value in (("name", node.name), ("queueName", node.queue_name)):
            if len(value) > limit:
                raise ValidationError(
                    f"{field} is longer than {limit} characters",
                    path=join_path(path, [field]),
                    code="string_too_long",
                )
        if node.queue_name not in self.allowed_queues:
            raise ValidationError(
                f"unknown queue {node.queue_name!r}; allowed: "
                + ", ".join(self.settings.allowed_queues),
                path=join_path(path, ["queueName"]),
                code="unknown_queue",
            )
        if node.data is not None and json_depth(node.data) > self.settings.max_json_depth:
            raise ValidationError(
                f"data is nested deeper than {self.settings.max_json_depth} levels",
                path=join_path(path, ["data"]),
                code="json_too_deep",
            )
        self._check_job_id(path, node)
        return node

    def _check_job_id(self, path: str, node: FlowNode) -> None:
        job_id = node.opts.job_id if node.opts is not None else None
        if job_id is None:
            return
        id_path = join_path(path, ["opts", "jobId"])
        if len(job_id) > self.settings.max_string_length:
            raise ValidationError(
                f"jobId is longer than {self.settings.max_string_length} characters",
                path=id_path,
                code="string_too_long",
            )
        first = self.job_id_paths.get(job_id)
        if first is not None:
            raise Conflict(
                f"jobId {job_id!r} is used twice in this flow (first at {first})",
                path=id_path,
                code="duplicate_job_id",
            )
        self.job_id_paths[job_id] = id_path

    def walk(self, body: JSON) -> None:
        max_jobs, max_depth = self.settings.max_tree_jobs, self.settings.max_tree_depth
        # (path, raw node, depth with the root at 1, index of the parent or -1)
        stack: list[tuple[str, JSON, int, int]] = [("", body, 1, -1)]
        while stack:
            path, raw, depth, parent = stack.pop()
            if len(self.nodes) >= max_jobs:
                raise ValidationError(
                    f"the flow has more than {max_jobs} jobs",
                    path=path or None,
                    code="tree_too_large",
                )
            node = self.check_node(path, raw)
            index = len(self.nodes)
            self.nodes.append(node)
            self.children_of.append([])
            if parent >= 0:
                self.children_of[parent].append(index)
            children = node.children or []
            if children and depth + 1 > max_depth:
                raise ValidationError(
                    f"the flow is deeper than {max_depth} levels",
                    path=join_path(path, ["children"]),
                    code="tree_too_deep",
                )
            prefix = f"{path}.children" if path else "children"
            for i in range(len(children) - 1, -1, -1):
                stack.append((f"{prefix}[{i}]", children[i], depth + 1, index))

    def options(self, opts: JobOpts | None) -> JobOptions:
        if self.fail_fast and (opts is None or opts.fail_fast is None):
            opts = (opts or JobOpts()).model_copy(update={"fail_fast": True})
        if opts is None or opts.job_id is not None:
            return to_options(opts)
        cached = self._options.get(opts)
        if cached is None:
            cached = self._options[opts] = to_options(opts)
        return cached

    def build(self) -> JobSpec:
        built: dict[int, JobSpec] = {}
        # Pre-order puts every child after its parent, so reverse order builds leaves first.
        for index in range(len(self.nodes) - 1, -1, -1):
            node = self.nodes[index]
            built[index] = JobSpec(
                name=node.name,
                queue_name=node.queue_name,
                data=node.data,
                opts=self.options(node.opts),
                children=tuple(built.pop(c) for c in self.children_of[index]),
            )
        return built[0]


def _flow_fail_fast(value: JSON) -> bool:
    if not isinstance(value, bool):
        raise ValidationError("Input should be true or false", path="failFast", code="bool_type")
    return value


def validate_tree(body: JSON, settings: Settings) -> ValidatedTree:
    """Check a decoded ``CreateFlowRequest`` against the schema and the limits."""
    if not isinstance(body, dict):
        raise ValidationError(
            f"expected a JSON object, got {type(body).__name__}", code="validation_error"
        )
    metadata = None
    if "metadata" in body:
        # only the root (the flow) has metadata; a child's is an unknown field
        body = dict(body)
        try:
            metadata = MetadataField.model_validate({"metadata": body.pop("metadata")}).metadata
        except pydantic.ValidationError as exc:
            raise _from_pydantic("", exc) from None
    checker = _TreeChecker(settings)
    if "failFast" in body:
        checker.fail_fast = _flow_fail_fast(body["failFast"])
        body = {key: value for key, value in body.items() if key != "failFast"}
    checker.walk(body)
    return ValidatedTree(checker.build(), len(checker.nodes), checker.job_id_paths, metadata)


def validate_body(model: type[M], body: JSON) -> M:
    """A decoded body as ``model``, or a 422 naming the first offending field's path."""
    try:
        return model.model_validate(body)
    except pydantic.ValidationError as exc:
        raise _from_pydantic("", exc) from None
