"""Create the budget tables: spend per bucket, live reservations and fired warnings.

Revision ID: 0002
Revises: 0001
Create Date: 2026-02-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create budget_spend, budget_reservations and budget_warnings."""
    op.create_table(
        "budget_spend",
        sa.Column("budget", sa.String(400), primary_key=True),
        sa.Column("bucket", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("spent_nanos", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "budget_reservations",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("budget", sa.String(400), primary_key=True),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index(
        "ix_budget_reservations_budget", "budget_reservations", ["budget", "expires_at"]
    )
    op.create_table(
        "budget_warnings",
        sa.Column("budget", sa.String(400), primary_key=True),
        sa.Column("period", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("threshold", sa.String(20), primary_key=True),
        sa.Column("spent_nanos", sa.BigInteger(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop the budget tables."""
    op.drop_table("budget_warnings")
    op.drop_index("ix_budget_reservations_budget", table_name="budget_reservations")
    op.drop_table("budget_reservations")
    op.drop_table("budget_spend")
