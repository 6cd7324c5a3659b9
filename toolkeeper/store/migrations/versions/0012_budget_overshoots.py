"""Create budget_overshoots: per tool, the calls that cost more than they had reserved.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create budget_overshoots (all-time totals per tool, in nano-dollars)."""
    op.create_table(
        "budget_overshoots",
        sa.Column("tool", sa.String(200), primary_key=True),
        sa.Column("calls", sa.BigInteger(), nullable=False),
        sa.Column("amount_nanos", sa.BigInteger(), nullable=False),
        sa.Column("largest_nanos", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    """Drop budget_overshoots."""
    op.drop_table("budget_overshoots")
