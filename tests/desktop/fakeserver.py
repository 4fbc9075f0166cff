"""A small in-memory fake of the backend's public REST + websocket interface.

The real backend is being built in parallel; until it lands, the desktop's
client and widgets are tested against this aiohttp server, which speaks the
documented wire format (``backend/schemas.py``, issue 4's websocket protocol:
``{"type", "seq", "data"}``, ``?since=N`` replay, ``resync``). Tests drive
job transitions by hand (``complete``, ``fail``), so no scheduling lives here.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

QUEUES = ("jobQueue", "webhooks", "schedQueue", "flowQueue")
STATES = ("waiting-children", "waiting", "delayed", "active", "completed", "failed", "cancelled")
TOKEN = "fd_test_token"


def error(status: int, code: str, message: str, path: str | None = None) -> web.Response:
    body: dict[str, Any] = {"code": code, "message": message}
    if path is not None:
        body["path"] = path
    return web.json_response({"error": body}, status=status)


@dataclass
class FakeBackend:
    flows: dict[str, dict[str, Any]] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    retained_from: int = 1  # oldest seq still replayable
    sockets: set[web.WebSocketResponse] = field(default_factory=set)
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    clock: datetime = field(default_factory=lambda: datetime(2026, 1, 1, tzinfo=UTC))
    workers: list[dict[str, Any]] = field(default_factory=list)
    ws_connects: list[str] = field(default_factory=list)  # query strings seen

    def now(self) -> str:
        self.clock += timedelta(milliseconds=1)
        return self.clock.isoformat(timespec="milliseconds")

    # --- events ---------------------------------------------------------------

    async def emit(self, type_: str, data: dict[str, Any]) -> None:
        event = {"type": type_, "seq": len(self.events) + 1, "data": data}
        self.events.append(event)
        for ws in list(self.sockets):
            if not ws.closed:
                await ws.send_str(json.dumps(event))

    def flow_json(self, flow_id: str) -> dict[str, Any]:
        flow = self.flows[flow_id]
        counts = dict.fromkeys(STATES, 0)
        for job in self.jobs.values():
            if job["flowId"] == flow_id:
                counts[job["status"]] += 1
        return {**flow, "counts": counts, "total": sum(counts.values())}

    # --- test controls --------------------------------------------------------

    async def set_job(self, job_id: str, **changes: Any) -> None:
        job = self.jobs[job_id]
        job.update(changes, updatedAt=self.now())
        await self.emit("flow:job:updated", dict(job))
        flow = self.flows[job["flowId"]]
        if job_id == flow["rootJobId"] and job["status"] in ("completed", "failed"):
            flow["status"] = job["status"]
            flow["finishedAt"] = job["updatedAt"]
        flow["updatedAt"] = job["updatedAt"]
        await self.emit("flow:updated", self.flow_json(job["flowId"]))

    async def complete(self, job_id: str, result: Any = None) -> None:
        await self.set_job(job_id, status="completed", result=result, finishedAt=self.now())

    async def run_flow(self, flow_id: str) -> None:
        """Complete every job of a flow, children before parents."""
        order = sorted(
            (j for j in self.jobs.values() if j["flowId"] == flow_id),
            key=lambda j: -j["depth"],
        )
        for job in order:
            await self.complete(job["jobId"], {"echo": job["name"]})

    async def drop_sockets(self) -> None:
        for ws in list(self.sockets):
            await ws.close()

    # --- flow creation ----------------------------------------------------------

    def _validate(self, body: Any) -> web.Response | None:
        stack: list[tuple[str, Any]] = [("", body)]
        while stack:
            path, node = stack.pop()
            prefix = f"{path}." if path else ""
            if not isinstance(node, dict) or not isinstance(node.get("name"), str):
                return error(422, "validation_error", "name is required", f"{prefix}name")
            if node.get("queueName") not in QUEUES:
                return error(422, "validation_error", "unknown queue", f"{prefix}queueName")
            for i, child in enumerate(node.get("children") or []):
                stack.append((f"{prefix}children[{i}]", child))
        return None

    def _add_jobs(self, body: dict[str, Any], flow_id: str) -> tuple[str, list[str]]:
        created: list[str] = []
        stack: list[tuple[dict[str, Any], str | None, int]] = [(body, None, 0)]
        root_id = ""
        while stack:
            node, parent, depth = stack.pop()
            job_id = (node.get("opts") or {}).get("jobId") or f"job-{next(self.ids)}"
            kids = node.get("children") or []
            now = self.now()
            self.jobs[job_id] = {
                "id": job_id,
                "jobId": job_id,
                "flowId": flow_id,
                "parentId": parent,
                "name": node["name"],
                "queueName": node["queueName"],
                "data": node.get("data"),
                "opts": {"attempts": 1, **(node.get("opts") or {})},
                "status": "waiting-children" if kids else "waiting",
                "result": None,
                "error": None,
                "children": [],
                "attemptsMade": 0,
                "progress": None,
                "createdAt": now,
                "updatedAt": now,
                "depth": depth,
                "logs": [],
            }
            if parent is not None:
                self.jobs[parent]["children"].append(job_id)
            else:
                root_id = job_id
            created.append(job_id)
            stack.extend((kid, job_id, depth + 1) for kid in reversed(kids))
        return root_id, created

    async def create(self, body: dict[str, Any]) -> str:
        flow_id = f"flow-{next(self.ids)}"
        root_id, _ = self._add_jobs(body, flow_id)
        now = self.now()
        self.flows[flow_id] = {
            "id": flow_id,
            "name": body["name"],
            "status": "active",
            "rootJobId": root_id,
            "createdAt": now,
            "updatedAt": now,
            "finishedAt": None,
            "stuck": None,
            "seq": len(self.flows) + 1,
        }
        await self.emit("flow:created", self.flow_json(flow_id))
        return flow_id

    # --- handlers ---------------------------------------------------------------

    @web.middleware
    async def auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return error(401, "unauthorized", "missing or wrong token")
        return await handler(request)

    async def post_flows(self, request: web.Request) -> web.Response:
        body = await request.json()
        problem = self._validate(body)
        if problem is not None:
            return problem
        flow_id = await self.create(body)
        return web.json_response(self.flow_json(flow_id), status=201)

    async def get_flows(self, request: web.Request) -> web.Response:
        limit = int(request.query.get("limit", "50"))
        cursor = request.query.get("cursor")
        status = request.query.get("status")
        search = request.query.get("search", "").lower()
        rows = sorted(self.flows.values(), key=lambda f: -f["seq"])
        rows = [
            f
            for f in rows
            if (cursor is None or f["seq"] < int(cursor))
            and (status is None or f["status"] == status)
            and search in f["name"].lower()
        ]
        page = rows[:limit]
        nxt = str(page[-1]["seq"]) if len(rows) > limit else None
        return web.json_response(
            {"items": [self.flow_json(f["id"]) for f in page], "nextCursor": nxt}
        )

    def _flow_or_404(self, request: web.Request) -> str:
        flow_id = request.match_info["id"]
        if flow_id not in self.flows:
            raise web.HTTPNotFound(
                text=json.dumps({"error": {"code": "not_found", "message": "no such flow"}}),
                content_type="application/json",
            )
        return flow_id

    async def get_flow(self, request: web.Request) -> web.Response:
        return web.json_response(self.flow_json(self._flow_or_404(request)))

    async def get_jobs(self, request: web.Request) -> web.Response:
        flow_id = self._flow_or_404(request)
        items = [j for j in self.jobs.values() if j["flowId"] == flow_id]
        return web.json_response({"items": items})

    async def get_tree(self, request: web.Request) -> web.Response:
        flow_id = self._flow_or_404(request)

        def node(job_id: str) -> dict[str, Any]:
            job = self.jobs[job_id]
            return {**job, "nodes": [node(c) for c in job["children"]]}

        return web.json_response(node(self.flows[flow_id]["rootJobId"]))

    async def get_job(self, request: web.Request) -> web.Response:
        job = self.jobs.get(request.match_info["id"])
        if job is None:
            return error(404, "not_found", "no such job")
        return web.json_response(job)

    async def retry_job(self, request: web.Request) -> web.Response:
        job_id = request.match_info["id"]
        job = self.jobs.get(job_id)
        if job is None:
            return error(404, "not_found", "no such job")
        if job["status"] != "failed":
            return error(409, "not_failed", "only failed jobs can be retried")
        await self.set_job(job_id, status="waiting", error=None)
        return web.json_response(job)

    async def cancel_flow(self, request: web.Request) -> web.Response:
        flow_id = self._flow_or_404(request)
        for job in [j for j in self.jobs.values() if j["flowId"] == flow_id]:
            if job["status"] not in ("completed", "failed", "cancelled"):
                await self.set_job(job["jobId"], status="cancelled")
        self.flows[flow_id]["status"] = "cancelled"
        await self.emit("flow:updated", self.flow_json(flow_id))
        return web.json_response(self.flow_json(flow_id))

    async def retry_flow(self, request: web.Request) -> web.Response:
        flow_id = self._flow_or_404(request)
        for job in [j for j in self.jobs.values() if j["flowId"] == flow_id]:
            if job["status"] == "failed":
                await self.set_job(job["jobId"], status="waiting", error=None)
        self.flows[flow_id]["status"] = "active"
        await self.emit("flow:updated", self.flow_json(flow_id))
        return web.json_response(self.flow_json(flow_id))

    async def queues(self, request: web.Request) -> web.Response:
        items = []
        for queue in QUEUES:
            counts = dict.fromkeys(STATES, 0)
            for job in self.jobs.values():
                if job["queueName"] == queue:
                    counts[job["status"]] += 1
            items.append({"name": queue, "counts": counts})
        return web.json_response({"items": items})

    async def get_workers(self, request: web.Request) -> web.Response:
        return web.json_response({"items": self.workers})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "version": "fake", "checks": {}})

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        self.ws_connects.append(request.query_string)
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        since = request.query.get("since")
        if since is not None:
            if int(since) + 1 < self.retained_from:
                await ws.send_str(json.dumps({"type": "resync", "seq": len(self.events)}))
            else:
                for event in self.events[int(since) :]:
                    await ws.send_str(json.dumps(event))
        self.sockets.add(ws)
        try:
            async for _ in ws:
                pass
        finally:
            self.sockets.discard(ws)
        return ws

    def app(self, *, websocket: bool = True) -> web.Application:
        """The server; ``websocket=False`` is an old server without ``/ws``."""
        app = web.Application(middlewares=[self.auth])
        app.router.add_post("/flows", self.post_flows)
        app.router.add_get("/flows", self.get_flows)
        app.router.add_get("/flows/{id}", self.get_flow)
        app.router.add_get("/flows/{id}/jobs", self.get_jobs)
        app.router.add_get("/flows/{id}/tree", self.get_tree)
        app.router.add_post("/flows/{id}/cancel", self.cancel_flow)
        app.router.add_post("/flows/{id}/retry", self.retry_flow)
        app.router.add_get("/jobs/{id}", self.get_job)
        app.router.add_post("/jobs/{id}/retry", self.retry_job)
        app.router.add_get("/queues", self.queues)
        app.router.add_get("/workers", self.get_workers)
        app.router.add_get("/health", self.health)
        if websocket:
            app.router.add_get("/ws", self.ws)

        async def close_sockets(_: web.Application) -> None:
            await asyncio.gather(*(ws.close() for ws in list(self.sockets)))

        app.on_shutdown.append(close_sockets)
        return app
