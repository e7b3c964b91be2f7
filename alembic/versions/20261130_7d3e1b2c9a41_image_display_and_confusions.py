"""image display copy and the network's top classes

Revision ID: 7d3e1b2c9a41
Revises: b77fe29b26d8
Create Date: 2026-11-30 18:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate renders sqlmodel types)
from alembic import op

revision: str = "7d3e1b2c9a41"
down_revision: str | None = "b77fe29b26d8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.add_column(
            sa.Column("display_file", sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        )
        batch.add_column(sa.Column("top_classes", sa.JSON(), nullable=True))
    # Photos uploaded before were rendered with the old reveal from the small crop: upload anew.
    op.execute("DELETE FROM rendered_photo")


def downgrade() -> None:
    with op.batch_alter_table("image") as batch:
        batch.drop_column("top_classes")
        batch.drop_column("display_file")
