"""work orders: field visits requested by tier 2

Revision ID: 0009
Revises: 0008
"""

from alembic import op
import sqlalchemy as sa

from app.db import UTCDateTime


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('work_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('call_id', sa.Integer(), nullable=False),
    sa.Column('asset_id', sa.Integer(), nullable=True),
    sa.Column('state', sa.String(length=20), nullable=False),
    sa.Column('fault', sa.Text(), nullable=False),
    sa.Column('parts', sa.JSON(), nullable=False),
    sa.Column('field_engineer_id', sa.Integer(), nullable=False),
    sa.Column('requested_by', sa.Integer(), nullable=False),
    sa.Column('requested_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('target_date', sa.Date(), nullable=True),
    sa.Column('notes', sa.Text(), nullable=False),
    sa.Column('scheduled_for', UTCDateTime(timezone=True), nullable=True),
    sa.Column('arrived_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('completed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.String(length=30), nullable=True),
    sa.Column('work_done', sa.Text(), nullable=True),
    sa.Column('parts_used', sa.JSON(), nullable=False),
    sa.Column('findings', sa.Text(), nullable=True),
    sa.Column('cancelled_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['asset_id'], ['assets.id'], name=op.f('fk_work_orders_asset_id_assets')),
    sa.ForeignKeyConstraint(['call_id'], ['calls.id'], name=op.f('fk_work_orders_call_id_calls')),
    sa.ForeignKeyConstraint(['field_engineer_id'], ['people.id'], name=op.f('fk_work_orders_field_engineer_id_people')),
    sa.ForeignKeyConstraint(['requested_by'], ['people.id'], name=op.f('fk_work_orders_requested_by_people')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_work_orders'))
    )
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_work_orders_call_id'), ['call_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_field_engineer_id'), ['field_engineer_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_work_orders_state'), ['state'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('work_orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_work_orders_state'))
        batch_op.drop_index(batch_op.f('ix_work_orders_field_engineer_id'))
        batch_op.drop_index(batch_op.f('ix_work_orders_call_id'))

    op.drop_table('work_orders')
