"""REST client for the backend: one aiohttp session, typed records out.

Every route the window uses has one method here. Failures are translated
into :mod:`desktop.client.errors` at this edge, so views never see an
aiohttp exception. No Qt: the client is tested against a plain aiohttp
server and reused by the benchmark and scripts.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import aiohttp

from desktop.client.errors import ApiError, ConnectionFailed
from desktop.client.records import (
    JSON,
    FlowInfo,
    FlowPage,
    FlowStatus,
    JobInfo,
    ProtocolError,
    QueueInfo,
    WorkerInfo,
    flatten_tree,
    items_of,
)


@dataclass(frozen=True)
class JobLog:
    attempt: int
    message: str
    created_at: str


@dataclass(frozen=True)
class JobDetail:
    job: JobInfo
    logs: tuple[JobLog, ...]


class RestClient:
    """Async REST client. Use as ``async with RestClient(url, token) as api``."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

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
        params: Mapping[str, str] | None = None,
        body: JSON = None,
    ) -> JSON:
        """Send one request; return the decoded JSON or raise a client error."""
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
        try:
            decoded: JSON = json.loads(text) if text else None
        except json.JSONDecodeError:
            decoded = text
        if status >= 400:
            raise ApiError.from_body(status, decoded)
        if isinstance(decoded, str):
            raise ProtocolError(f"{method} {path}: expected JSON, got {text[:80]!r}")
        return decoded

    # --- flows -----------------------------------------------------------------

    async def list_flows(
        self,
        *,
        limit: int = 100,
        cursor: str | None = None,
        status: FlowStatus | None = None,
        search: str | None = None,
    ) -> FlowPage:
        params = {"limit": str(limit)}
        if cursor is not None:
            params["cursor"] = cursor
        if status is not None:
            params["status"] = status.value
        if search:
            params["search"] = search
        return FlowPage.from_json(await self.request("GET", "/flows", params=params))

    async def create_flow(self, request: Mapping[str, JSON]) -> FlowInfo:
        return FlowInfo.from_json(await self.request("POST", "/flows", body=dict(request)))

    async def get_flow(self, flow_id: str) -> FlowInfo:
        return FlowInfo.from_json(await self.request("GET", f"/flows/{flow_id}"))

    async def flow_jobs(self, flow_id: str) -> list[JobInfo]:
        raw = await self.request("GET", f"/flows/{flow_id}/jobs")
        return [JobInfo.from_json(item) for item in items_of(raw)]

    async def flow_tree(self, flow_id: str) -> list[JobInfo]:
        """The flow's jobs from ``/tree``, flattened in pre-order."""
        return flatten_tree(await self.request("GET", f"/flows/{flow_id}/tree"))

    async def cancel_flow(self, flow_id: str) -> JSON:
        return await self.request("POST", f"/flows/{flow_id}/cancel")

    async def retry_flow(self, flow_id: str) -> JSON:
        return await self.request("POST", f"/flows/{flow_id}/retry")

    async def delete_flow(self, flow_id: str) -> None:
        await self.request("DELETE", f"/flows/{flow_id}")

    # --- jobs ------------------------------------------------------------------

    async def get_job(self, job_id: str) -> JobInfo:
        return JobInfo.from_json(await self.request("GET", f"/jobs/{job_id}"))

    async def retry_job(self, job_id: str) -> JSON:
        return await self.request("POST", f"/jobs/{job_id}/retry")

    async def job_detail(self, job_id: str) -> JobDetail:
        """``GET /jobs/{jobId}``: the job and the lines its task logged."""
        raw = await self.request("GET", f"/jobs/{job_id}")
        logs = raw.get("logs") if isinstance(raw, Mapping) else None
        lines = tuple(
            JobLog(
                int(item.get("attempt") or 0),
                str(item.get("message", "")),
                str(item.get("createdAt", "")),
            )
            for item in logs or ()
            if isinstance(item, Mapping)
        )
        return JobDetail(JobInfo.from_json(raw), lines)

    # --- overview --------------------------------------------------------------

    async def queues(self) -> list[QueueInfo]:
        return [
            QueueInfo.from_json(item) for item in items_of(await self.request("GET", "/queues"))
        ]

    async def workers(self) -> list[WorkerInfo]:
        raw = await self.request("GET", "/workers")
        return [WorkerInfo.from_json(item) for item in items_of(raw)]

    async def health(self) -> dict[str, Any]:
        raw = await self.request("GET", "/health")
        if not isinstance(raw, dict):
            raise ProtocolError("health must be a JSON object")
        return raw
