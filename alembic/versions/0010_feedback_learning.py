"""outcomes of routed requests and the callers' feedback; exploration in the ledger

Revision ID: 0010_feedback_learning
Revises: 0009_team_policies
Create Date: 2026-12-06 15:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_feedback_learning"
down_revision: str | None = "0009_team_policies"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "route_outcomes",
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("response_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("model_name", sa.String(length=200), nullable=False),
        sa.Column("deployment_name", sa.String(length=200), nullable=False),
        sa.Column("task", sa.String(length=32), nullable=False),
        sa.Column("template", sa.String(length=16), nullable=False),
        sa.Column("features", sa.LargeBinary(), nullable=False),
        sa.Column("prompt", sa.Text(), nullable=True),
        sa.Column("exploration", sa.String(length=16), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=18, scale=10), nullable=False),
        sa.PrimaryKeyConstraint("route_id", name=op.f("pk_route_outcomes")),
        sa.UniqueConstraint("response_id", name=op.f("uq_route_outcomes_response_id")),
    )
    with op.batch_alter_table("route_outcomes") as batch:
        batch.create_index(batch.f("ix_route_outcomes_api_key_id"), ["api_key_id"], unique=False)
        batch.create_index(batch.f("ix_route_outcomes_created_at"), ["created_at"], unique=False)
    op.create_table(
        "route_feedback",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["route_id"],
            ["route_outcomes.route_id"],
            name=op.f("fk_route_feedback_route_id_route_outcomes"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_route_feedback")),
        sa.UniqueConstraint("route_id", "name", name="uq_route_feedback"),
    )
    with op.batch_alter_table("route_feedback") as batch:
        batch.create_index(batch.f("ix_route_feedback_route_id"), ["route_id"], unique=False)
        batch.create_index(batch.f("ix_route_feedback_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("usage_records") as batch:
        batch.add_column(sa.Column("exploration", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("usage_records") as batch:
        batch.drop_column("exploration")
    op.drop_table("route_feedback")
    op.drop_table("route_outcomes")
