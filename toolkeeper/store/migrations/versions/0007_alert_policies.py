"""Alert policies: acknowledgement, escalation and inhibition columns, groups, runtime versions.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None

_STATE_COLUMNS = (
    ("inhibited_by", sa.String(401)),
    ("acknowledged_by", sa.String(200)),
    ("acknowledged_at", sa.DateTime(timezone=True)),
    ("ack_comment", sa.Text()),
    ("clear_since", sa.DateTime(timezone=True)),
    ("error", sa.Text()),
)


def upgrade() -> None:
    """Add the new alert_states columns; create alert_groups and alert_config_versions."""
    with op.batch_alter_table("alert_states") as batch:
        for name, kind in _STATE_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="1")
        )
    op.create_table(
        "alert_groups",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("route", sa.String(200), nullable=False),
        sa.Column("group_key", sa.Text(), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flushed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_table(
        "alert_config_versions",
        sa.Column("version", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop what upgrade added."""
    op.drop_table("alert_config_versions")
    op.drop_table("alert_groups")
    with op.batch_alter_table("alert_states") as batch:
        batch.drop_column("escalation_level")
        for name, _ in reversed(_STATE_COLUMNS):
            batch.drop_column(name)
