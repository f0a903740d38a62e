"""notifications: what each person should know, from the outbox's events

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'notifications',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=50), nullable=False),
        sa.Column('call_id', sa.Integer(), nullable=True),
        sa.Column('text', sa.String(length=300), nullable=False),
        sa.Column('data', sa.JSON(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('read_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ['call_id'], ['calls.id'], name=op.f('fk_notifications_call_id_calls')
        ),
        sa.ForeignKeyConstraint(
            ['event_id'], ['webhook_events.id'], name=op.f('fk_notifications_event_id_webhook_events')
        ),
        sa.ForeignKeyConstraint(
            ['person_id'], ['people.id'], name=op.f('fk_notifications_person_id_people')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    )
    op.create_index(
        'ix_notifications_person_read', 'notifications', ['person_id', 'read_at', 'id']
    )


def downgrade() -> None:
    op.drop_index('ix_notifications_person_read', table_name='notifications')
    op.drop_table('notifications')
