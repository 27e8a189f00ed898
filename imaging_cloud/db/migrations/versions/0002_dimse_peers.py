"""dimse peers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 09:50:59.796614
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('dimse_peers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ae_title', sa.String(length=16), nullable=False),
    sa.Column('institution_id', sa.Integer(), nullable=False),
    sa.Column('allowed_address', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['institution_id'], ['institutions.id'], name=op.f('fk_dimse_peers_institution_id_institutions'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dimse_peers')),
    sa.UniqueConstraint('ae_title', name=op.f('uq_dimse_peers_ae_title'))
    )
    with op.batch_alter_table('dimse_peers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dimse_peers_institution_id'), ['institution_id'], unique=False)




def downgrade() -> None:

    with op.batch_alter_table('dimse_peers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dimse_peers_institution_id'))

    op.drop_table('dimse_peers')

