"""Example task modules for demos and tests (``backend.examples.tasks``)."""
