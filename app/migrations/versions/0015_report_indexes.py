"""the desk reports: calls by their opening, and each call's endings (resolved, cancelled)

Revision ID: 0015
Revises: 0014
"""

from alembic import op


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(op.f('ix_calls_opened_at'), 'calls', ['opened_at'], unique=False)
    op.create_index(
        'ix_call_events_kind_call_id', 'call_events', ['kind', 'call_id'], unique=False
    )


def downgrade() -> None:
    op.drop_index('ix_call_events_kind_call_id', table_name='call_events')
    op.drop_index(op.f('ix_calls_opened_at'), table_name='calls')
