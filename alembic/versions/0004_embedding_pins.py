"""embedding models' vector sizes, and each key's pinned embedding model

Revision ID: 0004_embedding_pins
Revises: 0002
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_embedding_pins"
down_revision: str | None = "0008_teams_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("models") as batch:
        batch.add_column(
            sa.Column("embedding_dimensions", sa.JSON(), nullable=False, server_default="[]")
        )
    with op.batch_alter_table("models") as batch:
        batch.alter_column("embedding_dimensions", server_default=None)
    op.create_table(
        "embedding_pins",
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=True),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_embedding_pins_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("api_key_id", name=op.f("pk_embedding_pins")),
    )


def downgrade() -> None:
    op.drop_table("embedding_pins")
    with op.batch_alter_table("models") as batch:
        batch.drop_column("embedding_dimensions")
