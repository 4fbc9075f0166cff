"""Execution adapters: the outbox dispatcher, the worker-event consumer, the
monitor of workers and Redis, and the operator commands, wired together by
``backend.dispatch.service``."""
