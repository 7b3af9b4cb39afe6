"""Pending consents (issue 14, rule 9: read your own writes): a consent the web service accepted
is kept here, as the published ``ConsentGranted``'s bytes, until the read model holds it (or for
an hour at most), so every API replica shows it as pending and lets it be withdrawn at once.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the table out here, never import services.sql.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "pending_consents",
        sa.Column("consent_id", sa.String(36), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("granted", sa.LargeBinary(), nullable=False),
        sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("consent_id", name="pk_pending_consents"),
    )
    op.create_index("ix_pending_consents_child_id", "pending_consents", ["child_id"])


def downgrade() -> None:
    op.drop_index("ix_pending_consents_child_id", table_name="pending_consents")
    op.drop_table("pending_consents")
