"""The public worker API: the broker a worker runs, and the task context.

``broker`` is the one module-level object Flowdesk allows: ``taskiq worker
backend.worker:broker my_tasks`` needs something importable, and task modules
register on it with ``@broker.task(task_name="...")``. It is built from the
same settings as the backend (``FLOWDESK_REDIS_URL``, ``FLOWDESK_QUEUES``, ...).
Anything else (tests, the backend's in-process worker) builds its own with
``build_broker(settings)`` and takes the tasks over with ``adopt_tasks``.
"""

from backend.settings import load_settings
from backend.worker.broker import adopt_tasks, build_broker
from backend.worker.context import FlowContext

broker = build_broker(load_settings())

__all__ = ["FlowContext", "adopt_tasks", "broker", "build_broker"]
