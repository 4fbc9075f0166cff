"""What queue controls cost: flow throughput with and without them, same run.

A queue with controls is dispatched on the claim path (a write transaction
that counts the queue's load, marks the jobs sent, then sends), instead of
the outbox's send-then-mark path. Here the limits never bind (concurrency
1,000,000; a rate of 1,000,000 per second), so the difference is the cost
of checking them. Prints jobs per second (median of the repeats) and the
ratio to the run without controls.

    python bench/bench_limits.py [--repeats 3] [--wide 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backend.domain.limits import RateLimit  # noqa: E402
from backend.store.store import Store  # noqa: E402
from bench.bench_flows import bench_flowdesk, private_redis, shapes  # noqa: E402

Prepare = Callable[[Store], Awaitable[object]] | None


def controls(**changes: object) -> Prepare:
    async def prepare(store: Store) -> None:
        await store.update_queue("jobQueue", lambda c: dataclasses.replace(c, **changes))  # type: ignore[arg-type]

    return prepare


VARIANTS: dict[str, Prepare] = {
    "no controls": None,
    "concurrency 1e6": controls(concurrency=1_000_000),
    "rate 1e6/s": controls(rate_limit=RateLimit(1_000_000, 1000)),
}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--wide", type=int, default=2000)
    args = parser.parse_args()
    all_shapes = shapes(args.wide)
    picked = {name: roots for name, roots in all_shapes.items() if not name.startswith("chain")}
    with private_redis() as (url, workdir):
        results: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeats):
            for shape, roots in picked.items():
                for variant, prepare in VARIANTS.items():
                    rate, _jobs = await bench_flowdesk(url, roots, workdir, prepare)
                    results.setdefault((shape, variant), []).append(rate)
        print(f"{'shape':28} {'variant':18} {'jobs/s':>8} {'ratio':>6}")
        for shape in picked:
            base = statistics.median(results[(shape, "no controls")])
            for variant in VARIANTS:
                rate = statistics.median(results[(shape, variant)])
                print(f"{shape:28} {variant:18} {rate:>8.0f} {rate / base:>6.2f}")
        print(f"(median of {args.repeats} runs each, all in this run)")


if __name__ == "__main__":
    asyncio.run(main())
