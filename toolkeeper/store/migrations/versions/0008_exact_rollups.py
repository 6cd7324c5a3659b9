"""Rollups per model, each writer's all-time totals, and each writer's raw-row counts.

``rollups`` replaces ``operation_rollups`` with a ``model`` column in its key
(existing rows are kept, with model ``""``); ``operation_totals`` keeps each
writer's running totals per (tool, operation, model) since it started, never
pruned, so fleet counters never decrease; ``writers`` counts the raw rows each
writer stored, dropped (writer behind) and refused (the database would not take them).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create rollups (copying operation_rollups), operation_totals and writers."""
    op.create_table(
        "rollups",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("tool", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("resolution", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("bucket_start", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("operations", sa.BigInteger(), nullable=False),
        sa.Column("last_error_ts", sa.Float()),
        sa.Column("last_error", sa.Text()),
        sa.Column("updated_ts", sa.Float(), nullable=False),
    )
    op.create_index("ix_rollups_time", "rollups", ["resolution", "bucket_start"])
    op.execute(
        "INSERT INTO rollups (writer, tool, operation, model, resolution, bucket_start, bucket,"
        " operations, last_error_ts, last_error, updated_ts)"
        " SELECT writer, tool, operation, '', resolution, bucket_start, bucket, operations,"
        " last_error_ts, last_error, updated_ts FROM operation_rollups"
    )
    op.drop_table("operation_rollups")
    op.create_table(
        "operation_totals",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("tool", sa.String(200), primary_key=True),
        sa.Column("operation", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("bucket", sa.Text(), nullable=False),
        sa.Column("operations", sa.BigInteger(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
    )
    op.create_table(
        "writers",
        sa.Column("writer", sa.String(64), primary_key=True),
        sa.Column("started_ts", sa.Float(), nullable=False),
        sa.Column("updated_ts", sa.Float(), nullable=False),
        sa.Column("stored_rows", sa.BigInteger(), nullable=False),
        sa.Column("dropped_rows", sa.BigInteger(), nullable=False),
        sa.Column("refused_rows", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    """Drop writers and operation_totals; fold rollups back into operation_rollups."""
    op.drop_table("writers")
    op.drop_table("operation_totals")
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
    # Only the rows without a model fit the old key; per-model buckets are not merged back.
    op.execute(
        "INSERT INTO operation_rollups SELECT writer, tool, operation, resolution, bucket_start,"
        " bucket, operations, last_error_ts, last_error, updated_ts FROM rollups WHERE model = ''"
    )
    op.drop_index("ix_rollups_time", table_name="rollups")
    op.drop_table("rollups")
