"""The SQLite adapter: the single source of truth.

The interface it implements (``Database``, ``Store``) is specified in
``docs/architecture.md``, section "Store interface", which also lists the
working rules for everyone editing this tree at once.
"""
