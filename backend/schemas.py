"""Wire schemas: the JSON the REST API accepts and returns.

These pydantic models validate requests *and* generate the OpenAPI document,
so the two cannot drift. The response models are also the payloads of the
event log and the websocket (``flow:created`` carries a ``FlowResponse``), so
the store serialises events with them too; that is why this module sits at
the package top and not under ``api/``. Field names are camelCase on the wire (the seed's
contract) and snake_case in Python. Requests forbid unknown fields so that a
typo such as ``opts.atempts`` is an error, not a silently ignored option, and
validate strictly (``"3"`` is not an integer). Each route's query parameters
are a ``QueryModel`` here too, so the server, the document and clients share
one spelling of every parameter.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    Strict,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue, SkipJsonSchema
from pydantic_core import CoreSchema

from backend.domain.limits import QueueControls
from backend.domain.models import Flow, Job, JobLog, StuckInfo

# Re-exported: the states are part of the wire, and clients import only this module.
from backend.domain.models import FlowStatus as FlowStatus  # noqa: PLC0414
from backend.domain.models import JobState as JobState  # noqa: PLC0414
from backend.domain.schedules import known_zones
from backend.domain.search import BulkAction as BulkAction  # noqa: PLC0414
from backend.domain.search import FlowFilter, JobFilter
from backend.domain.search import FlowSort as FlowSort  # noqa: PLC0414
from backend.domain.stats import TaskStats
from backend.timeparse import MAX_EPOCH_MS, parse_time

JsonValue = Any


class WireModel(BaseModel):
    """A request model: unknown fields refused, and types strict (``"3"`` is not
    an integer and ``0`` is not a boolean), exactly as the document declares."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True
    )


def _integral(value: object) -> object:
    # JSON Schema's `integer` includes 3.0 (a number with no fraction); strict
    # mode alone would refuse it, and a string or a boolean stays refused.
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# An integer in a request body: a JSON number without a fraction, never a string
# or a bool. The validator goes after the constraints, so they stay in the schema.
ToInt = BeforeValidator(_integral)

MAX_BACKOFF_MS = 7 * 24 * 3600 * 1000


class BackoffSpec(WireModel):
    type: Literal["fixed", "exponential"] = "fixed"
    delay: Annotated[int, Field(ge=0, le=MAX_BACKOFF_MS), ToInt] = 0
    jitter: Annotated[float, Field(ge=0, le=1)] = 0.0


