"""benchmark scores carry their date, whether they were verified, and where they came from

Revision ID: 0011_score_sources
Revises: 0010_feedback_learning
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_score_sources"
down_revision: str | None = "0010_feedback_learning"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("benchmark_scores") as batch:
        # Settings name shots, CoT, thinking mode and benchmark version: 64 was too short.
        batch.alter_column(
            "setting", existing_type=sa.String(length=64), type_=sa.String(length=400)
        )
        batch.add_column(sa.Column("as_of", sa.String(length=200), nullable=True))
        batch.add_column(
            sa.Column("verified", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("origin", sa.String(length=16), nullable=False, server_default="seed")
        )


def downgrade() -> None:
    with op.batch_alter_table("benchmark_scores") as batch:
        batch.drop_column("origin")
        batch.drop_column("verified")
        batch.drop_column("as_of")
        batch.alter_column(
            "setting", existing_type=sa.String(length=400), type_=sa.String(length=64)
        )
