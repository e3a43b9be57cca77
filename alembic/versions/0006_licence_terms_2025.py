"""licence terms of 2025-2026 and uncertain change dates

Revision ID: 0006_licence_terms_2025
Revises: 0002
Create Date: 2026-11-29 20:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_licence_terms_2025"
down_revision: str | None = "0004_embedding_pins"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FLAGS = (
    "threshold_counts_affiliates",
    "threshold_end_user_exemption",
    "region_exclusion_multimodal_only",
    "region_exclusion_end_user_exempt",
    "hosted_is_distribution",
    "notice_exempt_hosted",
    "outputs_derivative_if_imitating",
    "outputs_research_only",
    "use_latest_version",
)


def upgrade() -> None:
    with op.batch_alter_table("licenses") as batch:
        batch.add_column(sa.Column("revenue_threshold_usd", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column(
                "threshold_consequence",
                sa.String(length=32),
                nullable=False,
                server_default="separate_license",
            )
        )
        batch.add_column(sa.Column("threshold_display_text", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("excluded_regions", sa.JSON(), nullable=False, server_default="[]")
        )
        for flag in _FLAGS:
            batch.add_column(
                sa.Column(flag, sa.Boolean(), nullable=False, server_default=sa.false())
            )
    with op.batch_alter_table("license_assignments") as batch:
        batch.add_column(sa.Column("certain_from", sa.Date(), nullable=True))
        batch.add_column(sa.Column("certain_to", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("license_assignments") as batch:
        batch.drop_column("certain_to")
        batch.drop_column("certain_from")
    with op.batch_alter_table("licenses") as batch:
        for flag in reversed(_FLAGS):
            batch.drop_column(flag)
        batch.drop_column("excluded_regions")
        batch.drop_column("threshold_display_text")
        batch.drop_column("threshold_consequence")
        batch.drop_column("revenue_threshold_usd")
