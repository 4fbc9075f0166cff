"""Benchmark: the flow tree view with 5,000 and 20,000 jobs, offscreen.

For each size it prints the layout time (the pure function alone), the
first paint time (building the scene and rendering the view to a pixmap),
and the worst event-loop stall while 1,000 job updates per second are
applied for 10 seconds through the same path the window uses
(``FlowdeskState.apply`` then ``FlowTreeView.update_job``). The stall is the
longest gap between ticks of a 5 ms QTimer on the qasync loop; the same
measure on an idle loop, in the same run, is printed as the baseline.

It also times the flow list model with 20,000 loaded flows: live inserts
of new flows (binary search for the row) and live updates of random rows
(row lookup through the model's index), per operation.

Run: ``QT_QPA_PLATFORM=offscreen python bench/bench_desktop.py [--seconds 10]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from backend.schemas import (
    EventMessage,
    FlowJobResponse,
    FlowJobUpdatedMessage,
    FlowResponse,
    FlowStatus,
    JobState,
    ResyncMessage,
    SubscriptionMessage,
    WsErrorMessage,
)
from desktop.client.wire import parse_frame
from desktop.compat import protect_none
from desktop.layout import layout
from desktop.models.flow_list import FlowListModel
from desktop.state import FlowAdded, FlowChanged, FlowdeskState
from desktop.views.flow_tree import FlowTreeView

STAMP = "2026-01-01T00:00:00.000+00:00"


def make_tree(n: int, seed: int = 1) -> dict[str, FlowJobResponse]:
    """A random tree of ``n`` jobs, at most 8 children each, a few hundred deep."""
    rng = random.Random(seed)
    kids: dict[int, list[int]] = {0: []}
    parent = {0: -1}
    depth = {0: 0}
    for i in range(1, n):
        p = i - 1 if rng.random() < 0.01 else rng.randrange(max(0, i - 50), i)
        while len(kids[p]) >= 8:
            p = rng.randrange(0, i)
        kids[p].append(i)
        kids[i] = []
        parent[i] = p
        depth[i] = depth[p] + 1
    jobs = {}
    for i in range(n):
        jid = f"j{i}"
        jobs[jid] = FlowJobResponse(
            job_id=jid,
            flow_id="bench",
            parent_id=None if i == 0 else f"j{parent[i]}",
            name=rng.choice(["echo", "sleep", "sum", "fail", "http"]),
            queue_name=rng.choice(["jobQueue", "webhooks", "schedQueue", "flowQueue"]),
            status=JobState.WAITING_CHILDREN if kids[i] else JobState.WAITING,
            children=[f"j{c}" for c in kids[i]],
            attempts_made=0,
            created_at=STAMP,
            updated_at=STAMP,
            opts={"attempts": 3},
        )
    print(f"  tree: {n} jobs, depth {max(depth.values())}")
    return jobs


class TickMonitor:
    """Records the longest gap between ticks of a 5 ms timer."""

    def __init__(self) -> None:
        self.timer = QTimer(interval=5)
        self.timer.timeout.connect(self._tick)
        self.last = 0.0
        self.gaps: list[float] = []

    def _tick(self) -> None:
        now = time.perf_counter()
        if self.last:
            self.gaps.append(now - self.last)
        self.last = now

    async def measure(self, seconds: float) -> tuple[float, float]:
        self.gaps, self.last = [], 0.0
        self.timer.start()
        await asyncio.sleep(seconds)
        self.timer.stop()
        return max(self.gaps) * 1000, statistics.median(self.gaps) * 1000


def update_message(jobs: dict[str, FlowJobResponse], seq: int, rng: random.Random) -> EventMessage:
    """One ``flow:job:updated`` frame as the server sends it, parsed as the window parses it."""
    job = jobs[f"j{rng.randrange(len(jobs))}"]
    status = rng.choice([JobState.ACTIVE, JobState.COMPLETED, JobState.FAILED])
    stamp = (
        f"2026-01-01T{seq // 3_600_000 % 24:02d}:{seq // 60_000 % 60:02d}:"
        f"{seq // 1000 % 60:02d}.{seq % 1000:03d}+00:00"
    )
    data = job.model_copy(
        update={
            "status": status,
            "attempts_made": 1,
            "updated_at": stamp,
            "progress": rng.randrange(100),
            "result": {"ok": True} if status is JobState.COMPLETED else None,
        }
    )
    frame = FlowJobUpdatedMessage(type="flow:job:updated", seq=seq, data=data)
    [message] = parse_frame(frame.model_dump_json(by_alias=True))
    assert not isinstance(message, ResyncMessage | SubscriptionMessage | WsErrorMessage)
    return message


async def bench_size(n: int, seconds: float, rate: int, monitor: TickMonitor) -> None:
    print(f"\n== {n} jobs ==")
    jobs = make_tree(n)
    t0 = time.perf_counter()
    result = layout("j0", lambda j: jobs[j].children)
    print(
        f"  layout:            {(time.perf_counter() - t0) * 1000:8.1f} ms "
        f"({result.width:.0f} x {result.height:.0f} scene units)"
    )
    view = FlowTreeView()
    view.resize(1400, 900)
    view.show()
    t0 = time.perf_counter()
    view.show_jobs("j0", jobs)
    built = time.perf_counter()
    view.viewport().grab()
    painted = time.perf_counter()
    print(
        f"  first paint:       {(painted - t0) * 1000:8.1f} ms "
        f"(scene {(built - t0) * 1000:.1f} ms + render {(painted - built) * 1000:.1f} ms, "
        "fitted)"
    )
    view.resetTransform()  # zoomed in, as an operator reads cards
    view.centerOn(view.nodes["j0"])
    t0 = time.perf_counter()
    view.viewport().grab()
    print(f"  paint at 100 %:    {(time.perf_counter() - t0) * 1000:8.1f} ms")
    idle_worst, idle_median = await monitor.measure(2.0)
    print(f"  idle loop:         worst gap {idle_worst:6.1f} ms, median {idle_median:.1f} ms")
    state = FlowdeskState()
    state.track("bench")
    state.load_jobs("bench", jobs.values())
    rng = random.Random(2)
    applied = 0

    async def feed() -> None:
        nonlocal applied
        start = time.perf_counter()
        seq = 0
        while (now := time.perf_counter() - start) < seconds:
            # paced by the clock, so sleep overheads do not lower the rate
            for _ in range(int(now * rate) - applied):
                seq += 1
                for change in state.apply(update_message(jobs, seq, rng)):
                    job = getattr(change, "job", None)
                    if job is not None:
                        view.update_job(job)
                applied += 1
            await asyncio.sleep(0.01)

    t0 = time.perf_counter()
    (worst, median), _ = await asyncio.gather(monitor.measure(seconds), feed())
    elapsed = time.perf_counter() - t0
    print(
        f"  under updates:     worst gap {worst:6.1f} ms, median {median:.1f} ms "
        f"({applied} updates in {elapsed:.1f} s = {applied / elapsed:.0f}/s)"
    )
    view.close()
    KEEP.append(view)  # deleting big scenes mid-loop is not what is measured


KEEP: list[FlowTreeView] = []


def flow_info(i: int, updated: int = 0) -> FlowResponse:
    created = f"2026-01-01T{i // 3_600_000 % 24:02d}:{i // 60_000 % 60:02d}:{i // 1000 % 60:02d}"
    return FlowResponse(
        id=f"f{i}",
        name=f"flow {i}",
        status=FlowStatus.ACTIVE,
        root_job_id=f"r{i}",
        created_at=f"{created}.{i % 1000:03d}+00:00",
        updated_at=f"2026-01-02T00:00:00.{updated:03d}+00:00",
        counts={JobState.COMPLETED.value: updated % 5, JobState.WAITING.value: 5 - updated % 5},
        total=5,
    )


def bench_flow_list(loaded: int = 20_000, ops: int = 1_000) -> None:
    print(f"\n== flow list: {loaded} flows loaded ==")
    model = FlowListModel()
    model.reset_page([flow_info(i) for i in range(loaded, 0, -1)], None)
    t0 = time.perf_counter()
    for i in range(loaded + 1, loaded + 1 + ops):
        model.apply([FlowAdded(flow_info(i))])
    inserts = time.perf_counter() - t0
    rng = random.Random(3)
    t0 = time.perf_counter()
    for k in range(ops):
        i = rng.randrange(1, loaded)
        model.apply([FlowChanged(flow_info(i, k % 999 + 1), flow_info(i))])
    updates = time.perf_counter() - t0
    print(f"  live insert:       {inserts / ops * 1e6:8.1f} us per new flow")
    print(f"  live update:       {updates / ops * 1e6:8.1f} us per changed flow (after inserts)")


async def main(args: argparse.Namespace) -> None:
    monitor = TickMonitor()
    print(f"updates: {args.rate}/s for {args.seconds:.0f} s; tick timer 5 ms")
    baseline, median = await monitor.measure(2.0)
    print(f"baseline (empty app, idle loop): worst gap {baseline:.1f} ms, median {median:.1f} ms")
    for n in args.sizes:
        await bench_size(n, args.seconds, args.rate, monitor)
    bench_flow_list()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    arguments = parser.parse_args()
    protect_none()
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(arguments))
    sys.stdout.flush()
    os._exit(0)  # skip tearing down 25,000 graphics items at interpreter exit
