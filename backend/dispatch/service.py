"""Everything that runs flows, started and stopped as one unit.

``Execution.start`` picks the transport (Redis streams, or taskiq's in-memory
broker when ``in_memory_broker`` is set), starts the dispatcher, the event
consumer and the monitor as background tasks, and optionally a worker inside
this process for the ``tasks`` modules (development and the desktop's
embedded mode). The in-process worker is an ordinary taskiq ``Receiver`` on
its own broker, fed by the same streams as standalone workers, so detaching
it is a matter of starting ``taskiq worker`` elsewhere: no code changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from taskiq import AsyncBroker
from taskiq.receiver import Receiver

from backend.clock import now_ms
from backend.dispatch.cache import MachineCache
from backend.dispatch.commands import FlowCommands
from backend.dispatch.consumer import EventConsumer
from backend.dispatch.dispatcher import Dispatcher
from backend.dispatch.monitor import Monitor
from backend.dispatch.registry import WorkerRegistry
from backend.dispatch.transport import MemoryTransport, RedisTransport, Transport
from backend.errors import ConfigError
from backend.settings import Settings
from backend.shutdown import ShutdownBudget
from backend.store.db import Database
from backend.worker import adopt_tasks, build_broker, hand_broker
from backend.worker.heartbeat import WorkerInfo
from backend.worker.protocol import WorkerEvent
from backend.worker.sinks import QueueSink

log = logging.getLogger(__name__)


def import_task_modules(modules: Sequence[str], own: AsyncBroker) -> AsyncBroker:
    """Import task modules with ``own`` handed to them as ``backend.worker.broker``.

    Returns the broker they registered on: ``own``, unless an earlier broker
    of this process already was ``backend.worker.broker``.
    """
    source = hand_broker(own)
    for module in modules:
        importlib.import_module(module)
    return source


class InProcessWorker:
    """A taskiq worker running inside the backend's event loop."""

    def __init__(self, broker: Any, receiver: Receiver | None) -> None:
        self.broker = broker
        self.receiver = receiver
        self._finish = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None

    @classmethod
    async def start(
        cls, settings: Settings, modules: Sequence[str], sink: Any = None
    ) -> InProcessWorker:
        broker = build_broker(settings, sink)
        broker.is_worker_process = True
        source = import_task_modules(modules, broker)
        if source is not broker:
            adopt_tasks(broker, source)
        if settings.in_memory_broker:
            await broker.startup()
            return cls(broker, None)
        executor = ThreadPoolExecutor(max_workers=4)
        receiver = Receiver(
            broker=broker,
            executor=executor,
            validate_params=True,
            max_async_tasks=100,
            ack_type=None,
            propagate_exceptions=True,
            wait_tasks_timeout=settings.shutdown_timeout,
        )
        worker = cls(broker, receiver)
        worker._executor = executor
        worker._task = asyncio.create_task(receiver.listen(worker._finish))
        return worker

    async def close(self, budget: ShutdownBudget) -> None:
        """Let running tasks finish within the budget, then stop the broker.

        The receiver gets the remaining budget to drain; past it, it is
        cancelled (insistently: see ``backend.shutdown``) and its running jobs
        stay unacknowledged for another worker. ``broker.shutdown`` talks to
        Redis, so it is bounded too.
        """
        self._finish.set()
        if self._task is not None:
            grace = budget.remaining()
            done, _pending = await asyncio.wait({self._task}, timeout=grace)
            if not done:
                log.warning("in-process worker did not stop in time", extra={"grace_s": grace})
                await budget.stop_tasks([self._task], what="in-process worker")
        with contextlib.suppress(Exception):
            await budget.step(self.broker.shutdown(), what="in-process broker")
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)


