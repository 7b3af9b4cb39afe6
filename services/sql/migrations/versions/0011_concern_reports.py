"""Reports of concern on the statutory route (issue 19): the read model's ``concern_reports``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import projections.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "concern_reports",
        sa.Column("report_id", sa.String(length=36), nullable=False),
        sa.Column("child_id", sa.String(length=36), nullable=False),
        sa.Column("filed_in_hub", sa.Boolean(), nullable=False),
        sa.Column("reporter_org", sa.String(length=64), nullable=True),
        sa.Column("reporter_category", sa.String(length=64), nullable=True),
        sa.Column("municipality_code", sa.String(length=64), nullable=True),
        sa.Column("acute", sa.Boolean(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("report", sa.LargeBinary(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("register_case_id", sa.String(length=200), nullable=True),
        sa.Column("undelivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("undelivered_reason", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("acknowledged_by_org", sa.String(length=64), nullable=True),
        sa.Column("investigation_opened", sa.Boolean(), nullable=True),
        sa.Column("decided_on", sa.Date(), nullable=True),
        sa.PrimaryKeyConstraint("report_id", name=op.f("pk_concern_reports")),
    )
    for column in ("child_id", "reporter_org", "municipality_code"):
        op.create_index(op.f(f"ix_concern_reports_{column}"), "concern_reports", [column])


def downgrade() -> None:
    op.drop_table("concern_reports")
