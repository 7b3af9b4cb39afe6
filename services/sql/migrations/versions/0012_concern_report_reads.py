"""Reports of concern (issue 19): who has opened a report, per organisation (the inbox's unread).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import services.sql.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "concern_report_reads",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("organisation_id", sa.String(length=64), nullable=False),
        sa.Column("first_read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("report_id", "organisation_id", name=op.f("pk_concern_report_reads")),
    )


def downgrade() -> None:
    op.drop_table("concern_report_reads")
