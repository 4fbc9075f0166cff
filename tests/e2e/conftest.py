"""End-to-end fixtures (defined in ``kit``)."""

from tests.e2e.kit import backend, settings, workers

__all__ = ["backend", "settings", "workers"]
