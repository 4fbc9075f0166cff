"""Fault soak: many flows through real processes while workers, the backend and Redis die.

    .venv/bin/python -m tests.soak.run --minutes 5      # the long form, by hand
    .venv/bin/pytest tests/soak -m soak                 # the short form (also in the suite)

Loopback only and bounded in time. It starts a private ``redis-server``, a
``backend serve`` process and several ``taskiq worker`` processes (each with
its own queues), submits flows of mixed shapes (``plan.py``) at a steady
pace, and meanwhile SIGKILLs a random worker every few seconds (restarting
it), SIGKILLs and restarts the backend several times, and restarts Redis
empty once. Then it lets every flow finish, stops the backend with SIGTERM,
and checks the outcome (``check.py``): final states, root values, no
completion recorded twice, no parent before its children, SQLite integrity,
and that the queue given a concurrency limit never ran more jobs at once
(except just after Redis lost its contents: see ``check.check_limit``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from backend.store.store import Store
from tests.conftest import RedisServer
from tests.soak.check import Verdict, check
from tests.soak.plan import FlowPlan, plan_flows
from tests.soak.procs import BackendProc, Timing, WorkerPool

WORKER_QUEUES = ("jobQueue,webhooks", "jobQueue", "webhooks", "jobQueue,webhooks")


@dataclass(frozen=True)
class SoakConfig:
    seconds: float = 60.0  # how long faults are injected; flows are submitted in the first 70%
    flows: int = 150
    workers: int = 3
    backend_kills: int = 3
    redis_restarts: int = 2  # Redis restarted empty, spread over the fault phase
    worker_kill_every: tuple[float, float] = (2.0, 5.0)
    drain_timeout: float = 180.0
    seed: int = 1
    limit: tuple[str, int] | None = ("webhooks", 3)  # a queue with a concurrency limit


@dataclass
class Report:
    config: SoakConfig
    verdict: Verdict
    faults: Counter[str] = field(default_factory=Counter)
    fault_times: list[tuple[str, float]] = field(default_factory=list)  # (fault, epoch s)
    submit_retries: int = 0
    lost_answers: int = 0  # POSTs whose answer died with the backend (found by jobId later)
    drained_in: float = 0.0
    child_restarts: int = 0  # worker children taskiq's process manager restarted (not killed here)
    stop_code: int | None = None
    stop_seconds: float = 0.0
    elapsed: float = 0.0

    @property
    def violations(self) -> list[str]:
        return self.verdict.violations

    def text(self) -> str:
        v = self.verdict
        lines = [
            f"soak: {v.flows} flows, {v.jobs} jobs, {v.runs} task runs "
            f"({v.reruns} jobs ran to success more than once), {v.stalls} stalled attempts",
            f"final states: {dict(v.statuses)}",
            "faults injected: " + ", ".join(f"{k}={n}" for k, n in sorted(self.faults.items())),
            f"submission retries: {self.submit_retries}, answers lost to a backend kill: "
            f"{self.lost_answers}, worker children restarted by taskiq: {self.child_restarts}",
            f"drained in {self.drained_in:.1f}s after the faults stopped; backend SIGTERM exit "
            f"code {self.stop_code} in {self.stop_seconds:.2f}s; total {self.elapsed:.0f}s",
            "fault times: " + ", ".join(f"{k}@{t:.3f}" for k, t in self.fault_times),
            f"limited queue: {v.limit_exempt} runs not counted against its limit (a repeat of "
            "an attempt already run, or started within 5 s of a Redis loss)",
            f"violations: {len(v.violations)}",
            *(f"  - {line}" for line in v.violations[:50]),
        ]
        return "\n".join(lines)


class Soak:
    def __init__(self, config: SoakConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self.rng = random.Random(config.seed)
        self.timing = Timing()
        self.redis = RedisServer(workdir)
        self.db = workdir / "flowdesk.db"
        self.runs_file = workdir / "runs.jsonl"
        self.backend: BackendProc | None = None
        self.pool: WorkerPool | None = None
        self.plans = plan_flows(config.flows, self.rng, prefix=f"soak{config.seed}")
        self.report = Report(config, Verdict())
        self.faulting = True
        self.down: set[str] = set()  # processes down on purpose right now
        self.token = ""

    # -- the client side -----------------------------------------------------------

    async def submit(self, session: aiohttp.ClientSession, plan: FlowPlan) -> None:
        assert self.backend is not None
        headers = {"Authorization": f"Bearer {self.token}"}
        for _attempt in range(600):
            try:
                async with session.post(
                    self.backend.url + "/flows", json=plan.tree, headers=headers
                ) as response:
                    body = await response.json(content_type=None)
                    if response.status == 201:
                        return
                    if response.status == 409 and body["error"]["code"] == "duplicate_job_id":
                        self.report.lost_answers += 1  # stored by an earlier try
                        return
                    if response.status < 500:
                        raise AssertionError(f"POST /flows {response.status}: {body}")
            except (TimeoutError, aiohttp.ClientError, json.JSONDecodeError):
                pass
            self.report.submit_retries += 1
            await asyncio.sleep(0.2)
        raise AssertionError(f"could not submit flow {plan.key}")

    async def submitter(self) -> None:
        pace = self.config.seconds * 0.7 / max(1, len(self.plans))
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for plan in self.plans:
                started = time.monotonic()
                await self.submit(session, plan)
                await asyncio.sleep(max(0.0, pace - (time.monotonic() - started)))

    # -- faults --------------------------------------------------------------------

    async def kill_workers(self) -> None:
        assert self.pool is not None
        low, high = self.config.worker_kill_every
        while self.faulting:
            await asyncio.sleep(self.rng.uniform(low, high))
            if not self.faulting:
                return
            slot = self.rng.randrange(self.config.workers)
            self.down.add(f"worker-{slot}")
            self.pool.kill(slot)
            self.report.faults["worker_sigkill"] += 1
            await asyncio.sleep(self.rng.uniform(0.0, 1.0))
            self.pool.start(slot, self.pool.queues[slot])
            self.down.discard(f"worker-{slot}")

    async def kill_backend(self) -> None:
        assert self.backend is not None
        kills = self.config.backend_kills
        for index in range(kills):
            at = self.config.seconds * (0.1 + 0.75 * (index + self.rng.random()) / kills)
            await asyncio.sleep(max(0.0, at - self.elapsed()))
            self.down.add("backend")
            self.backend.kill()
            self.report.faults["backend_sigkill"] += 1
            self.report.fault_times.append(("backend_sigkill", time.time()))
            await asyncio.sleep(self.rng.uniform(0.2, 1.5))
            self.backend.start()
            self.down.discard("backend")

    async def restart_redis(self) -> None:
        count = self.config.redis_restarts
        for n in range(count):
            # one restart in each equal slice of the fault phase, at a random point in it
            slot = self.config.seconds * self.rng.uniform(n + 0.2, n + 0.8) / count
            await asyncio.sleep(max(0.0, slot - self.elapsed()))
            await asyncio.to_thread(self.redis.restart_empty)
            self.report.faults["redis_restart_empty"] += 1
            self.report.fault_times.append(("redis_restart_empty", time.time()))

    async def watchdog(self) -> None:
        """A process that exits by itself (not killed here) is a finding: note it, restart it."""
        assert self.backend is not None
        assert self.pool is not None
        while True:
            await asyncio.sleep(0.5)
            proc = self.backend.proc
            if "backend" not in self.down and proc is not None and proc.poll() is not None:
                self.report.verdict.violations.append(
                    f"the backend exited by itself with code {proc.returncode} "
                    f"(log backend-{self.backend.starts}.log)"
                )
                self.backend.start()
            for slot, worker in list(self.pool.procs.items()):
                if f"worker-{slot}" not in self.down and worker.poll() is not None:
                    self.report.verdict.violations.append(
                        f"worker {slot} exited by itself with code {worker.returncode}"
                    )
                    self.pool.start(slot, self.pool.queues[slot])

    def elapsed(self) -> float:
        return time.monotonic() - self.t0

    # -- the whole run -------------------------------------------------------------

    async def wait_ready(self) -> None:
        assert self.backend is not None
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                try:
                    async with session.get(self.backend.url + "/health") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("the backend did not become ready")

    async def set_limit(self) -> None:
        if self.config.limit is None:
            return
        assert self.backend is not None
        queue, concurrency = self.config.limit
        async with (
            aiohttp.ClientSession() as session,
            session.patch(
                f"{self.backend.url}/queues/{queue}",
                json={"concurrency": concurrency},
                headers={"Authorization": f"Bearer {self.token}"},
            ) as response,
        ):
            assert response.status == 200, await response.text()

    def unfinished(self) -> int:
        conn = sqlite3.connect(self.db, timeout=10)
        try:
            keys = [plan.key for plan in self.plans]
            marks = ",".join("?" * len(keys))
            (stored,) = conn.execute(
                f"SELECT count(*) FROM flow_jobs WHERE job_id IN ({marks})",
                keys,
            ).fetchone()
            (active,) = conn.execute(
                "SELECT count(*) FROM flows WHERE status = 'active'"
            ).fetchone()
            return int(len(keys) - stored + active)
        finally:
            conn.close()

    async def drain(self) -> None:
        started = time.monotonic()
        while time.monotonic() - started < self.config.drain_timeout:
            if await asyncio.to_thread(self.unfinished) == 0:
                break
            await asyncio.sleep(0.5)
        self.report.drained_in = time.monotonic() - started

    async def run(self) -> Report:
        self.t0 = time.monotonic()
        self.redis.start()
        async with await Store.open(self.db) as store:
            _user, self.token = await store.create_user("soak")
        self.backend = BackendProc(self.db, self.redis.url, self.workdir, self.timing)
        self.pool = WorkerPool(self.redis.url, self.runs_file, self.workdir, self.timing)
        try:
            self.backend.start()
            await self.wait_ready()
            await self.set_limit()
            for slot in range(self.config.workers):
                self.pool.start(slot, WORKER_QUEUES[slot % len(WORKER_QUEUES)])
            watchdog = asyncio.create_task(self.watchdog())
            faults = [
                asyncio.create_task(self.kill_workers()),
                asyncio.create_task(self.kill_backend()),
                asyncio.create_task(self.restart_redis()),
            ]
            await self.submitter()
            await asyncio.sleep(max(0.0, self.config.seconds - self.elapsed()))
            self.faulting = False
            await asyncio.gather(*faults)
            await self.wait_ready()
            await self.drain()
            watchdog.cancel()
            stopping = time.monotonic()
            self.report.stop_code = self.backend.stop()
            self.report.stop_seconds = time.monotonic() - stopping
        finally:
            self.backend.kill()
            self.pool.stop_all()
            self.redis.stop()
        self.report.child_restarts = sum(
            log.read_text(errors="replace").count("is dead. Scheduling reload")
            for log in self.workdir.glob("worker-*.log")
        )
        losses = [at for fault, at in self.report.fault_times if fault == "redis_restart_empty"]
        verdict = await asyncio.to_thread(
            check, self.db, self.runs_file, self.plans, self.config.limit, losses
        )
        verdict.violations[:0] = self.report.verdict.violations
        if self.report.stop_code != 0:
            verdict.violations.append(f"backend SIGTERM exit code {self.report.stop_code}")
        self.report.verdict = verdict
        self.report.elapsed = self.elapsed()
        return self.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=2.0, help="fault phase length")
    parser.add_argument("--flows", type=int, default=None, help="default: 150 per minute")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--redis-restarts", type=int, default=None, help="default: 2 per minute of faults"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--workdir", type=Path, default=None, help="keep logs and the db here")
    args = parser.parse_args(argv)
    seconds = args.minutes * 60
    config = SoakConfig(
        seconds=seconds,
        flows=args.flows or int(150 * args.minutes),
        workers=args.workers,
        backend_kills=max(3, int(args.minutes * 2)),
        redis_restarts=args.redis_restarts or max(2, int(args.minutes * 2)),
        seed=args.seed,
    )
    print(f"soak: seed {config.seed}, {config.flows} flows, {seconds:.0f}s of faults", flush=True)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="flowdesk-soak-"))
    workdir.mkdir(parents=True, exist_ok=True)
    report = asyncio.run(Soak(config, workdir).run())
    print(report.text())
    print(f"logs and database: {workdir}")
    return 1 if report.violations else 0


if __name__ == "__main__":
    sys.exit(main())
