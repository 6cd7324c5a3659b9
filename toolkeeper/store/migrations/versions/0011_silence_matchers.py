"""Add alert_silences.matchers: a silence may select alerts by any label matchers.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the nullable matchers column (existing silences keep their rule and tool globs only)."""
    op.add_column("alert_silences", sa.Column("matchers", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop matchers."""
    with op.batch_alter_table("alert_silences") as batch:
        batch.drop_column("matchers")
