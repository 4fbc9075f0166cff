"""Reusable widgets, one per module: they paint and forward intent, nothing more."""
