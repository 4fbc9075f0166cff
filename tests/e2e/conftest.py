"""End-to-end fixtures (defined in ``kit`` and ``writers``)."""

from tests.e2e.kit import backend, settings, workers
from tests.e2e.writers import writers

__all__ = ["backend", "settings", "workers", "writers"]
