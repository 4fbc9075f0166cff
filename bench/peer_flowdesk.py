"""Flowdesk side of bench_vs_bullmq, run the way a user runs it.

``backend serve`` and ``taskiq worker backend.worker:broker bench.peer_tasks
--workers 1`` are separate processes on a fresh SQLite file and the private
Redis given; the user comes from ``backend user create`` (its token is the
last line); flows go in through ``POST /flows`` and come out through REST.

A run ends at the latest flow's ``finishedAt``, the backend's own clock when
it recorded the root's completion (BullMQ's side uses the root's
``finishedOn`` the same way), so how often the bench polls changes neither
rate; it polls ``GET /flows?status=active&limit=1`` every 250 ms. Each poll
costs the backend about 3 ms of CPU (measured on the 2-core machine), inside
its CPU figures: about 0.006 ms per job on a wide flow at 2,500 jobs/s.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import aiohttp

from bench.bench_flows import ROOT, spawn_worker, stop
from bench.peer_common import WARM_UP, Result, Shape, Timing, Tree, cpu_snapshot, cpu_used
from tests.conftest import free_port

TASKS = "bench.peer_tasks"
POLL = 0.25


def durability_supported() -> bool:
    """Whether this backend has the ``--durability`` setting (being added for issue 11)."""
    help_text = subprocess.run(
        [sys.executable, "-m", "backend", "serve", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return "--durability" in help_text


def epoch_ms(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp() * 1000


class FlowdeskPeer:
    """A backend and one worker process over a fresh database in ``workdir``."""

    def __init__(self, redis_url: str, redis_pid: int, workdir: Path, durability: str | None):
        self.redis_url = redis_url
        self.redis_pid = redis_pid
        self.workdir = workdir
        self.durability = durability
        self.base = f"http://127.0.0.1:{free_port()}"
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.http: aiohttp.ClientSession | None = None

    def _backend(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "backend", *args, "--db", str(self.workdir / "fd.db")]

    async def start(self) -> None:
        token = self._spawn()
        self.http = aiohttp.ClientSession(self.base, headers={"Authorization": f"Bearer {token}"})
        await self._ready()
        await self._create(WARM_UP)
        await self._wait_done()

    def _spawn(self) -> str:
        """Create the user, start both processes; the user's token."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        created = subprocess.run(
            self._backend("user", "create", "bench"),
            cwd=ROOT, capture_output=True, text=True, check=True,
        )  # fmt: skip
        token = created.stdout.strip().splitlines()[-1]
        serve = self._backend("serve", "--redis-url", self.redis_url,
                              "--port", self.base.rsplit(":", 1)[1])  # fmt: skip
        if self.durability is not None:
            serve += ["--durability", self.durability]
        with (self.workdir / "serve.log").open("wb") as log:
            self.procs["backend"] = subprocess.Popen(
                serve, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs["worker"] = spawn_worker(
            self.redis_url, "backend.worker:broker", TASKS, self.workdir / "worker.log"
        )
        return token

    async def _get(self, path: str) -> Any:
        assert self.http is not None
        async with self.http.get(path) as response:
            response.raise_for_status()
            return await response.json()

    async def _ready(self, within: float = 60) -> None:
        deadline = time.monotonic() + within
        while True:
            for role, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"Flowdesk's {role} exited; see {self.workdir}")
            try:
                workers = (await self._get("/workers"))["items"]
                if any({"leaf", "sum"} <= set(worker["tasks"]) for worker in workers):
                    return
            except aiohttp.ClientError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"Flowdesk did not get ready; see {self.workdir}")
            await asyncio.sleep(0.1)

    async def _create(self, flows: list[Tree]) -> list[str]:
        assert self.http is not None
        http = self.http

        async def post(tree: Tree) -> str:
            async with http.post("/flows", json=tree) as response:
                if response.status != 201:
                    raise RuntimeError(f"POST /flows: {response.status} {await response.text()}")
                return str((await response.json())["id"])

        return list(await asyncio.gather(*(post(tree) for tree in flows)))

    async def _wait_done(self, within: float = 600) -> None:
        deadline = time.monotonic() + within
        while (await self._get("/flows?status=active&limit=1"))["items"]:
            if time.monotonic() > deadline:
                raise RuntimeError("Flowdesk flows still active")
            await asyncio.sleep(POLL)

    async def run(self, shape: Shape, *, hops: bool) -> Result:
        pids = {role: proc.pid for role, proc in self.procs.items()} | {"redis": self.redis_pid}
        before = cpu_snapshot(pids)
        start = time.time() * 1000
        flow_ids = await self._create(shape.flows)
        await self._wait_done()
        cpu = cpu_used(before, cpu_snapshot(pids))
        flows = await asyncio.gather(*(self._get(f"/flows/{flow_id}") for flow_id in flow_ids))
        roots = await asyncio.gather(*(self._get(f"/jobs/{flow['rootJobId']}") for flow in flows))
        values = [root["result"] for root in roots]
        if {flow["status"] for flow in flows} != {"completed"} or values != shape.values:
            raise RuntimeError(f"Flowdesk {shape.key}: roots returned {values[:5]}...")
        end = max(epoch_ms(flow["finishedAt"]) for flow in flows)
        timings: list[Timing] = []
        for flow_id in flow_ids if hops else ():
            jobs = (await self._get(f"/flows/{flow_id}/jobs"))["items"]
            timings += [(job["jobId"], job["parentId"], epoch_ms(job["startedAt"]),
                         epoch_ms(job["finishedAt"])) for job in jobs]  # fmt: skip
        return Result(shape.jobs, (end - start) / 1000, cpu, timings)

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        for proc in self.procs.values():
            stop(proc)
        self.procs = {}
