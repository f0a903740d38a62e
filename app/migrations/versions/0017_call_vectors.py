"""resolved calls' vectors, for similar past calls (derived: rebuilt from the calls)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # empty at first: each process encodes the resolved calls without one when it starts
    op.create_table(
        'call_vectors',
        sa.Column('call_id', sa.Integer(), nullable=False),
        sa.Column('encoder', sa.String(length=200), nullable=False),
        sa.Column('text_hash', sa.String(length=64), nullable=False),
        sa.Column('vector', sa.LargeBinary(), nullable=False),
        sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ['call_id'], ['calls.id'], name=op.f('fk_call_vectors_call_id_calls')
        ),
        sa.PrimaryKeyConstraint('call_id', name=op.f('pk_call_vectors')),
    )


def downgrade() -> None:
    op.drop_table('call_vectors')
