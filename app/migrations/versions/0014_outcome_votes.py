"""who recorded an article's outcome on a call, and when: the votes that ranking learns from

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('call_articles') as batch:
        batch.add_column(sa.Column('outcome_at', UTCDateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('outcome_by', sa.Integer(), nullable=True))
        batch.create_foreign_key(
            op.f('fk_call_articles_outcome_by_people'), 'people', ['outcome_by'], ['id']
        )
        batch.create_index(op.f('ix_call_articles_outcome_at'), ['outcome_at'], unique=False)
    # outcomes recorded before: the call's resolution (or opening) time, its opener
    op.execute(
        """
        UPDATE call_articles SET
            outcome_at = (SELECT coalesce(c.resolved_at, c.opened_at) FROM calls c
                          WHERE c.id = call_articles.call_id),
            outcome_by = (SELECT c.opened_by FROM calls c WHERE c.id = call_articles.call_id)
        WHERE outcome IS NOT NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('call_articles') as batch:
        batch.drop_index(op.f('ix_call_articles_outcome_at'))
        batch.drop_constraint(op.f('fk_call_articles_outcome_by_people'), type_='foreignkey')
        batch.drop_column('outcome_by')
        batch.drop_column('outcome_at')
