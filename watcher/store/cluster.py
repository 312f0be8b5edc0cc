"""What the database says about the daemons sharing it (the shared work queue, issue 17).

The queue itself is Procrastinate's (its tables are created by migration
0017 on PostgreSQL); this module holds the few statements of our own around
it: the libpq address Procrastinate connects with, how many processes are
alive (Procrastinate's worker heartbeats), and which process polled a source
last (`sources.polled_by`).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import text, update
from sqlalchemy.exc import SQLAlchemyError

from watcher.store.db import Database
from watcher.store.models import SourceRow

QUEUE_PREFIX = "procrastinate_"
"""Every table, index and type of Procrastinate's schema starts with this."""


def ours(name: str | None, type_: str, _parents: object = None) -> bool:
    """Alembic's `include_name`: compare only our own objects with the models.

    Procrastinate's tables (migration 0017) are not in `watcher.store.models`;
    an autogenerate or `compare_metadata` would otherwise propose dropping them.
    """
    return not (name or "").startswith(QUEUE_PREFIX)


def is_postgresql(db: Database) -> bool:
    """True when the database is PostgreSQL (the only backend the shared queue runs on)."""
    return db.engine.dialect.name == "postgresql"


def libpq_url(db: Database) -> str:
    """The database's address as libpq reads it (`postgresql://...`), password included.

    For Procrastinate's own connection pool only; never log it.
    """
    return db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


def processes_alive(db: Database, *, within: float) -> int | None:
    """Daemon processes whose queue worker sent a heartbeat in the last `within` seconds.

    None when the database has no queue (SQLite) or cannot answer.
    """
    if not is_postgresql(db):
        return None
    try:
        with db.engine.connect() as conn:
            if conn.execute(text("SELECT to_regclass('procrastinate_workers')")).scalar() is None:
                return None
            value = conn.execute(
                text(
                    "SELECT count(*) FROM procrastinate_workers"
                    " WHERE last_heartbeat >= now() - make_interval(secs => :within)"
                ),
                {"within": within},
            ).scalar()
    except SQLAlchemyError:
        return None
    return int(value or 0)


def mark_polled_by(db: Database, names: Iterable[str], process: str) -> None:
    """Record `process` as the last poller of the sources `names` (display only)."""
    wanted = sorted(set(names))
    if not wanted:
        return
    with db.session() as session:
        session.execute(
            update(SourceRow).where(SourceRow.name.in_(wanted)).values(polled_by=process[:200])
        )
