"""Stopping with a bound: a shutdown that always ends, and says why when it cannot.

Why this module exists. On Python 3.11 a ``Task.cancel()`` can be lost.
``asyncio.wait_for`` returns its inner result when the outer cancellation
arrives after the inner future finished (CPython gh-86296, fixed in 3.12),
and redis-py sends every command through ``wait_for`` (its default
``socket_timeout`` is 5 s). A background loop cancelled while it writes a
Redis command (the monitor every heartbeat, the consumer's ``XREADGROUP``)
then carries on as if nothing happened, and whoever awaits it after one
``cancel()`` waits forever: ``backend serve`` never exited on SIGTERM.

So every shutdown step here is bounded, and cancellation is insisted upon:

* :func:`stop_tasks` cancels, then cancels again every
  :data:`RECANCEL_INTERVAL_S` until the tasks end or its time is up, and
  logs the ones still running (with their stacks) instead of waiting on;
* :func:`raise_if_cancelled` lets a loop notice a cancel a library swallowed
  (the task still counts the request in ``cancelling()``);
* :class:`ShutdownBudget` shares one deadline (``--shutdown-timeout`` from
  the start of shutdown) between the steps, each step getting at least
  :data:`STEP_FLOOR_S`, and records whether a step had to give up;
* :class:`Watchdog` is the last resort outside the event loop: if the
  process is still alive ``margin`` seconds after the budget ran out, it
  logs every asyncio task and thread stack and ends the process with
  :data:`EXIT_SHUTDOWN_OVERRUN`.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Iterable

log = logging.getLogger(__name__)

RECANCEL_INTERVAL_S = 0.1  # how often a cancel that did not take is repeated
STEP_FLOOR_S = 0.5  # the least time a step gets, even once the budget is spent
WATCHDOG_MARGIN_S = 5.0  # beyond the budget, before the watchdog ends the process
EXIT_SHUTDOWN_OVERRUN = 3  # exit status of a shutdown that exceeded its bound


def raise_if_cancelled() -> None:
    """Re-raise a cancellation that a library swallowed (see the module docstring).

    Loops call this before they wait again, so a lost cancel ends them at
    once instead of at the next re-cancel.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def describe_tasks(tasks: Iterable[asyncio.Task[object]]) -> str:
    """Each task's name, state and stack, as text for a log line."""
    out = io.StringIO()
    for task in tasks:
        out.write(f"--- {task!r}\n")
        with contextlib.suppress(Exception):  # a diagnostic must not raise
            task.print_stack(file=out)
    return out.getvalue()


def describe_threads() -> str:
    out = io.StringIO()
    names = {thread.ident: thread.name for thread in threading.enumerate()}
    for ident, frame in sys._current_frames().items():
        out.write(f"--- thread {names.get(ident, ident)}\n")
        traceback.print_stack(frame, file=out)
    return out.getvalue()


async def stop_tasks(tasks: Iterable[asyncio.Task[object]], within: float, *, what: str) -> bool:
    """Cancel ``tasks`` and wait at most ``within`` seconds for them to end.

    The cancel is repeated while a task runs on, because a library may have
    swallowed it. Returns True if every task ended; otherwise logs the
    stragglers with their stacks and leaves them behind.
    """
    pending = {task for task in tasks if not task.done()}
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while pending:
        for task in pending:
            task.cancel()
        left = deadline - loop.time()
        if left <= 0:
            break
        _done, pending = await asyncio.wait(pending, timeout=min(RECANCEL_INTERVAL_S, left))
    if not pending:
        return True
    log.error(
        "tasks did not stop",
        extra={"what": what, "timeout_s": within, "tasks": describe_tasks(pending)},
    )
    return False


class ShutdownBudget:
    """One deadline for the whole shutdown, shared by its steps.

    ``start()`` is called when shutdown begins (the application's first
    ``on_shutdown`` hook); before that, a step gets the whole timeout (a
    cleanup after a failed start-up, say).
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self.deadline: float | None = None
        self.overrun = False  # a step gave up: something was left running

    def start(self) -> None:
        if self.deadline is None:
            self.deadline = time.monotonic() + self.timeout

    def remaining(self) -> float:
        """Seconds the next step may take (never less than :data:`STEP_FLOOR_S`)."""
        if self.deadline is None:
            return max(self.timeout, STEP_FLOOR_S)
        return max(self.deadline - time.monotonic(), STEP_FLOOR_S)

    async def step(self, awaitable: Awaitable[object], *, what: str) -> bool:
        """Run one shutdown step within the budget; False (logged) if it ran out.

        The step runs as its own task, so one that ignores its cancellation
        is left behind (and named in the log) rather than waited for.
        """
        timeout = self.remaining()
        task = asyncio.ensure_future(awaitable)
        try:
            done, _pending = await asyncio.wait({task}, timeout=timeout)
        except asyncio.CancelledError:
            task.cancel()
            raise
        if task in done:
            task.result()  # a failing step fails its caller, as when awaited directly
            return True
        self.overrun = True
        log.error("shutdown step timed out", extra={"what": what, "timeout_s": timeout})
        await stop_tasks([task], STEP_FLOOR_S, what=what)
        return False

    async def stop_tasks(self, tasks: Iterable[asyncio.Task[object]], *, what: str) -> bool:
        stopped = await stop_tasks(tasks, self.remaining(), what=what)
        self.overrun = self.overrun or not stopped
        return stopped


class Watchdog:
    """Ends the process if shutdown outlasts its bound; logs what still runs.

    A thread, not a task: it must act when the event loop is the thing that
    is stuck (or already gone, with threads that keep the interpreter
    from exiting).
    """

    def __init__(self, bound: float, loop: asyncio.AbstractEventLoop) -> None:
        self.bound = bound
        self.loop = loop
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def arm(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._watch, name="flowdesk-shutdown-watchdog", daemon=True
            )
            self._thread.start()

    def disarm(self) -> None:
        self._done.set()

    def _watch(self) -> None:
        if self._done.wait(self.bound):
            return
        tasks: str = "(event loop closed)"
        if not self.loop.is_closed():
            # Read from another thread on purpose: the loop may be stuck. all_tasks
            # retries if the set changes under it; a failure only loses the dump.
            try:
                tasks = describe_tasks(asyncio.all_tasks(self.loop))
            except RuntimeError as exc:
                tasks = f"(could not list tasks: {exc})"
        log.critical(
            "shutdown exceeded its bound; exiting",
            extra={
                "bound_s": self.bound,
                "exit_status": EXIT_SHUTDOWN_OVERRUN,
                "tasks": tasks,
                "threads": describe_threads(),
            },
        )
        for handler in logging.getLogger().handlers:
            with contextlib.suppress(Exception):
                handler.flush()
        sys.stderr.flush()
        os._exit(EXIT_SHUTDOWN_OVERRUN)
