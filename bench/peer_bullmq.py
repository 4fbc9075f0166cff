"""BullMQ side of bench_vs_bullmq: its pinned npm package, driven through a small harness.

The package is installed on first use into ``bench/peers/node_modules`` with
the machine's own node and npm (``npm ci`` against the committed lock file, so
every install is the same tree); only the manifest, the lock file and
``bullmq_flows.mjs`` are in git. One Node process (a Worker at concurrency
50 and a FlowProducer) lives for one measured run on its own Redis, so no
state carries over from run to run, as on the Flowdesk side.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench.peer_common import WARM_UP, Result, Shape, Tree, cpu_snapshot, cpu_used

PEERS = Path(__file__).resolve().parent / "peers"
HARNESS = PEERS / "bullmq_flows.mjs"


def installed_version() -> str | None:
    manifest = PEERS / "node_modules" / "bullmq" / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def ensure_installed() -> str:
    """Install the pinned BullMQ unless that exact version is already there; its version."""
    wanted = str(json.loads((PEERS / "package.json").read_text())["dependencies"]["bullmq"])
    if installed_version() != wanted:
        npm = shutil.which("npm")
        if npm is None or shutil.which("node") is None:
            raise SystemExit("bench_vs_bullmq needs node and npm on PATH to install BullMQ")
        print(f"installing bullmq {wanted} into {PEERS / 'node_modules'} ...", flush=True)
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=PEERS, check=True)
    return wanted


def node_version() -> str:
    node = shutil.which("node") or "node"
    return subprocess.run([node, "--version"], capture_output=True, text=True, check=True).stdout


class BullmqPeer:
    """One harness process on the Redis at ``port``; ``redis_pid`` is that server's."""

    def __init__(self, port: int, redis_pid: int, log: Path) -> None:
        self.port = port
        self.redis_pid = redis_pid
        self.log = log
        self.proc: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                shutil.which("node") or "node", str(HARNESS), str(self.port),
                cwd=PEERS, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=log,
            )  # fmt: skip
        await self._read()  # {"ready": true}
        await self._command(WARM_UP, timings=False)

    async def _read(self) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), 600)
        if not line:
            raise RuntimeError(f"the BullMQ harness exited; see {self.log}")
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def _command(self, flows: list[Tree], *, timings: bool) -> dict[str, Any]:
        assert self.proc is not None
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"flows": flows, "timings": timings}).encode() + b"\n")
        await self.proc.stdin.drain()
        return await self._read()

    async def run(self, shape: Shape, *, hops: bool) -> Result:
        assert self.proc is not None
        pids = {"node": self.proc.pid, "redis": self.redis_pid}
        before = cpu_snapshot(pids)
        answer = await self._command(shape.flows, timings=hops)
        cpu = cpu_used(before, cpu_snapshot(pids))
        if answer["values"] != shape.values or answer["jobs"] != shape.jobs:
            raise RuntimeError(f"BullMQ {shape.key}: roots returned {answer['values'][:5]}...")
        timings = [(str(i), p and str(p), s, f) for i, p, s, f in answer["timings"]]
        return Result(shape.jobs, (answer["end"] - answer["start"]) / 1000, cpu, timings)

    async def stop(self) -> None:
        if self.proc is None:
            return
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        try:
            await asyncio.wait_for(self.proc.wait(), 15)
        except TimeoutError:
            self.proc.kill()
            await self.proc.wait()
        self.proc = None