class _BackoffForms:
    """Documents ``backoff``'s two forms; validation turns the number into the object
    (see ``JobOpts._number_is_fixed``), so error paths never carry union tags."""

    def __get_pydantic_json_schema__(
        self, core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(core_schema)
        number = {
            "type": "integer",
            "minimum": 0,
            "maximum": MAX_BACKOFF_MS,
            "description": "a fixed backoff of this many milliseconds",
        }
        forms = schema.pop("anyOf", None) or [dict(schema)]
        return {**{k: v for k, v in schema.items() if k != "$ref"}, "anyOf": [number, *forms]}


FAILURE_POLICIES = (
    "failParentOnFailure",
    "ignoreDependencyOnFailure",
    "removeDependencyOnFailure",
    "continueParentOnFailure",
)


def _one_policy_schema(schema: dict[str, Any]) -> None:
    # "at most one may be true", in JSON Schema: no two of them true together
    schema["allOf"] = [
        {
            "not": {
                "required": [a, b],
                "properties": {a: {"const": True}, b: {"const": True}},
            }
        }
        for i, a in enumerate(FAILURE_POLICIES)
        for b in FAILURE_POLICIES[i + 1 :]
    ]


class JobOpts(WireModel):
    """BullMQ-compatible job options (DESIGN.md's table)."""

    model_config = ConfigDict(json_schema_extra=_one_policy_schema)

    attempts: Annotated[int, Field(ge=1, le=1000), ToInt] = 1
    backoff: Annotated[BackoffSpec | None, _BackoffForms()] = Field(
        default=None,
        description="a number (ms, fixed) or {type: fixed|exponential, delay, jitter?}",
    )
    delay: Annotated[int, Field(ge=0, le=365 * 24 * 3600 * 1000), ToInt] = 0
    priority: Annotated[int, Field(ge=0, le=2_097_152), ToInt] = 0
    timeout: Annotated[int, Field(gt=0, le=7 * 24 * 3600 * 1000), ToInt] | None = None
    job_id: Annotated[str, Field(min_length=1, max_length=256, pattern=JOB_ID_PATTERN)] | None = (
        None
    )
    fail_parent_on_failure: bool = False
    ignore_dependency_on_failure: bool = False
    remove_dependency_on_failure: bool = False
    continue_parent_on_failure: bool = False
    concurrency_key: Annotated[str, Field(min_length=1, max_length=256)] | None = Field(
        default=None,
        description="counts the job against its queue's keyConcurrency (e.g. a customer id)",
    )
    fail_fast: bool | None = Field(
        default=None,
        description="on a parent: when it fails (e.g. a child with failParentOnFailure failed), "
        "cancel its unfinished descendants; running ones are asked to stop. Unset: the "
        "flow's failFast",
    )

    @field_validator("backoff", mode="before")
    @classmethod
    def _number_is_fixed(cls, value: object) -> object:
        # BullMQ accepts a bare number for a fixed backoff; normalising it here
        # keeps error paths and messages free of union tags and class names.
        if value is None or isinstance(value, dict | BackoffSpec):
            return value
        value = _integral(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value <= MAX_BACKOFF_MS:
                raise ValueError(f"backoff must be between 0 and {MAX_BACKOFF_MS} milliseconds")
            return {"type": "fixed", "delay": value}
        raise ValueError(
            "backoff must be a whole number of milliseconds or an object "
            "{type: fixed|exponential, delay, jitter?}"
        )

    @model_validator(mode="after")
    def _one_failure_policy(self) -> JobOpts:
        # a plain sum: this runs once per job of every created flow
        chosen = (
            self.fail_parent_on_failure
            + self.ignore_dependency_on_failure
            + self.remove_dependency_on_failure
            + self.continue_parent_on_failure
        )
        if chosen > 1:
            raise ValueError(
                "at most one of failParentOnFailure, ignoreDependencyOnFailure, "
                "removeDependencyOnFailure, continueParentOnFailure may be set"
            )
        return self


# Whitespace in either regex dialect: Python's ``\s`` (str.isspace: also \x1c-\x1f,
# \x85) and ECMA-262's, which JSON Schema patterns use (also \ufeff). ``\S``
# differs between the two, so the check and the document share this explicit
# class, which the server's (Rust), Python's and ECMA-262's regex read alike.
SPACE_CHARS = r"\x09-\x0d\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
NAME_PATTERN = f"[^{SPACE_CHARS}]"  # somewhere a character that is not whitespace
JOB_ID_PATTERN = f"^[^{SPACE_CHARS}/?#]+$"

Name = Annotated[str, Field(min_length=1, max_length=1000, pattern=NAME_PATTERN)]


class FlowJobData(WireModel):
    """One node of a flow tree in a request (the seed's ``FlowJobData``).

    Used for the OpenAPI document. Requests are validated one node at a time
    by :class:`FlowNode` (see ``backend.api.validation``), because deep trees
    exceed pydantic's recursion limit.
    """

    name: Name
    queue_name: Name
    data: JsonValue = None
    opts: JobOpts | None = None
    children: list[FlowJobData] | None = None


class FlowNode(WireModel):
    """One node validated on its own; ``children`` are checked by the caller."""

    name: Name
    queue_name: Name
    data: JsonValue = None
    opts: JobOpts | None = None
    children: list[Any] | None = None


MAX_META_KEYS = 32
MAX_META_VALUE_LENGTH = 256
META_KEY_PATTERN = r"^[A-Za-z0-9_.:-]{1,64}$"
MetaKey = Annotated[str, Field(pattern=META_KEY_PATTERN)]
# pydantic writes the key pattern as patternProperties; keys outside it are not valid either
_ONLY_META_KEYS: dict[str, Any] = {"additionalProperties": False}
MetaValue = Annotated[str, Field(max_length=MAX_META_VALUE_LENGTH)] | bool | int | float
Metadata = Annotated[
    dict[MetaKey, MetaValue],
    Field(
        max_length=MAX_META_KEYS,
        json_schema_extra=_ONLY_META_KEYS,
        description=(
            f"at most {MAX_META_KEYS} keys (letters, digits, `_.:-`, 1-64 characters) with "
            f"string (at most {MAX_META_VALUE_LENGTH} characters), number or boolean values; "
            "find flows by them with `GET /flows?meta.KEY=VALUE`"
        ),
    ),
]


class CreateFlowRequest(FlowJobData):
    """``POST /flows``: the root job; its ``name`` is also the flow's name."""

    metadata: Metadata | None = None
    fail_fast: bool = Field(
        default=False,
        description="the default of opts.failFast for every job of the flow that leaves it unset",
    )


class MetadataField(WireModel):
    """``POST /flows``'s ``metadata``, validated apart from the tree."""

    metadata: Metadata | None = None


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds")


class OutModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""An RFC 3339 time in UTC with milliseconds, as :func:`iso` writes it."""


class JobError(OutModel):
    """Why a job failed: the same three fields whoever failed it."""

    type: str = Field(
        description="the exception's class name, or one of the server's own: TimeoutError, "
        "Stalled, ChildFailed, UnknownTask, Cancelled, ResultNotSerializable, ResultTooLarge"
    )
    message: str
    traceback: str = Field(
        description="the task's traceback, with file paths relative to the worker's import "
        "roots (no install paths); empty when the server failed the job"
    )
    child_job_id: str | None = Field(
        default=None, description="the child whose failure failed this job (failParentOnFailure)"
    )

    @classmethod
    def of(cls, raw: JsonValue) -> JobError | None:
        if raw is None:
            return None
        obj = raw if isinstance(raw, dict) else {"message": str(raw)}
        child = obj.get("childJobId")
        return cls(
            type=str(obj.get("type") or "Error"),
            message=str(obj.get("message") or ""),
            traceback=str(obj.get("traceback") or ""),
            child_job_id=None if child is None else str(child),
        )


class Stuck(OutModel):
    job_id: str
    reason: str

    @classmethod
    def of(cls, info: StuckInfo | None) -> Stuck | None:
        return None if info is None else cls(job_id=info.job_id, reason=info.reason)


class FlowResponse(OutModel):
    id: str
    name: str
    status: FlowStatus
    root_job_id: str
    created_at: Timestamp
    updated_at: Timestamp
    finished_at: Timestamp | None = None
    counts: dict[str, int] = Field(description="job count per state")
    total: int
    stuck: Stuck | None = Field(
        default=None, description="set when the flow cannot progress without an operator"
    )
    metadata: dict[str, MetaValue] = Field(
        default_factory=dict, description="what the flow was created with (`POST /flows`)"
    )

    @classmethod
    def of(cls, flow: Flow) -> FlowResponse:
        counts = {state.value: flow.counts.get(state.value, 0) for state in JobState}
        return cls(
            id=flow.id,
            name=flow.name,
            status=flow.status,
            root_job_id=flow.root_job_id,
            created_at=iso(flow.created_at) or "",
            updated_at=iso(flow.updated_at) or "",
            finished_at=iso(flow.finished_at),
            counts=counts,
            total=sum(counts.values()),
            stuck=Stuck.of(flow.stuck),
            metadata=flow.metadata,
        )


class FlowJobResponse(OutModel):
    """A job. ``jobId`` is its one identifier: every route and reference uses it."""

    job_id: str
    flow_id: str
    parent_id: str | None
    name: str
    queue_name: str
    data: JsonValue = None
    opts: dict[str, JsonValue]
    status: JobState
    result: JsonValue = None
    error: JobError | None = None
    children: list[str] = Field(description="the children's jobIds, in request order")
    attempts_made: int
    progress: JsonValue = None
    created_at: Timestamp
    updated_at: Timestamp
    started_at: Timestamp | None = None
    finished_at: Timestamp | None = None
    run_at: Timestamp | None = None
    held_by: HeldByName | None = Field(
        default=None,
        description="while the job is ready but not sent: the queue control holding it back",
    )
    worker_id: str | None = Field(
        default=None,
        description="the worker its latest attempt started on (see `GET /workers`), kept "
        "after the attempt ends; null if no attempt has started",
    )

    @classmethod
    def of(cls, job: Job) -> FlowJobResponse:
        return cls(
            job_id=job.job_id,
            flow_id=job.flow_id,
            parent_id=job.parent_id,
            name=job.name,
            queue_name=job.queue_name,
            data=job.data,
            opts=job.opts.to_json(),
            status=job.status,
            result=job.result,
            error=JobError.of(job.error),
            children=list(job.children),
            attempts_made=job.attempts_made,
            progress=job.progress,
            created_at=iso(job.created_at) or "",
            updated_at=iso(job.updated_at) or "",
            started_at=iso(job.started_at),
            finished_at=iso(job.finished_at),
            run_at=iso(job.run_at),
            held_by=job.held_by if job.status in _HOLDABLE and not job.dispatched else None,
            worker_id=job.worker_id,
        )


class FlowTreeNode(FlowJobResponse):
    """``GET /flows/{id}/tree``: a job with its children nested (BullMQ's getFlow)."""

    nodes: list[FlowTreeNode] = Field(default_factory=list)


CURSOR_PATTERN = r"^[0-9a-f]{1,15}(-[0-9a-f]{1,15})?$"
"""Every string of this shape is a position in the list (opaque, but checkable)."""


class FlowPage(OutModel):
    items: list[FlowResponse]
    next_cursor: Annotated[str, Field(pattern=CURSOR_PATTERN)] | None = Field(
        description="an opaque cursor: pass it unchanged as ?cursor= for the next page; "
        "null on the last page"
    )


class JobList(OutModel):
    items: list[FlowJobResponse]


HeldByName = Literal["paused", "concurrency", "keyConcurrency", "rateLimit"]
_HOLDABLE = frozenset({JobState.WAITING, JobState.DELAYED})
MAX_LIMIT = 1_000_000
MAX_RATE_WINDOW_MS = 24 * 3600 * 1000


class RateLimitSpec(WireModel):
    """At most ``max`` jobs of the queue sent per ``duration`` milliseconds (sliding window)."""

    max: Annotated[int, Field(ge=1, le=MAX_LIMIT), ToInt]
    duration: Annotated[int, Field(ge=1, le=MAX_RATE_WINDOW_MS), ToInt]


Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT), ToInt]


class UpdateQueueRequest(WireModel):
    """``PATCH /queues/{name}``: a field left out keeps its value; ``null`` removes the limit."""

    concurrency: Limit | None = Field(
        default=None, description="most jobs of the queue sent and unfinished at once"
    )
    rate_limit: RateLimitSpec | None = Field(
        default=None, description="most jobs of the queue sent per window"
    )
    key_concurrency: Limit | None = Field(
        default=None,
        description="most jobs sent and unfinished at once per opts.concurrencyKey",
    )


class RateLimitInfo(OutModel):
    max: int
    duration: int = Field(description="milliseconds")


class QueueControlsResponse(OutModel):
    """A queue's flow controls (``queue:updated`` carries this)."""

    name: str
    paused: bool = False
    concurrency: int | None = None
    rate_limit: RateLimitInfo | None = None
    key_concurrency: int | None = None

    @classmethod
    def of(cls, controls: QueueControls) -> QueueControlsResponse:
        rate = controls.rate_limit
        return cls(
            name=controls.name,
            paused=controls.paused,
            concurrency=controls.concurrency,
            rate_limit=None
            if rate is None
            else RateLimitInfo(max=rate.max, duration=rate.duration),
            key_concurrency=controls.key_concurrency,
        )


class QueueInfo(QueueControlsResponse):
    counts: dict[str, int]


class QueueList(OutModel):
    items: list[QueueInfo]


class ErrorDetail(OutModel):
    code: str
    message: str
    path: str | None = None
    errors: list[dict[str, str]] | None = None


class ErrorResponse(OutModel):
    error: ErrorDetail


class HealthResponse(OutModel):
    status: Literal["ok", "degraded"]
    version: str
    checks: dict[str, dict[str, JsonValue]]


class JobLogEntry(OutModel):
    attempt: int
    message: str
    created_at: Timestamp

    @classmethod
    def of(cls, entry: JobLog) -> JobLogEntry:
        return cls(
            attempt=entry.attempt, message=entry.message, created_at=iso(entry.created_at) or ""
        )


class JobDetail(FlowJobResponse):
    """``GET /jobs/{jobId}``: a job with the lines its task logged, oldest first."""

    logs: list[JobLogEntry] = Field(default_factory=list)

    @classmethod
    def with_logs(cls, job: Job, logs: list[JobLog]) -> JobDetail:
        base = FlowJobResponse.of(job)
        return cls(**dict(base), logs=[JobLogEntry.of(entry) for entry in logs])


def _decimal(value: object) -> object:
    # pydantic's lax int parsing also takes " 5", "5.0" and "1_0"; a query
    # integer is its decimal digits, as the document's `integer` says.
    if isinstance(value, str) and not _DECIMAL.fullmatch(value):
        raise ValueError("must be an integer written in decimal digits")
    return value


_DECIMAL = re.compile(r"-?[0-9]+")
Decimal = BeforeValidator(_decimal)  # after a field's constraints, which then stay in the schema


class OpenApiDocument(OutModel):
    """``GET /openapi.json``: an OpenAPI 3.1 document (this one)."""

    model_config = ConfigDict(extra="allow")

    openapi: str
    info: dict[str, JsonValue]
    paths: dict[str, JsonValue]
    components: dict[str, JsonValue]


class QueryModel(BaseModel):
    """The query parameters one route accepts, declared once.

    Field names are the wire names. The server parses a request's query with
    the route's model (``backend.api.query``), refusing any other name; the
    OpenAPI document lists the same fields as the route's parameters; clients
    build their query with :meth:`to_query`. Values arrive as strings, so
    numbers are parsed from their decimal digits and nothing else.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    repeatable: ClassVar[frozenset[str]] = frozenset()
    """Fields that are lists: the parameter is given once per item."""
    prefixed: ClassVar[frozenset[str]] = frozenset()
    """Fields that are string maps, given as ``NAME.KEY=VALUE`` parameters."""

    def to_query(self) -> dict[str, str | list[str]]:
        """The parameters to send: every field that is set, as wire strings
        (a list once per item, a map as ``NAME.KEY`` parameters)."""
        query: dict[str, str | list[str]] = {}
        dumped = self.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
        for name, value in dumped.items():
            if name in self.prefixed:
                query.update({f"{name}.{key}": str(item) for key, item in value.items()})
            elif name in self.repeatable:
                query[name] = [str(item) for item in value]
            else:
                query[name] = str(value)
        return query


class NoQuery(QueryModel):
    """A route that takes no query parameters (any name is refused)."""


_MAX_QUERY_TEXT = 1000
QueryText = Annotated[str, Field(min_length=1, max_length=_MAX_QUERY_TEXT)]
_TIME_FORMS = (
    "an RFC 3339 (ISO 8601) date-time such as `2026-12-01T08:00:00Z`, or epoch milliseconds"
)
_EPOCH_MS = {"type": "string", "pattern": "^[0-9]{1,15}$"}
QueryTime = Annotated[
    int,
    BeforeValidator(parse_time),
    WithJsonSchema({"anyOf": [{"type": "string", "format": "date-time"}, _EPOCH_MS]}),
]
BodyTime = Annotated[
    int,
    BeforeValidator(parse_time),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                {"type": "integer", "minimum": -MAX_EPOCH_MS, "maximum": MAX_EPOCH_MS},
            ]
        }
    ),
]
MetaFilter = Annotated[
    dict[MetaKey, Annotated[str, Field(max_length=MAX_META_VALUE_LENGTH)]],
    Field(max_length=MAX_META_KEYS, json_schema_extra=_ONLY_META_KEYS),
]
# JSON has no enums: a status is its string, in a strict body too
LaxStatus = Annotated[FlowStatus, Strict(False)]
StatusList = Annotated[list[LaxStatus], Field(min_length=1, max_length=len(FlowStatus))]
FLOW_QUERY_HELP = (
    "Besides these, `meta.KEY=VALUE` (repeatable, one per key) keeps the flows whose "
    "metadata holds KEY with exactly VALUE (numbers as JSON writes them, booleans as "
    "`true`/`false`)."
)


class FlowListQuery(QueryModel):
    """``GET /flows``: every filter given must hold (AND)."""

    repeatable: ClassVar[frozenset[str]] = frozenset({"status"})
    prefixed: ClassVar[frozenset[str]] = frozenset({"meta"})

    limit: Annotated[int, Field(ge=1, le=200), Decimal] = Field(default=50, description="page size")
    cursor: Annotated[str, Field(pattern=CURSOR_PATTERN)] | SkipJsonSchema[None] = Field(
        default=None,
        description=(
            "an opaque cursor: the `nextCursor` of the previous page (of the same query), "
            "passed back unchanged; what it encodes is not part of the API"
        ),
    )
    status: StatusList | SkipJsonSchema[None] = Field(
        default=None, description="only flows in one of these statuses (repeatable)"
    )
    q: str | SkipJsonSchema[None] = Field(
        default=None, description="case-insensitive substring of the flow's name"
    )
    meta: SkipJsonSchema[MetaFilter | None] = None
    task: QueryText | SkipJsonSchema[None] = Field(
        default=None, description="only flows holding a job of this task name"
    )
    jobId: QueryText | SkipJsonSchema[None] = Field(
        default=None, description="only the flow holding the job with this jobId"
    )
    createdAfter: QueryTime | SkipJsonSchema[None] = Field(
        default=None, description=f"created at or after this time: {_TIME_FORMS}"
    )
    createdBefore: QueryTime | SkipJsonSchema[None] = Field(
        default=None, description=f"created before this time: {_TIME_FORMS}"
    )
    finishedAfter: QueryTime | SkipJsonSchema[None] = Field(
        default=None, description=f"finished at or after this time: {_TIME_FORMS}"
    )
    finishedBefore: QueryTime | SkipJsonSchema[None] = Field(
        default=None, description=f"finished before this time: {_TIME_FORMS}"
    )
    sort: FlowSort = Field(
        default=FlowSort.CREATED,
        description="`created`: newest first; `finished`: most recently finished first; "
        "`duration`: longest first (these two list finished flows only)",
    )

    def to_filter(self) -> FlowFilter:
        # the same filters as a bulk request's body, whose aliases are these names
        filters = self.model_dump(exclude={"limit", "cursor", "sort"}, exclude_none=True)
        body = FlowFilterBody.model_validate(filters)
        return dataclasses.replace(body.to_filter(), sort=self.sort)


class JobSearchQuery(QueryModel):
    """``GET /jobs``: jobs across all your flows; every filter given must hold."""

    limit: Annotated[int, Field(ge=1, le=200), Decimal] = Field(default=50, description="page size")
    cursor: Annotated[str, Field(pattern=CURSOR_PATTERN)] | SkipJsonSchema[None] = Field(
        default=None,
        description="an opaque cursor: the `nextCursor` of the previous page, unchanged",
    )
    state: JobState | SkipJsonSchema[None] = Field(default=None, description="the job's state")
    task: QueryText | SkipJsonSchema[None] = Field(default=None, description="the task name")
    queue: QueryText | SkipJsonSchema[None] = Field(default=None, description="the queue name")
    errorType: QueryText | SkipJsonSchema[None] = Field(
        default=None, description="the type of the job's error (`error.type`)"
    )
    finishedAfter: QueryTime | SkipJsonSchema[None] = Field(
        default=None, description=f"finished at or after this time: {_TIME_FORMS}"
    )
    finishedBefore: QueryTime | SkipJsonSchema[None] = Field(
        default=None, description=f"finished before this time: {_TIME_FORMS}"
    )

    def to_filter(self) -> JobFilter:
        return JobFilter(
            state=self.state,
            task=self.task,
            queue=self.queue,
            error_type=self.errorType,
            finished_after=self.finishedAfter,
            finished_before=self.finishedBefore,
        )


class JobPage(OutModel):
    """``GET /jobs``: finished jobs, most recent finish first, then unfinished ones,
    newest first; each names its ``flowId``."""

    items: list[FlowJobResponse]
    next_cursor: Annotated[str, Field(pattern=CURSOR_PATTERN)] | None = Field(
        description="pass it unchanged as ?cursor= for the next page; null on the last page"
    )


class FlowFilterBody(WireModel):
    """The filters of ``GET /flows``, as a JSON object (``POST /flows/bulk``)."""

    q: str | None = None
    status: StatusList | None = None
    meta: MetaFilter | None = Field(
        default=None,
        description="metadata pairs the flows must hold, values as `meta.KEY=VALUE` spells them",
    )
    task: QueryText | None = None
    job_id: QueryText | None = None
    created_after: BodyTime | None = None
    created_before: BodyTime | None = None
    finished_after: BodyTime | None = None
    finished_before: BodyTime | None = None

    def to_filter(self) -> FlowFilter:
        return FlowFilter(
            search=self.q or None,
            statuses=tuple(self.status or ()),
            meta=tuple(sorted((self.meta or {}).items())),
            task=self.task,
            job_id=self.job_id,
            created_after=self.created_after,
            created_before=self.created_before,
            finished_after=self.finished_after,
            finished_before=self.finished_before,
        )


def _ids_or_filter(schema: dict[str, Any]) -> None:
    schema["oneOf"] = [{"required": ["ids"]}, {"required": ["filter"]}]


def _not_null(schema: dict[str, Any]) -> None:
    # absent, never null: the document says so while validation, which must accept
    # the default None, keeps error paths free of union tags (a SkipJsonSchema union)
    forms = [form for form in schema.pop("anyOf", []) if form.get("type") != "null"]
    if len(forms) == 1:
        schema.update(forms[0])
    schema.pop("default", None)


BulkId = Annotated[str, Field(min_length=1, max_length=_MAX_QUERY_TEXT)]


class BulkRequest(WireModel):
    """``POST /flows/bulk``: one action on listed flows or on every flow a filter matches."""

    model_config = ConfigDict(json_schema_extra=_ids_or_filter)

    action: Annotated[BulkAction, Strict(False)]
    ids: Annotated[list[BulkId], Field(min_length=1)] | None = Field(
        default=None,
        description="the flows' ids (give either this or `filter`)",
        json_schema_extra=_not_null,
    )
    filter: FlowFilterBody | None = Field(
        default=None,
        description="every flow that matches (give either this or `ids`); null or {} "
        "matches every flow",
    )
    dry_run: bool = Field(
        default=False, description="only count the flows and name the first ones; act on none"
    )

    @model_validator(mode="after")
    def _one_selection(self) -> BulkRequest:
        if (self.ids is None) == ("filter" not in self.model_fields_set):
            raise ValueError("give either ids or filter, not both and not neither")
        return self

    def selected_filter(self) -> FlowFilter | None:
        """The flows a filter selects (None: the request names ids)."""
        if self.ids is not None:
            return None
        return (self.filter or FlowFilterBody()).to_filter()


BULK_OK = "ok"
"""A bulk result's ``outcome`` when the action was done (anything else is an error code)."""


class BulkOutcome(OutModel):
    id: str
    outcome: str = Field(
        description="`ok`, or the error code the single route would have answered "
        "(`flow_not_found`, `flow_active`, `invalid_state`)"
    )
    message: str | None = None


class BulkResponse(OutModel):
    action: BulkAction
    dry_run: bool
    matched: int = Field(description="how many flows the ids or the filter name")
    ids: list[str] = Field(description="a dry run: the first matched flows' ids (at most 100)")
    results: list[BulkOutcome] = Field(description="one per flow acted on (none in a dry run)")
    ok: int = Field(description="how many results are `ok`")


class WsQuery(QueryModel):
    """``GET /ws``."""

    since: Annotated[int, Field(ge=0), Decimal] | SkipJsonSchema[None] = Field(
        default=None, description="replay every event after this seq"
    )
    token: Annotated[str, Field(min_length=1)] | SkipJsonSchema[None] = Field(
        default=None,
        description="the bearer token, for clients that cannot set headers (browsers)",
    )


class WorkerResponse(OutModel):
    id: str
    host: str
    pid: int
    queues: list[str]
    tasks: list[str]
    started_at: Timestamp
    heartbeat_at: Timestamp


class WorkerList(OutModel):
    items: list[WorkerResponse]


MAX_STATS_WINDOW = 7 * 24 * 3600  # seconds: the event log's default retention


class TaskStatsQuery(QueryModel):
    """``GET /stats/tasks``."""

    window: Annotated[int, Field(ge=1, le=MAX_STATS_WINDOW), Decimal] = Field(
        default=3600,
        description="seconds back from now: jobs that finished within them are counted "
        "(at most 7 days, and never further back than the event log's retention)",
    )


class TaskStatsItem(OutModel):
    """One task name's jobs that finished in the window."""

    name: str = Field(description="the task name")
    completed: int
    failed: int = Field(description="jobs that finally failed (retries that recovered are not)")
    failure_rate: float = Field(description="failed / (completed + failed)")
    p50_ms: int | None = Field(
        description="median run time (startedAt to finishedAt) in ms, nearest rank; "
        "null when no finished job has both times"
    )
    p95_ms: int | None = Field(description="95th percentile run time in ms, nearest rank")

    @classmethod
    def of(cls, stats: TaskStats) -> TaskStatsItem:
        return cls(
            name=stats.name,
            completed=stats.completed,
            failed=stats.failed,
            failure_rate=stats.failure_rate,
            p50_ms=stats.p50_ms,
            p95_ms=stats.p95_ms,
        )


class TaskStatsList(OutModel):
    window: int = Field(description="the window in seconds, as asked")
    since: Timestamp = Field(description="the window's start")
    items: list[TaskStatsItem]


# --- websocket messages (docs/websocket.md) --------------------------------------
#
# The backend splices stored payloads into frames without decoding them
# (``backend.api.ws_frames``), so these models are what the frames *mean*:
# clients parse every frame with them, and the tests hold the server to them.


class FlowCreatedMessage(OutModel):
    type: Literal["flow:created"]
    seq: int
    data: FlowResponse


class FlowUpdatedMessage(OutModel):
    type: Literal["flow:updated"]
    seq: int
    data: FlowResponse


class FlowJobUpdatedMessage(OutModel):
    type: Literal["flow:job:updated"]
    seq: int
    data: FlowJobResponse


class QueueUpdatedMessage(OutModel):
    """An operator paused, resumed or limited a queue."""

    type: Literal["queue:updated"]
    seq: int
    data: QueueControlsResponse


class FlowRef(OutModel):
    id: str


class FlowDeletedMessage(OutModel):
    type: Literal["flow:deleted"]
    seq: int
    data: FlowRef


class ResyncReason(OutModel):
    reason: str


class ResyncMessage(OutModel):
    """Reload through REST; the stream continues after ``seq``."""

    type: Literal["resync"]
    seq: int
    data: ResyncReason | None = None


class SubscriptionState(OutModel):
    flow_ids: list[str] | None
    excluded_flow_ids: list[str]


class SubscriptionMessage(OutModel):
    type: Literal["subscription"]
    data: SubscriptionState


class WsErrorDetail(OutModel):
    code: str
    message: str


class WsErrorMessage(OutModel):
    type: Literal["error"]
    data: WsErrorDetail


EventMessage = Annotated[
    FlowCreatedMessage
    | FlowUpdatedMessage
    | FlowJobUpdatedMessage
    | FlowDeletedMessage
    | QueueUpdatedMessage,
    Field(discriminator="type"),
]
"""A message carrying one event of the log: the ones with a ``seq`` to resume from."""

ServerMessage = Annotated[
    FlowCreatedMessage
    | FlowUpdatedMessage
    | FlowJobUpdatedMessage
    | FlowDeletedMessage
    | QueueUpdatedMessage
    | ResyncMessage
    | SubscriptionMessage
    | WsErrorMessage,
    Field(discriminator="type"),
]


class BatchMessage(OutModel):
    """Several messages in one frame, in ``seq`` order."""

    type: Literal["batch"]
    items: list[ServerMessage]


ServerFrame = Annotated[ServerMessage | BatchMessage, Field(discriminator="type")]
"""One websocket text frame from the server: a message or a batch of them."""


class ClientMessage(WireModel):
    """``subscribe`` / ``unsubscribe`` one flow, or (without ``flowId``) all of them."""

    type: Literal["subscribe", "unsubscribe"]
    flow_id: Annotated[str, Field(min_length=1)] | None = None


# --- schedules (docs/flow-control.md) ---------------------------------------------

MAX_EVERY_MS = 366 * 24 * 3600 * 1000


def _ascending(lo: int, hi: int) -> list[str]:
    return [f"{a}-{b}" for a in range(lo, hi) for b in range(a + 1, hi + 1)]


def _cron_field(value: str, step: str, ranges: Sequence[str] = ()) -> str:
    item = "|".join([*ranges, value])
    return rf"(?:\*(?:/(?:{step}))?|(?:{item})(?:,(?:{item}))*)"


_SIXTY = "[1-5]?[0-9]"
_CRON_FIELDS = (
    _cron_field(_SIXTY, "[1-9]|[1-5][0-9]"),  # minute
    _cron_field("1?[0-9]|2[0-3]", "[1-9]|1[0-9]|2[0-3]", _ascending(0, 23)),  # hour
    _cron_field("[1-9]|1[0-9]|2[0-8]", "[1-9]|[12][0-9]|3[01]"),  # day of month, 1-28
    _cron_field("[1-9]|1[0-2]", "[1-9]|1[0-2]", _ascending(1, 12)),  # month
    _cron_field("[0-7]", "[1-7]", _ascending(0, 7)),  # day of week
)
CRON_PATTERN = (
    f"^(?:{_cron_field(_SIXTY, '[1-9]|[1-5][0-9]')} )?"  # seconds, when six fields
    + " ".join(_CRON_FIELDS)
    + "$"
)
"""The cron expressions accepted: 5 fields (or 6, seconds first) of ``*``, ``*/step``,
numbers and comma lists, ranges in hours, months and weekdays; days of the month
1-28, so every expression has a next tick in every month. Every string of this
shape is one cronsim evaluates."""

Cron = Annotated[str, Field(min_length=1, max_length=200, pattern=CRON_PATTERN)]
Every = Annotated[int, Field(ge=1000, le=MAX_EVERY_MS), ToInt]


def _zone_enum(schema: dict[str, Any]) -> None:
    # The known names as one pattern, not an ``enum``: generated clients make a
    # member of each enum value, and some zone names differ only in punctuation.
    names = "|".join(sorted(name.replace("+", r"\+") for name in known_zones()))
    schema["pattern"] = f"^(?:{names})$"


def _known_zone(value: str) -> str:
    if value not in known_zones():
        raise ValueError(f"unknown time zone {value!r} (an IANA name such as Europe/Paris)")
    return value


Zone = Annotated[
    str,
    Field(min_length=1, max_length=64, json_schema_extra=_zone_enum),
    AfterValidator(_known_zone),
]


def _cron_or_every(exactly_one: bool) -> Callable[[dict[str, Any]], None]:
    """The JSON Schema form of the timing rule (the validators below are the check):
    ``cron`` and ``every`` are never null, and one of them (or at most one) is given."""

    def extra(schema: dict[str, Any]) -> None:
        for key in ("cron", "every"):
            prop = schema["properties"][key]
            forms = [form for form in prop.pop("anyOf", ()) if form.get("type") != "null"]
            prop.update(forms[0] if forms else {})
            prop.pop("default", None)
        if exactly_one:
            schema["oneOf"] = [{"required": ["cron"]}, {"required": ["every"]}]
        else:
            schema["not"] = {"required": ["cron", "every"]}

    return extra


def _refuse_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null: leave the field out instead")
    return value


OverlapName = Literal["skip", "allow"]
CatchUpName = Literal["once", "skip"]


class CreateScheduleRequest(WireModel):
    """``POST /schedules``: run ``flow`` on ``cron`` (in ``timezone``) or ``every`` ms."""

    model_config = ConfigDict(json_schema_extra=_cron_or_every(True))

    name: Name
    cron: Cron | None = Field(
        default=None,
        description="a cron expression: 5 fields, or 6 with seconds first (e.g. '0 3 * * *')",
    )
    every: Every | None = Field(default=None, description="or: a period in milliseconds")
    timezone: Zone = Field(default="UTC", description="the IANA zone the cron expression is in")
    flow: CreateFlowRequest = Field(description="the flow each run creates (no opts.jobId)")
    overlap: OverlapName = Field(
        default="skip", description="a tick while the previous run's flow is still active"
    )
    catch_up: CatchUpName = Field(
        default="once",
        description="ticks missed while the backend was down: run once on start, or skip",
    )
    paused: bool = False

    _cron_not_null = field_validator("cron", "every", mode="before")(_refuse_null)

    @model_validator(mode="after")
    def _one_timing(self) -> CreateScheduleRequest:
        if (self.cron is None) == (self.every is None):
            raise ValueError("give exactly one of cron and every")
        return self


class UpdateScheduleRequest(WireModel):
    """``PATCH /schedules/{id}``: a field left out (or null) keeps its value;
    ``cron`` and ``every`` replace each other."""

    model_config = ConfigDict(json_schema_extra=_cron_or_every(False))

    name: Name | None = None
    cron: Cron | None = None
    every: Every | None = None
    timezone: Zone | None = None
    flow: CreateFlowRequest | None = None
    overlap: OverlapName | None = None
    catch_up: CatchUpName | None = None
    paused: bool | None = None

    _cron_not_null = field_validator("cron", "every", mode="before")(_refuse_null)

    @model_validator(mode="after")
    def _one_timing(self) -> UpdateScheduleRequest:
        if self.cron is not None and self.every is not None:
            raise ValueError("give at most one of cron and every")
        return self


class ScheduleResponse(OutModel):
    id: str
    name: str
    cron: str | None
    every: int | None
    timezone: str
    flow: dict[str, JsonValue]
    overlap: OverlapName
    catch_up: CatchUpName
    paused: bool
    next_run_at: Timestamp = Field(description="the next planned tick")
    last_run_at: Timestamp | None = Field(description="the planned time of the last run")
    last_flow_id: str | None
    last_flow_status: FlowStatus | None = Field(description="the last run's flow, as it is now")
    created_at: Timestamp
    updated_at: Timestamp


class ScheduleList(OutModel):
    items: list[ScheduleResponse]
