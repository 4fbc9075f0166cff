"""Flowdesk against the real BullMQ, same shapes, same machine, same run.

Flowdesk promises BullMQ's flow model with a durable store; this measures
what that costs against BullMQ itself (pinned in ``bench/peers/package.json``,
installed on first use with the machine's node and npm), rather than against
a baseline of our own. Each side gets its own private Redis and fresh
processes for every measured run: Flowdesk as a user runs it (``backend
serve``, one ``taskiq worker`` process, flows in through ``POST /flows``);
BullMQ as one Node process with a Worker at concurrency 50 and a
FlowProducer. Leaves return 1, parents sum their children's values, and
every root's value is checked.

Shapes: one root with 2,000 leaves; 200 flows of a root and 10 leaves,
created concurrently; a chain of 200. Runs are interleaved (Flowdesk, BullMQ,
Flowdesk, ...) so load from elsewhere hits both sides alike; figures are
medians over the runs. Printed per shape: both rates and the ratio,
Flowdesk's CPU per job (backend, worker, its Redis) beside BullMQ's (Node,
its Redis), and on the chain the hop from a child's finish to its parent's
start (median, p90). If ``backend serve`` has ``--durability``, Flowdesk
runs in both modes.

    python bench/bench_vs_bullmq.py [--runs 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from bench.peer_bullmq import BullmqPeer, ensure_installed, node_version  # noqa: E402
from bench.peer_common import Result, Shape, median_p90, shapes  # noqa: E402
from bench.peer_flowdesk import FlowdeskPeer, durability_supported  # noqa: E402
from tests.conftest import RedisServer  # noqa: E402

BULLMQ = "BullMQ"
Results = dict[tuple[str, str], list[Result]]  # (shape key, side) -> runs


def flushall(server: RedisServer) -> None:
    client = redis.Redis(port=server.port)
    client.flushall()
    client.close()


async def measure(
    side: str, shape: Shape, servers: dict[str, RedisServer], workdir: Path
) -> Result:
    """One run of ``shape`` on fresh processes; ``side`` is BULLMQ or a durability mode."""
    server = servers[BULLMQ if side == BULLMQ else "flowdesk"]
    assert server.proc is not None
    flushall(server)
    peer: BullmqPeer | FlowdeskPeer
    if side == BULLMQ:
        peer = BullmqPeer(server.port, server.proc.pid, workdir / "bullmq.log")
    else:
        mode = None if side == "default" else side
        run_dir = workdir / f"fd-{time.monotonic_ns()}"
        peer = FlowdeskPeer(server.url, server.proc.pid, run_dir, mode)
    try:
        await peer.start()
        return await peer.run(shape, hops=shape.key == "deep")
    finally:
        await peer.stop()


def header(bullmq: str, sides: list[str]) -> list[str]:
    redis = subprocess.run(
        ["redis-server", "--version"], capture_output=True, text=True, check=False
    ).stdout
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    lines = [
        f"date {time.strftime('%Y-%m-%d %H:%M %Z')}; {platform.machine()}; "
        f"{os.cpu_count()} CPUs; load average at start {load}",
        f"Python {platform.python_version()}; node {node_version().strip()}; "
        f"BullMQ {bullmq}; {redis.split(' sha=')[0].strip()}",
    ]
    if sides == ["default"]:
        lines.append("backend serve has no --durability option: Flowdesk runs its default only")
    return lines


def rate_table(results: Results, table: list[Shape], sides: list[str]) -> list[str]:
    cols = [f"Flowdesk {side}" for side in sides] + [BULLMQ]
    cols += [f"ratio {side}" for side in sides]
    lines = ["| shape | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for shape in table:
        rates = {side: statistics.median(r.rate for r in results[shape.key, side])
                 for side in [*sides, BULLMQ]}  # fmt: skip
        cells = [f"{rates[side]:,.0f} jobs/s" for side in [*sides, BULLMQ]]
        cells += [f"{rates[side] / rates[BULLMQ]:.2f}" for side in sides]
        lines.append(f"| {shape.title} | " + " | ".join(cells) + " |")
    return lines


def cpu_table(results: Results, table: list[Shape], sides: list[str]) -> list[str]:
    lines = ["CPU per job, ms (median of runs, process and its children, whole run):"]
    for shape in table:
        for side in [*sides, BULLMQ]:
            runs = results[shape.key, side]
            name = BULLMQ if side == BULLMQ else f"Flowdesk {side}"
            parts = [f"{role} {statistics.median(r.cpu_per_job_ms(role) for r in runs):.3f}"
                     for role in runs[0].cpu]  # fmt: skip
            total = statistics.median(sum(r.cpu.values()) * 1000 / r.jobs for r in runs)
            lines.append(f"  {shape.key:5} {name:18} " + ", ".join(parts) + f"; total {total:.3f}")
    return lines


def hop_lines(results: Results, shape: Shape, sides: list[str]) -> list[str]:
    lines = [
        f"{shape.title}, all runs pooled, ms (timestamps have 1 ms resolution on both sides):",
        "  hop = parent started - child finished; job = finished - started (where BullMQ's",
        "  hop cost lands: its worker finishes a job and takes the next in one script)",
    ]
    for side in [*sides, BULLMQ]:
        runs = results[shape.key, side]
        hops = median_p90([gap for r in runs for gap in r.hops])
        spans = median_p90([span for r in runs for span in r.spans])
        name = BULLMQ if side == BULLMQ else f"Flowdesk {side}"
        lines.append(f"  {name:18} hop median {hops[0]:.1f}, p90 {hops[1]:.1f}; "
                     f"job median {spans[0]:.1f}, p90 {spans[1]:.1f}")  # fmt: skip
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per shape and side (median)")
    parser.add_argument("--quick", action="store_true", help="small shapes, while developing")
    args = parser.parse_args()
    bullmq = ensure_installed()
    sides = ["full", "normal"] if durability_supported() else ["default"]
    table = shapes(200, 20, 50) if args.quick else shapes(2000, 200, 200)
    lines = header(bullmq, sides)
    print("\n".join(lines), flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="flowdesk-vs-bullmq-"))
    servers = {name: RedisServer(workdir / name) for name in ("flowdesk", BULLMQ)}
    for server in servers.values():
        server.workdir.mkdir()
        server.start()
    results: Results = {}
    try:
        for run in range(args.runs):
            for shape in table:
                for side in [*sides, BULLMQ]:
                    result = await measure(side, shape, servers, workdir)
                    results.setdefault((shape.key, side), []).append(result)
                    print(f"run {run + 1} {shape.key:5} {side:8} {result.rate:8,.0f} jobs/s",
                          flush=True)  # fmt: skip
    finally:
        for server in servers.values():
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    print()
    print("\n".join(lines))
    print(f"median of {args.runs} runs, interleaved; rate = jobs / (root finished - first add)")
    print("\n".join(rate_table(results, table, sides)))
    print("\n".join(cpu_table(results, table, sides)))
    print("\n".join(hop_lines(results, table[-1], sides)))


if __name__ == "__main__":
    asyncio.run(main())
