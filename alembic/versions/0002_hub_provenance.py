"""hub provenance of imported models

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(sa.Column("hub_revision", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("hub_last_modified", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("pipeline_tag", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.drop_column("pipeline_tag")
        batch.drop_column("hub_last_modified")
        batch.drop_column("hub_revision")
