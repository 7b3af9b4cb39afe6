"""Identity for people (issue 15): a child's sealed identity, address and guardians' names, as the population
register sent them (opened at read time, never stored in plaintext), its protected personal
data, its death or emigration, and the child ids found to be one child (``identity_links``;
``children.merged_into``), and the people sources name for organisations
(``organisation_contacts``: a school unit's principal); why a plan reads as closed
(``plan_closed_reason``: the child died); and consents and plan entries keyed by the child too.

The new columns are filled as the projector rewrites each child (on its next event, and on
its periodic pass); ``kronobarn replay`` fills them for every child at once.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import projections.read_model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

CHILD_COLUMNS = (
    ("sealed_identity", sa.LargeBinary(), {}),
    ("sealed_address", sa.LargeBinary(), {}),
    ("sealed_guardians", sa.LargeBinary(), {}),
    ("protection", sa.String(length=24), {"nullable": False, "server_default": "NONE"}),
    ("died_on", sa.Date(), {}),
    ("emigrated_on", sa.Date(), {}),
    ("merged_into", sa.String(length=36), {}),
    ("plan_closed_reason", sa.String(length=40), {}),
)
# A merged id's copy of a consent or a plan entry stays (under the merged id) until its merge is
# folded, next to the surviving id's: these tables are keyed by the child too.
KEYED_BY_CHILD = (("actions", "action_id"), ("meetings", "meeting_id"), ("follow_ups", "follow_up_id"),
                  ("consents", "consent_id"))


def upgrade() -> None:
    for table, key in KEYED_BY_CHILD:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [key, "child_id"])
    op.create_table(
        "identity_links",
        sa.Column("merged_id", sa.String(length=36), primary_key=True),
        sa.Column("surviving_id", sa.String(length=36), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("announced_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_identity_links_surviving_id", "identity_links", ["surviving_id"])
    op.create_table(
        "organisation_contacts",
        sa.Column("source", sa.String(length=32), primary_key=True),
        sa.Column("organisation_id", sa.String(length=64), primary_key=True),
        sa.Column("role", sa.String(length=32), primary_key=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("since", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("children") as batch:
        for name, kind, options in CHILD_COLUMNS:
            batch.add_column(sa.Column(name, kind, **({"nullable": True} | options)))


def downgrade() -> None:
    with op.batch_alter_table("children") as batch:
        for name, _, _ in reversed(CHILD_COLUMNS):
            batch.drop_column(name)
    for table, key in KEYED_BY_CHILD:
        with op.batch_alter_table(table, recreate="always") as batch:
            batch.drop_constraint(f"pk_{table}", type_="primary")
            batch.create_primary_key(f"pk_{table}", [key])
    op.drop_table("organisation_contacts")
    op.drop_index("ix_identity_links_surviving_id", table_name="identity_links")
    op.drop_table("identity_links")
