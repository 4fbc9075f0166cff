"""The glue between the network client, the pure state and the Qt models.

Theory of operation. Websocket messages go through :class:`FlowdeskState`,
whose change records are handed to the models (``FlowListModel.apply``) and
re-emitted as Qt signals for the views (``jobChanged``, ``jobsLoaded``,
``alert``). User intents arrive as plain method calls and run as asyncio
tasks on the qasync loop, so no slot ever blocks on the network. Failures of
those tasks are reported through ``failed`` (shown in the status bar), never
raised into Qt: a client error (unreachable, refused, or an answer the wire
models refuse) as itself, anything else as an internal error.

Every server has ``/ws``, so live updates come only from the websocket; while
it is down the window shows the link as disconnected and, on reconnect,
catches up through ``?since=`` (or a full reload when told to resync).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any

from PySide6.QtCore import QObject, Signal

from backend.schemas import (
    BulkAction,
    EventMessage,
    FlowJobResponse,
    FlowPage,
    FlowResponse,
    FlowStatus,
    JobDetail,
)
from desktop.bulk import BulkOutcome, run_bulk
from desktop.client.errors import ClientError
from desktop.client.rest import JSON, RestClient
from desktop.client.ws import LinkState, LinkStatus, LiveClient
from desktop.gc_policy import freeze_long_lived
from desktop.models.flow_list import FlowListModel
from desktop.models.overview import QueueCountsModel, TaskStatsModel, WorkersModel
from desktop.models.schedules import ScheduleListModel
from desktop.state import (
    Change,
    FlowAdded,
    FlowChanged,
    FlowdeskState,
    FlowRemoved,
    JobChanged,
    JobFinished,
    JobsLoaded,
    flow_alert,
)
from desktop.throughput import Throughput
from desktop.timeline import millis

log = logging.getLogger(__name__)
PAGE_SIZE = 200
FREEZE_MIN_JOBS = 1000  # smaller flows are not worth a full collection at load
STATS_WINDOW = 3600  # seconds: the queues page's per-task figures cover the last hour


class Controller(QObject):
    jobsLoaded = Signal(str, str, object)  # flow id, root job id, {jobId: FlowJobResponse}
    jobChanged = Signal(object)  # FlowJobResponse of the shown flow
    jobDetailLoaded = Signal(object)  # JobDetail
    flowRemoved = Signal(str)
    flowUpdated = Signal(object)  # FlowResponse, added or changed
    linkChanged = Signal(object)  # LinkStatus
    workersChanged = Signal(int)
    alert = Signal(str, object)  # Alert value, FlowResponse
    failed = Signal(str)  # a human-readable error
    throughputChanged = Signal()
    bulkProgress = Signal(int, int)  # flows finished, total
    bulkFinished = Signal(object)  # BulkOutcome

    def __init__(self, url: str, token: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.url = url
        self.rest = RestClient(url, token)
        self.live = LiveClient(
            url,
            token,
            on_message=self._on_message,
            on_resync=self._on_resync,
            on_status=self._on_link_status,
        )
        self._link = LinkStatus(LinkState.DISCONNECTED)
        self.linkChanged.connect(self._remember_link)
        self._wanted_job: str | None = None  # the job whose details were asked for last
        self._tree_stamp: str | None = None  # the shown flow's updatedAt when its tree was read
        self.state = FlowdeskState()
        self.flows = FlowListModel(self)
        self.queues = QueueCountsModel(self)
        self.workers = WorkersModel(self)
        self.task_stats = TaskStatsModel(self)
        self.schedules = ScheduleListModel(self)
        self.throughput = Throughput()
        self.current_flow: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.flows.fetchRequested.connect(lambda cursor: self.spawn(self.fetch_more(cursor)))

    # --- task plumbing ---------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coro`` on the loop; report its failure instead of raising."""
        task = asyncio.get_event_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, ClientError):
            self.failed.emit(str(exc))
        elif exc is not None:
            log.error("background task failed", exc_info=exc)
            self.failed.emit(f"internal error: {exc!r}")

    async def start(self) -> None:
        self.live.start()
        await asyncio.gather(self.reload_flows(), self.refresh_overview())

    async def close(self) -> None:
        await self.live.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.rest.close()

    # --- loading ---------------------------------------------------------------

    async def reload_flows(self) -> None:
        page = await self._flow_page(None)
        self.state.load_flows(page.items)
        self.flows.reset_page(page.items, page.next_cursor)

    async def fetch_more(self, cursor: str) -> None:
        page = await self._flow_page(cursor)
        self.state.load_flows(page.items)
        self.flows.append_page(page.items, page.next_cursor)

    async def _flow_page(self, cursor: str | None) -> FlowPage:
        """A page of the flows the list's filter selects: the server filters, so
        a page holds only matching flows however far back they are."""
        return await self.rest.list_flows(
            limit=PAGE_SIZE,
            cursor=cursor,
            status=self.flows.status_filter,
            search=self.flows.search or None,
            created_after=millis(self.flows.created_since),
        )

    def set_filter(
        self, status: FlowStatus | None, search: str, created_since: str | None = None
    ) -> None:
        self.flows.set_filter(status, search, created_since)
        self.spawn(self.reload_flows())

    async def select_flow(self, flow_id: str) -> None:
        if self.current_flow is not None and self.current_flow != flow_id:
            self.state.untrack(self.current_flow)
        self.current_flow = flow_id
        self.state.track(flow_id)
        flow = self.state.flows.get(flow_id) or await self.rest.get_flow(flow_id)
        self._tree_stamp = flow.updated_at
        jobs = await self.rest.flow_tree(flow_id)
        if self.current_flow != flow_id:
            return  # the user moved on while we were loading
        if flow.id not in self.state.flows:
            self.state.load_flows([flow])
        self.show_jobs(flow_id, jobs)

    def show_jobs(self, flow_id: str, jobs: Sequence[FlowJobResponse]) -> None:
        """A snapshot of the selected flow's jobs: to the state, then to the views."""
        self._dispatch(self.state.load_jobs(flow_id, jobs))
        if len(jobs) >= FREEZE_MIN_JOBS:
            freeze_long_lived()  # see desktop.gc_policy: no full GC pass over these records

    async def load_job(self, job_id: str) -> JobDetail:
        """Load a job's details; only the latest request's answer is shown.

        Two quick clicks race on two connections, so an earlier job's answer
        may arrive last: it is dropped instead of replacing the newer one.
        """
        self._wanted_job = job_id
        detail = await self.rest.get_job(job_id)
        if self._wanted_job == job_id:
            self.jobDetailLoaded.emit(detail)
        return detail

    async def refresh_overview(self) -> None:
        queues, workers, stats = await asyncio.gather(
            self.rest.queues(), self.rest.workers(), self.rest.task_stats(STATS_WINDOW)
        )
        self.queues.set_rows(queues)
        self.workers.set_rows(workers)
        self.task_stats.set_rows(stats.items)
        self.workersChanged.emit(len(workers))

    async def reload_all(self) -> None:
        await self.reload_flows()
        if self.current_flow is not None:
            await self.select_flow(self.current_flow)
        await self.refresh_overview()

    # --- actions ---------------------------------------------------------------

    async def create_flow(self, request: Mapping[str, JSON]) -> FlowResponse:
        flow = await self.rest.create_flow(request)
        self._dispatch(self.state.load_flows([flow]))
        return flow

    async def retry_job(self, job_id: str) -> None:
        await self.rest.retry_job(job_id)

    async def cancel_flow(self, flow_id: str) -> None:
        await self.rest.cancel_flow(flow_id)

    async def retry_flow(self, flow_id: str) -> None:
        await self.rest.retry_flow(flow_id)

    async def bulk(self, action: BulkAction, flow_ids: Sequence[str]) -> BulkOutcome:
        """One action on many flows; progress and the outcome come back as signals."""
        try:
            outcome = await run_bulk(self.rest, action, flow_ids, self.bulkProgress.emit)
        except Exception as exc:  # a bug, not a refusal: still end the progress shown
            reason = f"internal error: {exc!r}"
            self.bulkFinished.emit(BulkOutcome(action, failed=dict.fromkeys(flow_ids, reason)))
            raise
        self.bulkFinished.emit(outcome)
        return outcome

    async def refresh_schedules(self) -> None:
        self.schedules.set_rows(await self.rest.schedules())

    async def create_schedule(self, request: Mapping[str, JSON]) -> None:
        await self.rest.create_schedule(request)
        await self.refresh_schedules()

    async def schedule_action(self, action: str, schedule_id: str) -> None:
        """``run``, ``pause``, ``resume`` or ``delete`` a schedule, then reload the list."""
        if action == "run":
            flow = await self.rest.run_schedule(schedule_id)
            self._dispatch(self.state.load_flows([flow]))
        elif action == "delete":
            await self.rest.delete_schedule(schedule_id)
        else:
            await self.rest.schedule_command(schedule_id, action)
        await self.refresh_schedules()

    async def set_queue_paused(self, name: str, paused: bool) -> None:
        await (self.rest.pause_queue(name) if paused else self.rest.resume_queue(name))
        await self.refresh_overview()

    # --- live ------------------------------------------------------------------

    def _remember_link(self, status: LinkStatus) -> None:
        self._link = status

    def _on_link_status(self, status: LinkStatus) -> None:
        self.linkChanged.emit(status)

    def _on_message(self, message: EventMessage) -> None:
        self._dispatch(self.state.apply(message))

    def _on_resync(self, reason: str) -> None:
        log.info("resync: %s", reason)
        self.spawn(self.reload_all())

    def _dispatch(self, changes: list[Change]) -> None:
        flow_changes: list[Change] = []
        finished = False
        for change in changes:
            if isinstance(change, FlowAdded | FlowChanged | FlowRemoved):
                flow_changes.append(change)
                if not isinstance(change, FlowRemoved):
                    self._maybe_alert(change)
                    self.flowUpdated.emit(change.flow)
                else:
                    self.flowRemoved.emit(change.flow_id)
            elif isinstance(change, JobChanged) and change.job.flow_id == self.current_flow:
                self.jobChanged.emit(change.job)
            elif isinstance(change, JobsLoaded) and change.flow_id == self.current_flow:
                flow = self.state.flows.get(change.flow_id)
                jobs = self.state.jobs.get(change.flow_id, {})
                root = flow.root_job_id if flow else self._root_of(jobs)
                self.jobsLoaded.emit(change.flow_id, root, dict(jobs))
            elif isinstance(change, JobFinished):
                self.throughput.record(change.status, change.finished_at)
                finished = True
        if flow_changes:
            self.flows.apply(flow_changes)
        if finished:
            self.throughputChanged.emit()

    @staticmethod
    def _root_of(jobs: Mapping[str, FlowJobResponse]) -> str:
        return next((j.job_id for j in jobs.values() if j.parent_id is None), "")

    def _maybe_alert(self, change: FlowAdded | FlowChanged) -> None:
        previous = change.previous if isinstance(change, FlowChanged) else None
        kind = flow_alert(previous, change.flow)
        if kind is not None:
            self.alert.emit(kind.value, change.flow)

    def now_minute(self) -> int:
        return int(time.time() // 60)

    @property
    def link(self) -> LinkStatus:
        """The websocket link as last shown."""
        return self._link
