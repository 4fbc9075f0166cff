"""Worker test fixtures (defined in ``workerkit``)."""

from tests.backend.worker.workerkit import client, events, start_worker

__all__ = ["client", "events", "start_worker"]
