"""Consent over time (issue 14): each consent's grantors, registration, lapse and how it was
obtained; the writer of each piece of the plan's free text; a child's expectant parent and,
from 18 to 19, the organisation that may register the young person's own consent.

The new columns are filled as the projector rewrites each child (on its next event, and on
its periodic pass); ``kronobarn replay`` fills them for every child at once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import projections.read_model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

CONSENT_COLUMNS = (
    ("grantors", sa.Text()),
    ("granted_at", sa.DateTime(timezone=True)),
    ("lapsed_at", sa.DateTime(timezone=True)),
    ("lapse", sa.String(length=16)),
    ("obtained", sa.String(length=16)),
    ("registered_by", sa.String(length=128)),
)
WRITTEN_BY = ("actions", "meetings", "follow_ups")
CHILD_COLUMNS = (("expectant_parent", sa.String(length=36)), ("young_person_org", sa.String(length=64)))


def upgrade() -> None:
    with op.batch_alter_table("children") as batch:
        for name, kind in CHILD_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    with op.batch_alter_table("consents") as batch:
        for name, kind in CONSENT_COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    for table in WRITTEN_BY:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("written_by", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for table in WRITTEN_BY:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("written_by")
    with op.batch_alter_table("consents") as batch:
        for name, _ in reversed(CONSENT_COLUMNS):
            batch.drop_column(name)
    with op.batch_alter_table("children") as batch:
        for name, _ in reversed(CHILD_COLUMNS):
            batch.drop_column(name)
