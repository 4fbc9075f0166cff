"""Benchmark: the flow views with 5,000 and 20,000 jobs, offscreen.

Two shapes: a *mixed* tree (random, at most 8 children a parent, a few
hundred deep) and a *wide* flow (one root over 20,000 leaves of five task
names, which the tree shows as group nodes). For each it prints the layout
time (the pure function alone), the first paint time (building the scene
and rendering the view to a pixmap), and the worst event-loop stall while
1,000 job updates per second are applied for 10 seconds through the same
path the window uses (``FlowdeskState.apply`` then ``FlowTreeView.update_job``).
The stall is the longest gap between ticks of a 5 ms QTimer on the qasync
loop; the same measure on an idle loop, in the same run, is printed as the
baseline.

``--window`` runs the whole main window instead (tree with groups, jobs
table, timeline, details; as ``MainWindow`` wires them, with no server):
first paint of each view, the timeline's recomputation, the worst stall
under 1,000 updates/s with the window's own slot, and the memory the
window holds for the flow (resident set growth, from ``/proc/self/statm``).
For the wide flow the same figures with grouping off (every leaf a card)
are the baseline measured in the same run.

Under updates it also reports the garbage collector's passes of 5 ms or
more and the longest, by generation (``gc.callbacks``). ``--no-gc`` turns
the collector off while updates are applied, to compare: with the timeline
shown, the ~50-100 ms gaps are full (generation 2) passes over the objects
made since the flow was frozen at load (a new ``Bar`` per job at each
recomputation, the updated records), and they go with the collector off.

It also times the flow list model with 20,000 loaded flows: live inserts
of new flows (binary search for the row) and live updates of random rows
(row lookup through the model's index), per operation.

Run: ``QT_QPA_PLATFORM=offscreen python bench/bench_desktop.py [--seconds 10] [--window] [--no-gc]``
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Generator

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import QApplication, QWidget

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
from desktop.controller import Controller
from desktop.layout import layout
from desktop.models.flow_list import FlowListModel
from desktop.state import FlowAdded, FlowChanged, FlowdeskState
from desktop.timeline import LaneBy, compute_steps
from desktop.views.flow_tree import FlowTreeView
from desktop.views.main_window import MainWindow

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


def make_wide(n: int, seed: int = 1) -> dict[str, FlowJobResponse]:
    """One root over ``n - 1`` leaves of five task names (the tree shows five groups)."""
    rng = random.Random(seed)
    names = ["sleep", "echo", "http", "resize", "fail"]
    leaves = [f"j{i}" for i in range(1, n)]
    jobs = {
        "j0": FlowJobResponse(
            job_id="j0",
            flow_id="bench",
            parent_id=None,
            name="sum",
            queue_name="jobQueue",
            status=JobState.WAITING_CHILDREN,
            children=leaves,
            attempts_made=0,
            created_at=STAMP,
            updated_at=STAMP,
            opts={"attempts": 3},
        )
    }
    for jid in leaves:
        jobs[jid] = jobs["j0"].model_copy(
            update={
                "job_id": jid,
                "parent_id": "j0",
                "name": rng.choice(names),
                "status": JobState.WAITING,
                "children": [],
            }
        )
    print(f"  wide flow: 1 root over {n - 1} leaves of {len(names)} task names")
    return jobs


def flow_of(jobs: dict[str, FlowJobResponse]) -> FlowResponse:
    return FlowResponse(
        id="bench",
        name="bench",
        status=FlowStatus.ACTIVE,
        root_job_id="j0",
        created_at=STAMP,
        updated_at=STAMP,
        counts={JobState.WAITING.value: len(jobs)},
        total=len(jobs),
    )


def rss_mb() -> float:
    """This process's resident set, in MB (Linux)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


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


KEEP: list[QWidget] = []


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


class GcPasses:
    """The collector's passes of 5 ms or more, by generation, while recording."""

    def __init__(self) -> None:
        self.passes: list[tuple[int, float]] = []
        self._start = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        elif (ms := (time.perf_counter() - self._start) * 1000) >= 5:
            self.passes.append((info["generation"], ms))

    def __enter__(self) -> GcPasses:
        gc.callbacks.append(self._on_gc)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._on_gc)

    def summary(self) -> str:
        full = [ms for gen, ms in self.passes if gen == 2]
        young = [ms for gen, ms in self.passes if gen < 2]
        worst = f", longest {max(full):.0f} ms" if full else ""
        return f"gc passes >= 5 ms: {len(full)} full{worst}; {len(young)} young"


def longest_step(steps: Generator[None, None, object]) -> tuple[float, int]:
    """The longest single step of a stepped computation (ms), and how many there were."""
    longest, count = 0.0, 0
    while True:
        t0 = time.perf_counter()
        try:
            next(steps)
        except StopIteration:
            return max(longest, (time.perf_counter() - t0) * 1000), count + 1
        longest = max(longest, (time.perf_counter() - t0) * 1000)
        count += 1


