"""actions: tasks on a call assigned to a person with a due time

Revision ID: 0010
Revises: 0009
"""

from alembic import op
import sqlalchemy as sa

from app.db import UTCDateTime


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('actions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('details', sa.Text(), nullable=False),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('assignee_id', sa.Integer(), nullable=False),
    sa.Column('assigned_by', sa.Integer(), nullable=False),
    sa.Column('assigned_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('due_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('acknowledged_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.Text(), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_actions_asset_id_assets')),
    sa.ForeignKeyConstraint(['assigned_by'], ['people.id'], name=op.f('fk_actions_assigned_by_people')),
    sa.ForeignKeyConstraint(['assignee_id'], ['people.id'], name=op.f('fk_actions_assignee_id_people')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_actions_call_id_calls')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_actions'))
    )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_actions_assignee_id'), ['assignee_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_actions_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_actions_due_at'), ['due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_actions_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_actions_state'))
        batch_op.drop_index(batch_op.f('ix_actions_due_at'))
        batch_op.drop_index(batch_op.f('ix_actions_call_id'))
        batch_op.drop_index(batch_op.f('ix_actions_assignee_id'))

    op.drop_table('actions')
