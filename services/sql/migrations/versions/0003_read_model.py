"""The read model: children, released facts, the plan's parts, consents, named-person history,
and the projector's tracked positions.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

Migrations are frozen snapshots: spell the tables out here, never import projections.read_model.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table('actions',
    sa.Column('action_id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('area', sa.String(length=16), nullable=False),
    sa.Column('responsible_org', sa.String(length=64), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('need', sa.Text(), nullable=True),
    sa.Column('what', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('action_id', name=op.f('pk_actions'))
    )
    op.create_index(op.f('ix_actions_child_id'), 'actions', ['child_id'], unique=False)
    op.create_table('assessments',
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('area', sa.String(length=16), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=False),
    sa.Column('assessed_by_org', sa.String(length=64), nullable=False),
    sa.Column('assessed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.Column('child_view', sa.Text(), nullable=True),
    sa.Column('guardians_view', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('child_id', 'area', name=op.f('pk_assessments'))
    )
    op.create_table('children',
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('municipality_code', sa.String(length=8), nullable=True),
    sa.Column('birth_date', sa.Date(), nullable=True),
    sa.Column('unborn', sa.Boolean(), nullable=False),
    sa.Column('guardians', sa.Text(), nullable=False),
    sa.Column('named_person_org', sa.String(length=64), nullable=True),
    sa.Column('named_person_rule', sa.String(length=32), nullable=False),
    sa.Column('named_person_since', sa.Date(), nullable=True),
    sa.Column('on_gaps_list', sa.Boolean(), nullable=False),
    sa.Column('plan_id', sa.String(length=36), nullable=True),
    sa.Column('plan_status', sa.String(length=16), nullable=True),
    sa.Column('plan_opened_by', sa.String(length=64), nullable=True),
    sa.Column('plan_opened_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('plan_closed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('lead_org', sa.String(length=64), nullable=True),
    sa.Column('participants', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('child_id', name=op.f('pk_children'))
    )
    op.create_index(op.f('ix_children_municipality_code'), 'children', ['municipality_code'], unique=False)
    op.create_index(op.f('ix_children_on_gaps_list'), 'children', ['on_gaps_list'], unique=False)
    op.create_table('consents',
    sa.Column('consent_id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('categories', sa.Text(), nullable=False),
    sa.Column('recipients', sa.Text(), nullable=False),
    sa.Column('source_organisations', sa.Text(), nullable=True),
    sa.Column('areas', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.DateTime(timezone=True), nullable=False),
    sa.Column('valid_to', sa.DateTime(timezone=True), nullable=False),
    sa.Column('withdrawn_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('consent_id', name=op.f('pk_consents'))
    )
    op.create_index(op.f('ix_consents_child_id'), 'consents', ['child_id'], unique=False)
    op.create_table('follow_ups',
    sa.Column('follow_up_id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('area', sa.String(length=16), nullable=True),
    sa.Column('due_on', sa.Date(), nullable=False),
    sa.Column('what', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('follow_up_id', name=op.f('pk_follow_ups'))
    )
    op.create_index(op.f('ix_follow_ups_child_id'), 'follow_ups', ['child_id'], unique=False)
    op.create_table('meetings',
    sa.Column('meeting_id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('held_on', sa.Date(), nullable=False),
    sa.Column('participant_orgs', sa.Text(), nullable=False),
    sa.Column('lead_org', sa.String(length=64), nullable=True),
    sa.Column('decisions', sa.Text(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('meeting_id', name=op.f('pk_meetings'))
    )
    op.create_index(op.f('ix_meetings_child_id'), 'meetings', ['child_id'], unique=False)
    op.create_table('named_person_history',
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('organisation_id', sa.String(length=64), nullable=True),
    sa.Column('rule', sa.String(length=32), nullable=False),
    sa.Column('since', sa.Date(), nullable=True),
    sa.PrimaryKeyConstraint('child_id', 'seq', name=op.f('pk_named_person_history'))
    )
    op.create_table('projector_positions',
    sa.Column('consumer', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=128), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('offset', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'topic', 'partition', name=op.f('pk_projector_positions'))
    )
    op.create_table('released_facts',
    sa.Column('fact_event_id', sa.String(length=36), nullable=False),
    sa.Column('child_id', sa.String(length=36), nullable=False),
    sa.Column('fact_type', sa.String(length=64), nullable=False),
    sa.Column('area', sa.String(length=16), nullable=True),
    sa.Column('source_org', sa.String(length=64), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('basis', sa.String(length=16), nullable=False),
    sa.Column('consent_ids', sa.Text(), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('fact', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('fact_event_id', name=op.f('pk_released_facts'))
    )
    op.create_index(op.f('ix_released_facts_child_id'), 'released_facts', ['child_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_released_facts_child_id'), table_name='released_facts')
    op.drop_table('released_facts')
    op.drop_table('projector_positions')
    op.drop_table('named_person_history')
    op.drop_index(op.f('ix_meetings_child_id'), table_name='meetings')
    op.drop_table('meetings')
    op.drop_index(op.f('ix_follow_ups_child_id'), table_name='follow_ups')
    op.drop_table('follow_ups')
    op.drop_index(op.f('ix_consents_child_id'), table_name='consents')
    op.drop_table('consents')
    op.drop_index(op.f('ix_children_on_gaps_list'), table_name='children')
    op.drop_index(op.f('ix_children_municipality_code'), table_name='children')
    op.drop_table('children')
    op.drop_table('assessments')
    op.drop_index(op.f('ix_actions_child_id'), table_name='actions')
    op.drop_table('actions')
