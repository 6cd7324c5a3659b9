"""Create circuit_states: each writer's state of each tool's circuit breaker.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create circuit_states."""
    op.create_table(
        "circuit_states",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("tool", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    """Drop circuit_states."""
    op.drop_table("circuit_states")