def timed(action: Callable[[], object]) -> float:
    """Milliseconds ``action`` took."""
    t0 = time.perf_counter()
    action()
    return (time.perf_counter() - t0) * 1000


async def bench_window(
    label: str,
    jobs: dict[str, FlowJobResponse],
    args: argparse.Namespace,
    monitor: TickMonitor,
    *,
    threshold: int | None = None,
) -> None:
    """The main window on one flow: first paints, stalls under updates, memory."""
    print(f"\n== window: {label} ({len(jobs)} jobs) ==")
    scratch = tempfile.mkdtemp(prefix="bench-desktop-")
    controller = Controller("http://127.0.0.1:9", "bench")  # never started: no server
    settings = QSettings(os.path.join(scratch, "ui.ini"), QSettings.Format.IniFormat)
    window = MainWindow(controller, "bench", settings)
    window._overview_timer.stop()
    if threshold is not None:
        window.tree.set_grouping(threshold)
    window.resize(1280, 800)
    window.show()
    await asyncio.sleep(0.2)
    before = rss_mb()
    controller.current_flow = "bench"
    controller.state.track("bench")
    controller.state.load_flows([flow_of(jobs)])
    t0 = time.perf_counter()
    controller.show_jobs("bench", list(jobs.values()))  # as after GET /flows/{id}/tree
    built = time.perf_counter()
    window.grab()
    painted = time.perf_counter()
    print(
        f"  first paint, tree:  {(painted - t0) * 1000:8.1f} ms (views built "
        f"{(built - t0) * 1000:.1f} ms + render {(painted - built) * 1000:.1f} ms; "
        f"{len(window.tree.nodes)} cards, {len(window.tree.groups)} groups)"
    )
    window.show_view("jobs")
    print(f"  first paint, jobs:  {timed(window.grab):8.1f} ms")
    window.show_view("timeline")
    recompute = timed(window.timeline.recompute)
    print(f"  timeline recompute: {recompute:8.1f} ms; first paint {timed(window.grab):.1f} ms")
    longest, count = longest_step(
        compute_steps("j0", controller.state.jobs["bench"], LaneBy.DEPTH, 0)
    )
    print(f"  timeline in steps:  longest {longest:6.1f} ms of {count} (the loop runs between)")
    print(f"  memory held:        {rss_mb() - before:8.1f} MB (resident set growth)")
    window.show_view("tree")
    await asyncio.sleep(1.5)  # the tab's first paint is not what is measured
    idle_worst, idle_median = await monitor.measure(2.0)
    print(f"  idle, same window:  worst gap {idle_worst:6.1f} ms, median {idle_median:.1f} ms")
    rng = random.Random(2)
    seq = 0
    for view in ("tree", "timeline"):
        window.show_view(view)
        await asyncio.sleep(1.5)
        applied = 0

        async def feed() -> None:
            nonlocal applied, seq
            start = time.perf_counter()
            while (now := time.perf_counter() - start) < args.seconds:
                for _ in range(int(now * args.rate) - applied):
                    seq += 1
                    controller._on_message(update_message(jobs, seq, rng))
                    applied += 1
                await asyncio.sleep(0.01)

        t0 = time.perf_counter()
        if args.no_gc:
            gc.disable()
        with GcPasses() as passes:
            (worst, median), _ = await asyncio.gather(monitor.measure(args.seconds), feed())
        gc.enable()
        elapsed = time.perf_counter() - t0
        print(
            f"  updates, {view:8s}:  worst gap {worst:6.1f} ms, median {median:.1f} ms "
            f"({applied / elapsed:.0f} updates/s; {passes.summary()})"
        )
    window.hide()
    KEEP.append(window)


async def main(args: argparse.Namespace) -> None:
    monitor = TickMonitor()
    print(f"updates: {args.rate}/s for {args.seconds:.0f} s; tick timer 5 ms")
    baseline, median = await monitor.measure(2.0)
    print(f"baseline (empty app, idle loop): worst gap {baseline:.1f} ms, median {median:.1f} ms")
    if args.window:
        await bench_window("wide flow, grouped", make_wide(20_000), args, monitor)
        await bench_window(
            "wide flow, grouping off (baseline)",
            make_wide(20_000),
            args,
            monitor,
            threshold=1_000_000,
        )
        await bench_window("mixed tree", make_tree(5_000), args, monitor)
        return
    for n in args.sizes:
        await bench_size(n, args.seconds, args.rate, monitor)
    bench_flow_list()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--window", action="store_true", help="the whole window, wide and mixed")
    parser.add_argument(
        "--no-gc", action="store_true", help="the collector off while updates are applied"
    )
    arguments = parser.parse_args()
    protect_none()
    app = QApplication([])
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)
    loop.run_until_complete(main(arguments))
    sys.stdout.flush()
    os._exit(0)  # skip tearing down 25,000 graphics items at interpreter exit
