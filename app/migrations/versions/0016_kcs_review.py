"""KCS licences and pending revisions: only a publisher's edits go live at once

Revision ID: 0016
Revises: 0015
"""

import json

import sqlalchemy as sa
from alembic import op

from app.db import UTCDateTime


revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

# the roles that could publish before licences existed (app/auth/permissions.py then)
PUBLISHING_ROLES = {'engineer', 'admin'}


def _roles(value: object) -> list[str]:
    # JSON comes back parsed on PostgreSQL, as text on SQLite
    parsed = json.loads(value) if isinstance(value, str) else value
    return [str(r) for r in parsed or []] if isinstance(parsed, list) else []


def upgrade() -> None:
    # a plain ADD COLUMN with a default: on SQLite, a batch change would copy the people
    # table, which the keys and calls refer to
    op.add_column(
        'people',
        sa.Column(
            'kcs_licence', sa.String(length=16), nullable=False, server_default='candidate'
        ),
    )
    # everyone who could publish keeps doing so; the others start as candidates
    people = sa.table(
        'people', sa.column('id', sa.Integer()), sa.column('roles', sa.JSON()),
        sa.column('kcs_licence', sa.String()),
    )
    conn = op.get_bind()
    for person_id, roles in conn.execute(sa.select(people.c.id, people.c.roles)).all():
        licence = 'publisher' if PUBLISHING_ROLES & set(_roles(roles)) else 'candidate'
        conn.execute(
            people.update().where(people.c.id == person_id).values(kcs_licence=licence)
        )

    op.create_table(
        'article_revisions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('article_id', sa.Integer(), nullable=False),
        sa.Column('based_on', sa.Integer(), nullable=False),
        sa.Column('change', sa.String(length=200), nullable=False),
        sa.Column('content', sa.JSON(), nullable=False),
        sa.Column('content_hash', sa.String(length=64), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('proposed_by', sa.String(length=100), nullable=False),
        sa.Column('proposed_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('reviewed_by', sa.String(length=100), nullable=True),
        sa.Column('reviewed_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('review_note', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ['article_id'], ['articles.id'],
            name=op.f('fk_article_revisions_article_id_articles'), ondelete='CASCADE',
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_article_revisions')),
    )
    op.create_index(
        'ix_article_revisions_status_proposed_at', 'article_revisions',
        ['status', 'proposed_at'], unique=False,
    )
    op.create_index(
        'ix_article_revisions_article_id_status', 'article_revisions',
        ['article_id', 'status'], unique=False,
    )


def downgrade() -> None:
    op.drop_index('ix_article_revisions_article_id_status', table_name='article_revisions')
    op.drop_index('ix_article_revisions_status_proposed_at', table_name='article_revisions')
    op.drop_table('article_revisions')
    with op.batch_alter_table('people') as batch:
        batch.drop_column('kcs_licence')
