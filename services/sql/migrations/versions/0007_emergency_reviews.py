"""The auditors' review of an emergency access (issue 15): a review is an audit-log entry that
names the emergency access it reviews and keeps the auditor's comment as ciphertext.

Existing entries get NULL in both columns and hash as before (``projections.audit.canonical``
adds the two keys only to reviews and to entries that carry them).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import projections.audit_store.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("audit_log") as batch:
        batch.add_column(sa.Column("reviews", sa.String(36), nullable=True))
        batch.add_column(sa.Column("sealed", sa.LargeBinary(), nullable=True))
    op.create_index("ix_audit_log_reviews", "audit_log", ["reviews"])


def downgrade() -> None:
    op.drop_index("ix_audit_log_reviews", table_name="audit_log")
    with op.batch_alter_table("audit_log") as batch:
        batch.drop_column("sealed")
        batch.drop_column("reviews")
