"""The plan as a SIP (issue 20): kallelser and answers, participants with responsibilities, the
action lifecycle, follow-ups held with evaluations, and the wheel's history.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06

Migrations are frozen snapshots: spell the columns out here, never import services.sql.schema.
The read model is derived: a replay (``kronobarn readmodel rebuild``) fills the new columns and
tables for plans written before this migration.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None

ID = 36
ORG = 64

ACTION_COLUMNS = (
    sa.Column("start_on", sa.Date(), nullable=True),
    sa.Column("by_others", sa.Boolean(), nullable=False, server_default=sa.false()),
    sa.Column("status_on", sa.Date(), nullable=True),
    sa.Column("responsible_person", sa.Text(), nullable=True),
    sa.Column("performer", sa.Text(), nullable=True),
    sa.Column("status_reason", sa.Text(), nullable=True),
)
MEETING_COLUMNS = (
    sa.Column("child_took_part", sa.Boolean(), nullable=True),
    sa.Column("guardians_took_part", sa.Boolean(), nullable=True),
    sa.Column("child_voice", sa.Text(), nullable=True),
    sa.Column("others_present", sa.Text(), nullable=True),
)


def _child() -> sa.Column:
    return sa.Column("child_id", sa.String(length=ID), nullable=False)


def upgrade() -> None:
    with op.batch_alter_table("actions") as batch:
        for column in ACTION_COLUMNS:
            batch.add_column(column)
    with op.batch_alter_table("meetings") as batch:
        for column in MEETING_COLUMNS:
            batch.add_column(column)
    op.create_table(
        "invitations",
        sa.Column("meeting_id", sa.String(length=ID), nullable=False),
        _child(),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("invited_orgs", sa.Text(), nullable=False),
        sa.Column("child_invited", sa.Boolean(), nullable=False),
        sa.Column("guardians_invited", sa.Boolean(), nullable=False),
        sa.Column("place", sa.Text(), nullable=True),
        sa.Column("questions", sa.Text(), nullable=True),
        sa.Column("invited_people", sa.Text(), nullable=True),
        sa.Column("not_invited_why", sa.Text(), nullable=True),
        sa.Column("written_by", sa.String(length=ORG), nullable=True),
        sa.PrimaryKeyConstraint("meeting_id", "child_id", name=op.f("pk_invitations")),
    )
    op.create_table(
        "invitation_answers",
        sa.Column("meeting_id", sa.String(length=ID), nullable=False),
        _child(),
        sa.Column("invitee_org", sa.String(length=ORG), nullable=False),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sends", sa.Text(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("meeting_id", "child_id", "invitee_org", name=op.f("pk_invitation_answers")),
    )
    op.create_table(
        "plan_participants",
        _child(),
        sa.Column("organisation_id", sa.String(length=ORG), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("responsibilities", sa.Text(), nullable=True),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("written_by", sa.String(length=ORG), nullable=True),
        sa.PrimaryKeyConstraint("child_id", "organisation_id", name=op.f("pk_plan_participants")),
    )
    op.create_table(
        "follow_up_reviews",
        sa.Column("follow_up_id", sa.String(length=ID), nullable=False),
        _child(),
        sa.Column("held_on", sa.Date(), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("written_by", sa.String(length=ORG), nullable=True),
        sa.PrimaryKeyConstraint("follow_up_id", "child_id", name=op.f("pk_follow_up_reviews")),
    )
    op.create_table(
        "action_evaluations",
        sa.Column("action_id", sa.String(length=ID), nullable=False),
        sa.Column("follow_up_id", sa.String(length=ID), nullable=False),
        _child(),
        sa.Column("evaluated_on", sa.Date(), nullable=False),
        sa.Column("effect", sa.String(length=16), nullable=False),
        sa.Column("evaluation", sa.Text(), nullable=True),
        sa.Column("child_words", sa.Text(), nullable=True),
        sa.Column("guardians_words", sa.Text(), nullable=True),
        sa.Column("written_by", sa.String(length=ORG), nullable=True),
        sa.PrimaryKeyConstraint("action_id", "follow_up_id", "child_id", name=op.f("pk_action_evaluations")),
    )
    op.create_table(
        "assessment_history",
        sa.Column("event_id", sa.String(length=ID), nullable=False),
        _child(),
        sa.Column("area", sa.String(length=16), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=False),
        sa.Column("assessed_by_org", sa.String(length=ORG), nullable=False),
        sa.Column("assessed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", "child_id", name=op.f("pk_assessment_history")),
    )
    for table in ("invitations", "invitation_answers", "follow_up_reviews", "action_evaluations",
                  "assessment_history"):
        op.create_index(op.f(f"ix_{table}_child_id"), table, ["child_id"], unique=False)


def downgrade() -> None:
    for table in ("assessment_history", "action_evaluations", "follow_up_reviews", "plan_participants",
                  "invitation_answers", "invitations"):
        op.drop_table(table)
    with op.batch_alter_table("meetings") as batch:
        for column in MEETING_COLUMNS:
            batch.drop_column(column.name)
    with op.batch_alter_table("actions") as batch:
        for column in ACTION_COLUMNS:
            batch.drop_column(column.name)
