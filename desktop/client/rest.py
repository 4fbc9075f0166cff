"""REST client for the backend: one aiohttp session, the wire's own models out.

Every route the window uses has one method here, and every answer is parsed
with the response model of :mod:`backend.schemas` that the server built it
with (query parameters too come from that module). Failures are translated
into :mod:`desktop.client.errors` at this edge, so views never see an
aiohttp or pydantic exception. No Qt: the client is tested against the real
application and reused by the benchmark and scripts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any, TypeVar

import aiohttp
from pydantic import BaseModel

from backend.schemas import (
    BulkAction,
    BulkRequest,
    BulkResponse,
    FlowJobResponse,
    FlowListQuery,
    FlowPage,
    FlowResponse,
    FlowStatus,
    HealthResponse,
    JobDetail,
    JobList,
    QueueControlsResponse,
    QueueInfo,
    QueueList,
    ScheduleList,
    ScheduleResponse,
    TaskStatsList,
    TaskStatsQuery,
    WorkerList,
    WorkerResponse,
)
from desktop.client.errors import ApiError, ConnectionFailed, ProtocolError
from desktop.client.wire import flatten_tree, parse

Model = TypeVar("Model", bound=BaseModel)
JSON = Any


class RestClient:
    """Async REST client. Use as ``async with RestClient(url, token) as api``."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._bulk_cap: int | None = None

    async def __aenter__(self) -> RestClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                headers={"Authorization": f"Bearer {self.token}"}, timeout=self._timeout
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | list[str]] | None = None,
        body: JSON = None,
    ) -> JSON:
        """Send one request; return the decoded JSON answer or raise a client error."""
        url = self.base_url + path
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": "application/json"} if data is not None else None
        try:
            async with self._http().request(
                method, url, params=params, data=data, headers=headers
            ) as resp:
                text = await resp.text()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ConnectionFailed(f"{method} {url}: {exc or type(exc).__name__}") from exc
        if status >= 400:
            raise ApiError.from_body(status, text)
        if not text:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            raise ProtocolError(f"{method} {path}: expected JSON, got {text[:80]!r}") from None

    async def _get(
        self, model: type[Model], path: str, params: Mapping[str, str | list[str]] | None = None
    ) -> Model:
        return parse(model, await self.request("GET", path, params=params), f"GET {path}")

    async def _post(self, model: type[Model], path: str, body: JSON = None) -> Model:
        return parse(model, await self.request("POST", path, body=body), f"POST {path}")

    # --- flows -----------------------------------------------------------------

    async def list_flows(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        status: FlowStatus | None = None,
        search: str | None = None,
        created_after: int | None = None,
    ) -> FlowPage:
        """A page of flows, newest first; ``search`` is a substring of the name,
        ``created_after`` epoch milliseconds (flows created at or after it)."""
        query = FlowListQuery(
            limit=limit,
            cursor=cursor,
            status=None if status is None else [status],
            q=search or None,
            createdAfter=created_after,
        )
        return await self._get(FlowPage, "/flows", query.to_query())

    async def create_flow(self, request: Mapping[str, JSON]) -> FlowResponse:
        return await self._post(FlowResponse, "/flows", dict(request))

    async def get_flow(self, flow_id: str) -> FlowResponse:
        return await self._get(FlowResponse, f"/flows/{flow_id}")

    async def flow_jobs(self, flow_id: str) -> list[FlowJobResponse]:
        return (await self._get(JobList, f"/flows/{flow_id}/jobs")).items

    async def flow_tree(self, flow_id: str) -> list[FlowJobResponse]:
        """The flow's jobs from ``/tree``, flattened in pre-order."""
        return flatten_tree(await self.request("GET", f"/flows/{flow_id}/tree"))

    async def cancel_flow(self, flow_id: str) -> FlowResponse:
        return await self._post(FlowResponse, f"/flows/{flow_id}/cancel")

    async def retry_flow(self, flow_id: str) -> FlowResponse:
        return await self._post(FlowResponse, f"/flows/{flow_id}/retry")

    async def delete_flow(self, flow_id: str) -> None:
        await self.request("DELETE", f"/flows/{flow_id}")

    async def bulk_flows(self, action: BulkAction, flow_ids: Sequence[str]) -> BulkResponse:
        """``POST /flows/bulk`` on these flows: one outcome per flow (at most :meth:`bulk_cap`)."""
        body = BulkRequest(action=action, ids=list(flow_ids))
        answer = body.model_dump(mode="json", by_alias=True, exclude_unset=True)
        return await self._post(BulkResponse, "/flows/bulk", answer)

    async def bulk_cap(self) -> int:
        """The most flows one bulk request may name: a server setting, read once from
        the ``maxItems`` the server writes into its OpenAPI document."""
        if self._bulk_cap is None:
            document = await self.request("GET", "/openapi.json")
            ids = str(BulkRequest.model_fields["ids"].alias)
            try:
                cap = document["components"]["schemas"][BulkRequest.__name__]["properties"][ids][
                    "maxItems"
                ]
            except (KeyError, TypeError):
                raise ProtocolError("GET /openapi.json: no cap on bulk ids") from None
            if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
                raise ProtocolError(f"GET /openapi.json: bulk cap {cap!r} is not a count")
            self._bulk_cap = cap
        return self._bulk_cap

    # --- jobs ------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobDetail:
        """``GET /jobs/{jobId}``: the job and the lines its task logged."""
        return await self._get(JobDetail, f"/jobs/{job_id}")

    async def retry_job(self, job_id: str) -> FlowResponse:
        """Retry a failed job; the answer is its flow."""
        return await self._post(FlowResponse, f"/jobs/{job_id}/retry")

    # --- overview --------------------------------------------------------------

    async def queues(self) -> list[QueueInfo]:
        return (await self._get(QueueList, "/queues")).items

    async def pause_queue(self, name: str) -> QueueControlsResponse:
        return await self._post(QueueControlsResponse, f"/queues/{name}/pause")

    async def resume_queue(self, name: str) -> QueueControlsResponse:
        return await self._post(QueueControlsResponse, f"/queues/{name}/resume")

    # --- schedules ---------------------------------------------------------------

    async def schedules(self) -> list[ScheduleResponse]:
        return (await self._get(ScheduleList, "/schedules")).items

    async def create_schedule(self, request: Mapping[str, JSON]) -> ScheduleResponse:
        return await self._post(ScheduleResponse, "/schedules", dict(request))

    async def schedule_command(self, schedule_id: str, command: str) -> ScheduleResponse:
        """``pause`` or ``resume`` a schedule."""
        return await self._post(ScheduleResponse, f"/schedules/{schedule_id}/{command}")

    async def run_schedule(self, schedule_id: str) -> FlowResponse:
        return await self._post(FlowResponse, f"/schedules/{schedule_id}/run")

    async def delete_schedule(self, schedule_id: str) -> None:
        await self.request("DELETE", f"/schedules/{schedule_id}")

    async def workers(self) -> list[WorkerResponse]:
        return (await self._get(WorkerList, "/workers")).items

    async def task_stats(self, window: int = 3600) -> TaskStatsList:
        """Per task, p50/p95 run time and failure rate over the last ``window`` seconds."""
        query = TaskStatsQuery(window=window)
        return await self._get(TaskStatsList, "/stats/tasks", query.to_query())

    async def health(self) -> HealthResponse:
        return await self._get(HealthResponse, "/health")
