"""stored Responses API answers (previous_response_id, GET/DELETE /v1/responses/{id})

Revision ID: 0005_stored_responses
Revises: 0003_deployment_capabilities
Create Date: 2026-11-29 20:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_stored_responses"
down_revision: str | None = "0003_deployment_capabilities"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "stored_responses",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=False),
        sa.Column("previous_response_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("messages", sa.JSON(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_stored_responses_api_key_id_api_keys"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stored_responses")),
    )
    op.create_index(
        op.f("ix_stored_responses_api_key_id"), "stored_responses", ["api_key_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_stored_responses_api_key_id"), table_name="stored_responses")
    op.drop_table("stored_responses")
