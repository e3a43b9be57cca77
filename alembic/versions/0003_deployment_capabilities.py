"""deployment capabilities (tools, json_schema, vision…)

Revision ID: 0003_deployment_capabilities
Revises: 0002
Create Date: 2026-11-29 20:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_deployment_capabilities"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.add_column(
            sa.Column("capabilities", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    # The embedded model's are known; hosted ones are filled from litellm's map by the next
    # `modelyard seed` (or `deployments update`); local servers declare theirs.
    op.execute(
        'UPDATE deployments SET capabilities = \'["json_mode", "json_schema"]\' '
        "WHERE kind = 'embedded'"
    )


def downgrade() -> None:
    with op.batch_alter_table("deployments") as batch:
        batch.drop_column("capabilities")
