"""team policies: routing limits and defaults that bind every key of a team

Revision ID: 0009_team_policies
Revises: 0006_licence_terms_2025
Create Date: 2026-12-06 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009_team_policies"
down_revision: str | None = "0006_licence_terms_2025"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing teams get an empty policy: nothing changes for their keys until an admin sets one.
    with op.batch_alter_table("teams") as batch:
        batch.add_column(sa.Column("policy", sa.JSON(), nullable=True))
    op.execute("UPDATE teams SET policy = '{}'")
    with op.batch_alter_table("teams") as batch:
        batch.alter_column("policy", existing_type=sa.JSON(), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("teams") as batch:
        batch.drop_column("policy")
