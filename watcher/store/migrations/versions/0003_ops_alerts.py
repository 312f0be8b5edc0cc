"""Ops alerts: failure and empty-document streaks on `sources`, `ops` route messages.

Plain ADD/DROP COLUMN on both backends, no batch mode: rebuilding `sources`
on SQLite would drop a table that `feed_entries` and `articles` point at
(its implicit DELETE would cascade). SQLite has DROP COLUMN since 3.35.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 09:00:00.000000
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SOURCES = ("failing_since", "unhealthy_at", "empty_polls", "empty_since", "empty_at")
_ROUTE_MESSAGES = ("source_id", "reason", "outcome", "detail")


def upgrade() -> None:
    def moment(name: str) -> sa.Column[datetime]:
        return sa.Column(name, sa.DateTime(timezone=True), nullable=True)

    op.add_column("sources", moment("failing_since"))
    op.add_column("sources", moment("unhealthy_at"))
    op.add_column(
        "sources", sa.Column("empty_polls", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("sources", moment("empty_since"))
    op.add_column("sources", moment("empty_at"))
    op.add_column("route_messages", sa.Column("source_id", sa.Integer(), nullable=True))
    op.add_column("route_messages", sa.Column("reason", sa.String(length=20), nullable=True))
    op.add_column("route_messages", sa.Column("outcome", sa.String(length=40), nullable=True))
    op.add_column("route_messages", sa.Column("detail", sa.Text(), nullable=True))


def downgrade() -> None:
    for name in reversed(_ROUTE_MESSAGES):
        op.drop_column("route_messages", name)
    for name in reversed(_SOURCES):
        op.drop_column("sources", name)
