"""Analyst feedback: `alert_feedback` (button tokens, message updates), `judgments`,
`source_mutes`. New tables only; nothing existing changes.

Revision ID: 0004_feedback
Revises: 0003
Create Date: 2026-12-04 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_feedback"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alert_feedback",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_state", sa.String(length=10), nullable=True),
        sa.Column("update_attempts", sa.Integer(), nullable=False),
        sa.Column("update_next_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("update_error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_alert_feedback_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alert_id", name=op.f("pk_alert_feedback")),
        sa.UniqueConstraint("token", name=op.f("uq_alert_feedback_token")),
    )
    op.create_table(
        "judgments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("analyst_id", sa.String(length=64), nullable=False),
        sa.Column("analyst_name", sa.String(length=200), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("judged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_judged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope_id", sa.String(length=100), nullable=False),
        sa.ForeignKeyConstraint(
            ["alert_id"],
            ["alerts.id"],
            name=op.f("fk_judgments_alert_id_alerts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_judgments")),
        sa.UniqueConstraint("alert_id", "analyst_id", name="uq_judgments_alert_analyst"),
    )
    op.create_index(op.f("ix_judgments_judged_at"), "judgments", ["judged_at"], unique=False)
    op.create_table(
        "source_mutes",
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("muted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("muted_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_source_mutes_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("source_id", name=op.f("pk_source_mutes")),
    )


def downgrade() -> None:
    op.drop_table("source_mutes")
    op.drop_index(op.f("ix_judgments_judged_at"), table_name="judgments")
    op.drop_table("judgments")
    op.drop_table("alert_feedback")
