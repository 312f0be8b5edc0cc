"""The shared work queue of several daemons on one PostgreSQL (issue 17).

* `sources.polled_by`: which process (`host:pid`) polled the source last
  (both backends; plain ADD COLUMN, as in 0003).
* PostgreSQL only: Procrastinate's own schema (`procrastinate_jobs`,
  `procrastinate_workers`, its functions and triggers), exactly the
  `schema.sql` the installed Procrastinate ships. A later Procrastinate
  version that changes its schema ships SQL migration files; each becomes
  an Alembic revision here that runs that file.

Revision ID: 0017
Revises: 0004_feedback
Create Date: 2026-12-04 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0004_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PROCRASTINATE_TABLES = (
    "procrastinate_events",
    "procrastinate_periodic_defers",
    "procrastinate_jobs",
    "procrastinate_workers",
)


def upgrade() -> None:
    op.add_column("sources", sa.Column("polled_by", sa.String(length=200), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from procrastinate.schema import SchemaManager

    exists = bind.exec_driver_sql("SELECT to_regclass('procrastinate_jobs')").scalar()
    if exists is None:
        # Through the driver's cursor without parameters: the script's `%` are literal.
        cursor = bind.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            cursor.execute(SchemaManager.get_schema())
        finally:
            cursor.close()


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        for table in _PROCRASTINATE_TABLES:
            op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")
        op.execute(
            "DO $$ DECLARE f record; BEGIN FOR f IN SELECT oid::regprocedure AS sig "
            "FROM pg_proc WHERE proname LIKE 'procrastinate%' LOOP "
            "EXECUTE 'DROP FUNCTION IF EXISTS ' || f.sig || ' CASCADE'; END LOOP; END $$"
        )
        op.execute(
            "DO $$ DECLARE t record; BEGIN FOR t IN SELECT typname FROM pg_type "
            "WHERE typname LIKE 'procrastinate%' AND typtype IN ('e', 'c') LOOP "
            "EXECUTE 'DROP TYPE IF EXISTS ' || t.typname || ' CASCADE'; END LOOP; END $$"
        )
    op.drop_column("sources", "polled_by")
