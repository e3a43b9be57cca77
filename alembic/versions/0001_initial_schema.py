"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:59:01.623445
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("is_admin", sa.Boolean(), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
        sa.UniqueConstraint("name", name=op.f("uq_api_keys_name")),
    )
    op.create_table(
        "catalog_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_version")),
    )
    op.create_table(
        "licenses",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("version", sa.String(length=64), nullable=True),
        sa.Column("released", sa.Date(), nullable=True),
        sa.Column("spdx_id", sa.String(length=64), nullable=True),
        sa.Column(
            "commercial_use",
            sa.Enum(
                "allowed",
                "conditional",
                "forbidden",
                "unknown",
                name="commercialuse",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("commercial_condition", sa.Text(), nullable=True),
        sa.Column("user_threshold", sa.BigInteger(), nullable=True),
        sa.Column(
            "user_threshold_measure",
            sa.Enum(
                "none",
                "at_release",
                "at_any_time",
                name="userthresholdmeasure",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("research_only", sa.Boolean(), nullable=False),
        sa.Column("permitted_use_note", sa.Text(), nullable=True),
        sa.Column("hosting_condition", sa.Text(), nullable=True),
        sa.Column("attribution_text", sa.Text(), nullable=True),
        sa.Column("notice_text", sa.Text(), nullable=True),
        sa.Column("ship_license_copy", sa.Boolean(), nullable=False),
        sa.Column("redistribution_conditions", sa.JSON(), nullable=False),
        sa.Column("derivative_terms", sa.Text(), nullable=True),
        sa.Column(
            "outputs_to_improve_models",
            sa.Enum(
                "allowed",
                "allowed_with_conditions",
                "forbidden",
                "unknown",
                name="outputsuse",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("outputs_condition", sa.Text(), nullable=True),
        sa.Column("outputs_same_family_exception", sa.Boolean(), nullable=False),
        sa.Column("acceptable_use_policy", sa.Boolean(), nullable=True),
        sa.Column("acceptable_use_policy_url", sa.String(length=500), nullable=True),
        sa.Column("naming_rule", sa.Text(), nullable=True),
        sa.Column("naming_prefix", sa.String(length=64), nullable=True),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("unverified_terms", sa.JSON(), nullable=False),
        sa.Column("clauses", sa.JSON(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_licenses")),
    )
    op.create_table(
        "models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("hf_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("family", sa.String(length=64), nullable=False),
        sa.Column("parameters", sa.BigInteger(), nullable=True),
        sa.Column("active_parameters", sa.BigInteger(), nullable=True),
        sa.Column("context_window", sa.Integer(), nullable=True),
        sa.Column("release_date", sa.Date(), nullable=True),
        sa.Column(
            "release_date_precision",
            sa.Enum("day", "month", "year", name="dateprecision", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("gated", sa.Boolean(), nullable=True),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("unverified_fields", sa.JSON(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_models")),
        sa.UniqueConstraint("hf_id", name=op.f("uq_models_hf_id")),
    )
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_models_family"), ["family"], unique=False)

    op.create_table(
        "benchmark_scores",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("benchmark", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("setting", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_url", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_benchmark_scores_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_benchmark_scores")),
        sa.UniqueConstraint("model_id", "benchmark", "setting", name="uq_score"),
    )
    with op.batch_alter_table("benchmark_scores", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_benchmark_scores_benchmark"), ["benchmark"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_benchmark_scores_model_id"), ["model_id"], unique=False
        )

    op.create_table(
        "deployments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column(
            "kind",
            sa.Enum(
                "embedded", "local", "hosted", name="deploymentkind", native_enum=False, length=32
            ),
            nullable=False,
        ),
        sa.Column("provider", sa.String(length=64), nullable=False),
        sa.Column("served_name", sa.String(length=300), nullable=False),
        sa.Column("base_url", sa.String(length=500), nullable=True),
        sa.Column("input_cost_per_token", sa.Float(), nullable=True),
        sa.Column("output_cost_per_token", sa.Float(), nullable=True),
        sa.Column(
            "price_source",
            sa.Enum(
                "litellm",
                "manual",
                "hardware",
                "free",
                name="pricesource",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("cost_per_hour", sa.Float(), nullable=True),
        sa.Column("tokens_per_second", sa.Float(), nullable=True),
        sa.Column("region", sa.String(length=64), nullable=True),
        sa.Column(
            "privacy",
            sa.Enum("local", "external", name="privacy", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("max_context", sa.Integer(), nullable=True),
        sa.Column(
            "status",
            sa.Enum("active", "disabled", name="deploymentstatus", native_enum=False, length=32),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_deployments_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deployments")),
        sa.UniqueConstraint("name", name=op.f("uq_deployments_name")),
    )
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deployments_model_id"), ["model_id"], unique=False)

    op.create_table(
        "license_assignments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("license_id", sa.String(length=64), nullable=False),
        sa.Column("effective_from", sa.Date(), nullable=True),
        sa.Column("effective_to", sa.Date(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=False),
        sa.Column("source", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["license_id"], ["licenses.id"], name=op.f("fk_license_assignments_license_id_licenses")
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_license_assignments_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_assignments")),
    )
    with op.batch_alter_table("license_assignments", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_license_assignments_license_id"), ["license_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_license_assignments_model_id"), ["model_id"], unique=False
        )

    op.create_table(
        "model_aliases",
        sa.Column("alias", sa.String(length=200), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_model_aliases_model_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_model_aliases")),
    )
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_aliases_model_id"), ["model_id"], unique=False)

    op.create_table(
        "model_parents",
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=False),
        sa.Column(
            "relation",
            sa.Enum(
                "finetune",
                "quantized",
                "merge",
                "adapter",
                name="parentrelation",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["child_id"],
            ["models.id"],
            name=op.f("fk_model_parents_child_id_models"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["models.id"],
            name=op.f("fk_model_parents_parent_id_models"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("child_id", "parent_id", name=op.f("pk_model_parents")),
    )
    with op.batch_alter_table("model_parents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_model_parents_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "usage_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("route_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("api_key_id", sa.Integer(), nullable=True),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("deployment_id", sa.Integer(), nullable=True),
        sa.Column("model_name", sa.String(length=200), nullable=True),
        sa.Column("deployment_name", sa.String(length=200), nullable=True),
        sa.Column("input_tokens", sa.Integer(), nullable=False),
        sa.Column("output_tokens", sa.Integer(), nullable=False),
        sa.Column("cost_usd", sa.Numeric(precision=18, scale=10), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("license_basis", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["api_key_id"],
            ["api_keys.id"],
            name=op.f("fk_usage_records_api_key_id_api_keys"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["deployment_id"],
            ["deployments.id"],
            name=op.f("fk_usage_records_deployment_id_deployments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["models.id"],
            name=op.f("fk_usage_records_model_id_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_records")),
        sa.UniqueConstraint("route_id", name=op.f("uq_usage_records_route_id")),
    )
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_usage_records_api_key_id"), ["api_key_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_usage_records_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_usage_records_model_name"), ["model_name"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("usage_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_usage_records_model_name"))
        batch_op.drop_index(batch_op.f("ix_usage_records_created_at"))
        batch_op.drop_index(batch_op.f("ix_usage_records_api_key_id"))

    op.drop_table("usage_records")
    with op.batch_alter_table("model_parents", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_parents_parent_id"))

    op.drop_table("model_parents")
    with op.batch_alter_table("model_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_model_aliases_model_id"))

    op.drop_table("model_aliases")
    with op.batch_alter_table("license_assignments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_license_assignments_model_id"))
        batch_op.drop_index(batch_op.f("ix_license_assignments_license_id"))

    op.drop_table("license_assignments")
    with op.batch_alter_table("deployments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deployments_model_id"))

    op.drop_table("deployments")
    with op.batch_alter_table("benchmark_scores", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_benchmark_scores_model_id"))
        batch_op.drop_index(batch_op.f("ix_benchmark_scores_benchmark"))

    op.drop_table("benchmark_scores")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_family"))

    op.drop_table("models")
    op.drop_table("licenses")
    op.drop_table("catalog_version")
    op.drop_table("api_keys")
