"""Identity for people (issue 15): a child's sealed identity, address and guardians' names, as the population
register sent them (opened at read time, never stored in plaintext), its protected personal
data, and its death or emigration.

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
)


def upgrade() -> None:
    with op.batch_alter_table("children") as batch:
        for name, kind, options in CHILD_COLUMNS:
            batch.add_column(sa.Column(name, kind, **({"nullable": True} | options)))


def downgrade() -> None:
    with op.batch_alter_table("children") as batch:
        for name, _, _ in reversed(CHILD_COLUMNS):
            batch.drop_column(name)
