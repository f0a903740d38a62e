"""targets claimed once, customer contact log, attachments, e-mailed notifications

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'attachments',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('content_type', sa.String(length=100), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('storage_key', sa.String(length=100), nullable=False),
        sa.Column('description', sa.String(length=300), nullable=False),
        sa.Column('uploaded_by', sa.Integer(), nullable=False),
        sa.Column('uploaded_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['call_id'], ['calls.id'], name=op.f('fk_attachments_call_id_calls')
        ),
        sa.ForeignKeyConstraint(
            ['uploaded_by'], ['people.id'], name=op.f('fk_attachments_uploaded_by_people')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_attachments')),
        sa.UniqueConstraint('storage_key', name=op.f('uq_attachments_storage_key')),
    )
    op.create_index(op.f('ix_attachments_call_id'), 'attachments', ['call_id'])
    op.create_table(
        'customer_contacts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('owner_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.String(length=40), nullable=False),
        sa.Column('contact_name', sa.String(length=100), nullable=False),
        sa.Column('scheduled_for', UTCDateTime(timezone=True), nullable=True),
        sa.Column('scheduled_by', sa.Integer(), nullable=True),
        sa.Column('made_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('made_by', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.String(length=20), nullable=True),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ['call_id'], ['calls.id'], name=op.f('fk_customer_contacts_call_id_calls')
        ),
        sa.ForeignKeyConstraint(
            ['made_by'], ['people.id'], name=op.f('fk_customer_contacts_made_by_people')
        ),
        sa.ForeignKeyConstraint(
            ['owner_id'], ['people.id'], name=op.f('fk_customer_contacts_owner_id_people')
        ),
        sa.ForeignKeyConstraint(
            ['scheduled_by'], ['people.id'], name=op.f('fk_customer_contacts_scheduled_by_people')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_customer_contacts')),
    )
    for column in ('call_id', 'owner_id', 'scheduled_for'):
        op.create_index(
            op.f(f'ix_customer_contacts_{column}'), 'customer_contacts', [column]
        )
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('overdue_notified_at', UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('resolution_missed_at', UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('response_missed_at', UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.add_column(sa.Column('email_status', sa.String(length=20), nullable=True))
        batch_op.add_column(
            sa.Column('email_attempts', sa.Integer(), nullable=False, server_default='0')
        )
        batch_op.add_column(
            sa.Column('email_next_at', UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(sa.Column('email_error', sa.String(length=500), nullable=True))
        batch_op.add_column(sa.Column('emailed_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f('ix_notifications_email_status'), ['email_status'], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table('notifications', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_notifications_email_status'))
        for name in ('emailed_at', 'email_error', 'email_next_at', 'email_attempts', 'email_status'):
            batch_op.drop_column(name)
    with op.batch_alter_table('escalations', schema=None) as batch_op:
        batch_op.drop_column('response_missed_at')
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.drop_column('resolution_missed_at')
    with op.batch_alter_table('actions', schema=None) as batch_op:
        batch_op.drop_column('overdue_notified_at')
    for column in ('scheduled_for', 'owner_id', 'call_id'):
        op.drop_index(op.f(f'ix_customer_contacts_{column}'), table_name='customer_contacts')
    op.drop_table('customer_contacts')
    op.drop_index(op.f('ix_attachments_call_id'), table_name='attachments')
    op.drop_table('attachments')
