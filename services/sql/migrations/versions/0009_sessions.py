"""Sessions that end (issue 17, finding 2): tokens revoked at logout, and users whose sessions an
administrator ended, shared by every API replica.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import services.sql.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "revoked_tokens",
        sa.Column("token_hash", sa.String(length=64), primary_key=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "ended_sessions",
        sa.Column("subject", sa.String(length=200), primary_key=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ended_sessions")
    op.drop_table("revoked_tokens")
