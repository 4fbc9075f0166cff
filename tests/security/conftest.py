"""End-to-end fixtures for the worker-safety tests (defined in ``tests.e2e.kit``)."""

from tests.e2e.kit import backend, settings, workers

__all__ = ["backend", "settings", "workers"]
