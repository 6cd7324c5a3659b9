"""Create the operations log and the per-minute and per-hour rollups.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create operations (raw events) and operation_rollups (aggregates per writer)."""
    op.create_table(
        "operations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("operation_id", sa.String(200), nullable=False),
        sa.Column("tool", sa.String(200), nullable=False),
        sa.Column("operation", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("end_ts", sa.Float(), nullable=False),
        sa.Column("duration_ms", sa.Float(), nullable=False),
        sa.Column("cost", sa.Float(), nullable=False),
        sa.Column("input_tokens", sa.BigInteger(), nullable=False),
        sa.Column("output_tokens", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(200)),
        sa.Column("error_code", sa.String(200)),
        sa.Column("error_message", sa.Text()),
        sa.Column("labels", sa.Text()),
        sa.Column("details", sa.Text()),
    )
    op.create_index("ix_operations_end_ts", "operations", ["end_ts"])
    op.create_table(
        "operation_rollups",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("tool", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(200), primary_key=True),
        sa.Column("resolution", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("bucket_start", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("operations", sa.BigInteger(), nullable=False),
        sa.Column("last_error_ts", sa.Float()),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_ts", sa.Float(), nullable=False),
    )
    op.create_index(
        "ix_operation_rollups_time", "operation_rollups", ["resolution", "bucket_start"]
    )


def downgrade() -> None:
    """Drop the operations log and its rollups."""
    op.drop_table("operation_rollups")
    op.drop_table("operations")
