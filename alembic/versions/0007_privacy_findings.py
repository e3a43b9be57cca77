"""privacy findings in the usage ledger

Revision ID: 0007_privacy_findings
Revises: 0003_deployment_capabilities (i15; the lead re-chains at merge)
Create Date: 2026-11-29 21:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_privacy_findings"
down_revision: str | None = "0005_stored_responses"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("privacy_findings", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("privacy_findings")