class Execution:
    """Dispatcher + consumer + monitor + commands, with their transport."""

    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        transport: Transport,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.settings = settings
        self.db = db
        self.transport = transport
        self.clock = clock
        self.cache = MachineCache()
        self.registry = WorkerRegistry(transport, settings.stall_timeout, clock)
        self.dispatcher = Dispatcher(
            db=db,
            transport=transport,
            registry=self.registry,
            cache=self.cache,
            settings=settings,
            clock=clock,
        )
        self.consumer = EventConsumer(
            db=db,
            transport=transport,
            cache=self.cache,
            batch=settings.event_batch,
            clock=clock,
            dispatcher=self.dispatcher,
        )
        self.monitor = Monitor(
            db=db,
            transport=transport,
            registry=self.registry,
            dispatcher=self.dispatcher,
            cache=self.cache,
            deliveries=self.consumer.deliveries,
            interval=settings.heartbeat_interval,
            clock=clock,
        )
        self.commands = FlowCommands(
            db=db,
            transport=transport,
            cache=self.cache,
            clock=clock,
        )
        self.worker: InProcessWorker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # Any commit (a new flow through the API included) may have made jobs ready.
        db.commit_listeners.append(self.dispatcher.poke)

    @property
    def mode(self) -> str:
        return self.transport.mode

    @classmethod
    async def start(cls, settings: Settings, db: Database) -> Execution:
        """Start execution; with ``settings.tasks``, also an in-process worker."""
        worker: InProcessWorker | None = None
        transport: Transport
        if settings.in_memory_broker and not settings.tasks:
            raise ConfigError(
                "the in-memory broker runs tasks only inside this process: "
                "name the task modules with --tasks (FLOWDESK_TASKS)"
            )
        if settings.in_memory_broker:
            events: asyncio.Queue[WorkerEvent] = asyncio.Queue()
            worker = await InProcessWorker.start(settings, settings.tasks, QueueSink(events))
            transport = MemoryTransport(
                worker.broker, events, _memory_worker_info(settings, worker)
            )
        else:
            transport = RedisTransport(settings.redis_url)
            await transport.start()
        execution = cls(settings=settings, db=db, transport=transport)
        if worker is None and settings.tasks:
            worker = await InProcessWorker.start(settings, settings.tasks)
        execution.worker = worker
        await execution.monitor.check()  # learn the Redis run id and live workers first
        execution._tasks = [
            asyncio.create_task(execution.dispatcher.run(), name="flowdesk-dispatcher"),
            asyncio.create_task(execution.consumer.run(), name="flowdesk-consumer"),
            asyncio.create_task(execution.monitor.run(), name="flowdesk-monitor"),
        ]
        log.info(
            "execution started",
            extra={"mode": execution.mode, "tasks": ",".join(settings.tasks)},
        )
        return execution

    async def close(self, budget: ShutdownBudget | None = None) -> None:
        """Stop the worker, then the loops, then the transport, all within ``budget``.

        Each loop is cancelled until it ends, never awaited on one cancel: a
        Redis call can swallow a cancellation (see ``backend.shutdown``).
        """
        budget = budget or ShutdownBudget(self.settings.shutdown_timeout)
        with contextlib.suppress(ValueError):
            self.db.commit_listeners.remove(self.dispatcher.poke)
        if self.worker is not None:
            await self.worker.close(budget)
        await budget.stop_tasks(self._tasks, what="execution")
        for task in self._tasks:
            if task.done() and not task.cancelled() and task.exception() is not None:
                log.error("execution task failed", exc_info=task.exception(),
                          extra={"task": task.get_name()})  # fmt: skip
        await budget.step(self.transport.close(), what="transport")


def _memory_worker_info(settings: Settings, worker: InProcessWorker) -> WorkerInfo:
    now = now_ms()
    tasks = tuple(sorted(worker.broker.get_all_tasks()))
    return WorkerInfo(
        id=worker.broker.runtime.worker_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        queues=tuple(settings.worker_queues),
        tasks=tasks,
        started_at=now,
        heartbeat_at=now,
    )
