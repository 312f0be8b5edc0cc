"""Which database objects the ORM models describe, for schema comparisons.

Migrations create objects that `watcher.store.models` does not model:
Procrastinate's queue tables (migration 0017, `watcher.store.cluster`) and the
article search index with its FTS5 shadow tables (`watcher.store.search_index`).
Alembic's `compare_metadata` and autogenerate would propose dropping them, so
both pass `described` as `include_name`.
"""

from __future__ import annotations

from watcher.store.cluster import ours
from watcher.store.search_index import modelled


def described(name: str | None, type_: str, parents: object = None) -> bool:
    """Alembic's `include_name`: True for the objects the models describe."""
    return ours(name, type_, parents) and modelled(name, type_, parents)
