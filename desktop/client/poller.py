"""REST polling: the stand-in for live updates when a server has no ``/ws``.

Older ``backend serve`` builds answer REST but not the websocket. Rather than
show a frozen window, the controller then re-reads what the window shows on
a timer. :class:`Poller` is only the timer: it calls one coroutine every
``interval`` seconds (never two at once: the next round starts ``interval``
after the previous one ended, so a slow server is not flooded) and reports
each round's outcome. What to read is the caller's business. No Qt here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from desktop.client.errors import ClientError

log = logging.getLogger(__name__)

PollRound = Callable[[], Awaitable[None]]
PollOutcome = Callable[[Exception | None], None]


class Poller:
    """Runs ``poll`` every ``interval`` seconds between :meth:`start` and :meth:`stop`."""

    def __init__(self, poll: PollRound, interval: float, on_outcome: PollOutcome) -> None:
        self.interval = interval
        self.rounds = 0  # completed rounds, successful or not
        self._poll = poll
        self._on_outcome = on_outcome
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="flowdesk-poll")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self) -> None:
        while True:
            outcome: Exception | None = None
            try:
                await self._poll()
            except ClientError as exc:
                outcome = exc
            except Exception as exc:  # a bug must not end polling for good
                log.exception("poll round failed")
                outcome = exc
            self.rounds += 1
            try:
                self._on_outcome(outcome)
            except Exception:
                log.exception("poll outcome handler failed")
            await asyncio.sleep(self.interval)
