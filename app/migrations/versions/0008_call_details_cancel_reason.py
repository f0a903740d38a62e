"""calls: details tier 2 would ask again, cancellation, resolution without an article

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        batch_op.add_column(sa.Column('resolution_reason', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('cancel_reason', sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column('cancel_note', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cancelled_at', UTCDateTime(timezone=True), nullable=True))
        for name, length in (
            ('site_contact', 200),
            ('software_version', 100),
            ('started', 200),
            ('system_state', 200),
        ):
            batch_op.add_column(
                sa.Column(name, sa.String(length=length), nullable=False, server_default='')
            )
        for name in ('screen_message', 'recent_changes'):
            batch_op.add_column(sa.Column(name, sa.Text(), nullable=False, server_default=''))
        batch_op.add_column(
            sa.Column('patient_on_table', sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table('calls', schema=None) as batch_op:
        for name in (
            'patient_on_table',
            'recent_changes',
            'screen_message',
            'system_state',
            'started',
            'software_version',
            'site_contact',
            'cancelled_at',
            'cancel_note',
            'cancel_reason',
            'resolution_reason',
        ):
            batch_op.drop_column(name)
