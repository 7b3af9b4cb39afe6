"""Key store, identity registry and connector checkpoints.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Migrations are frozen snapshots: spell the tables out here, never import services.sql.schema.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "child_keys",
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("child_id", name="pk_child_keys"),
    )
    op.create_table(
        "erased_children",
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column(
            "erased_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.Column("reason_code", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("child_id", name="pk_erased_children"),
    )
    op.create_table(
        "identity_handles",
        sa.Column("handle_hmac", sa.String(64), nullable=False),
        sa.Column("child_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("handle_sealed", sa.LargeBinary(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("handle_hmac", name="pk_identity_handles"),
    )
    op.create_index("ix_identity_handles_child_id", "identity_handles", ["child_id"])
    op.create_table(
        "connector_checkpoints",
        sa.Column("connector", sa.String(64), nullable=False),
        sa.Column("cursor", sa.Text(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()
        ),
        sa.PrimaryKeyConstraint("connector", name="pk_connector_checkpoints"),
    )


def downgrade() -> None:
    op.drop_table("connector_checkpoints")
    op.drop_index("ix_identity_handles_child_id", table_name="identity_handles")
    op.drop_table("identity_handles")
    op.drop_table("erased_children")
    op.drop_table("child_keys")
