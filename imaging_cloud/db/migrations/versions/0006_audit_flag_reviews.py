"""audit flag reviews

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24 10:00:00.000000

Written by hand (revision 0005 was being created in parallel): the auditor's review of a computed audit flag.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('audit_flag_reviews',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('flag_id', sa.String(length=256), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('reviewed_by', sa.String(length=128), nullable=False),
    sa.Column('reviewed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=1000), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_flag_reviews')),
    sa.UniqueConstraint('flag_id', name=op.f('uq_audit_flag_reviews_flag_id'))
    )
    with op.batch_alter_table('audit_flag_reviews', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_audit_flag_reviews_kind'), ['kind'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('audit_flag_reviews', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_audit_flag_reviews_kind'))
    op.drop_table('audit_flag_reviews')
