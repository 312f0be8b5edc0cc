"""Digests and alert bursts: `route_messages`, and `alerts.held_at` / `alerts.digest_id`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 09:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "route_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("rule_id", sa.String(length=100), nullable=True),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("channel", sa.String(length=200), nullable=True),
        sa.Column("ts", sa.String(length=64), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_messages")),
    )
    op.create_index(
        "ix_route_messages_route_kind_state",
        "route_messages",
        ["route", "kind", "state"],
        unique=False,
    )
    # Batch mode: SQLite cannot ALTER a constraint in place, so alembic rebuilds the table.
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("held_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("digest_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_alerts_digest_id_route_messages", "route_messages", ["digest_id"], ["id"]
        )
        batch_op.create_index("ix_alerts_digest_id", ["digest_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index("ix_alerts_digest_id")
        batch_op.drop_constraint("fk_alerts_digest_id_route_messages", type_="foreignkey")
        batch_op.drop_column("digest_id")
        batch_op.drop_column("held_at")
    op.drop_index("ix_route_messages_route_kind_state", table_name="route_messages")
    op.drop_table("route_messages")
