"""A connector's running totals and health (issue 18, item 5): what ``kronobarn connector status``
prints and the connector's metrics start from.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import services.sql.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "connector_status",
        sa.Column("connector", sa.String(length=64), primary_key=True),
        sa.Column("records_read", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("events_published", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("dead_letters", sa.Text(), nullable=False, server_default="{}"),  # JSON: error type -> count
        sa.Column("retries", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("last_poll_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("down_since", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("connector_status")
