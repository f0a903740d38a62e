"""change feed for several processes; webhook secrets stored encrypted

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'changes',
        sa.Column(
            'id',
            sa.BigInteger().with_variant(sa.Integer(), 'sqlite'),
            nullable=False,
            autoincrement=True,
        ),
        sa.Column('topic', sa.String(length=20), nullable=False),
        sa.Column('ref', sa.String(length=100), nullable=True),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_changes')),
    )
    op.create_index(op.f('ix_changes_at'), 'changes', ['at'], unique=False)
    # an encrypted secret is longer than the plain one
    with op.batch_alter_table('webhook_subscriptions') as batch:
        batch.alter_column(
            'secret', existing_type=sa.String(length=200), type_=sa.Text(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table('webhook_subscriptions') as batch:
        batch.alter_column(
            'secret', existing_type=sa.Text(), type_=sa.String(length=200), existing_nullable=False
        )
    op.drop_index(op.f('ix_changes_at'), table_name='changes')
    op.drop_table('changes')
