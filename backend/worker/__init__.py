"""The public worker API: the broker a worker runs, and the task context.

``broker`` is the one module-level object Flowdesk allows: ``taskiq worker
backend.worker:broker my_tasks`` needs something importable, and task modules
register on it with ``@broker.task(task_name="...")``.

Importing this package builds nothing and reads no settings: a backend's own
modules import ``backend.worker.*``, and an import must neither build a second
broker that ignores ``--config`` nor fail on a bad ``FLOWDESK_*`` variable.
``broker`` is made on first access (PEP 562 ``__getattr__``):

- a backend running task modules in-process hands its own broker, built from
  its own settings, with ``hand_broker`` before it imports them;
- otherwise (``taskiq worker``, a task module imported on its own) it is built
  from the environment (``FLOWDESK_REDIS_URL``, ``FLOWDESK_QUEUES``, ...).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from taskiq import AsyncBroker

from backend.settings import load_settings
from backend.worker.brokers import adopt_tasks, build_broker
from backend.worker.context import FlowContext

if TYPE_CHECKING:
    broker: AsyncBroker

_made: dict[str, AsyncBroker] = {}  # "broker" once made or handed over


def __getattr__(name: str) -> AsyncBroker:
    if name != "broker":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    if "broker" not in _made:
        _made["broker"] = build_broker(load_settings())
    return _made["broker"]


def hand_broker(own: AsyncBroker) -> AsyncBroker:
    """Make ``own`` the ``broker`` task modules register on, unless one exists.

    Returns the broker task modules register on: ``own``, or the one made
    earlier in this process (modules imported then stay registered on it, so
    the caller takes their tasks over with ``adopt_tasks``).
    """
    return _made.setdefault("broker", own)


__all__ = ["FlowContext", "adopt_tasks", "broker", "build_broker", "hand_broker"]
