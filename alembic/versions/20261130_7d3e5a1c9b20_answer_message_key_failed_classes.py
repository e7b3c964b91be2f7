"""answer.message_key and generation.failed_classes

The normalised message is stored once with each answer, so judging a new message never
normalises the player's earlier ones again. A generation records the classes it could not
recompute, so the next rebuild tries them again and researchers hear of each failure once.

Revision ID: 7d3e5a1c9b20
Revises: 50c956c90917
Create Date: 2026-11-30 18:10:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op


revision: str = '7d3e5a1c9b20'
down_revision: str | None = '50c956c90917'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('message_key', sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
    with op.batch_alter_table('generation', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('failed_classes', sa.JSON(), server_default='{}', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('generation', schema=None) as batch_op:
        batch_op.drop_column('failed_classes')
    with op.batch_alter_table('answer', schema=None) as batch_op:
        batch_op.drop_column('message_key')
