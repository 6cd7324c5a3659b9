"""Add the token kinds a provider bills apart to the operations log.

``cached_tokens`` and ``cache_write_tokens`` are parts of ``input_tokens`` (read
from and written to the provider's prompt cache), ``reasoning_tokens`` a part of
``output_tokens``. Rows stored before have none of them: 0.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

_KINDS = ("cached_tokens", "cache_write_tokens", "reasoning_tokens")


def upgrade() -> None:
    """Add the three counts, 0 for every row already stored."""
    with op.batch_alter_table("operations") as batch:
        for name in _KINDS:
            batch.add_column(
                sa.Column(name, sa.BigInteger(), nullable=False, server_default=sa.text("0"))
            )


def downgrade() -> None:
    """Drop the three counts."""
    with op.batch_alter_table("operations") as batch:
        for name in reversed(_KINDS):
            batch.drop_column(name)
