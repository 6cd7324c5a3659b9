"""Add api_tokens.expires_at: a token may stop opening the door at a set time.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable expires_at column (existing tokens never expire)."""
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    """Drop expires_at."""
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
