"""Initial schema: keys, seals and their history, API clients and grants, the audit chain.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_time = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reference", sa.Text, nullable=False),
        sa.Column("cert_chain", sa.Text, nullable=False),
        sa.Column("created_at", _time, nullable=False),
    )
    op.create_table(
        "seals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("seal_type", sa.String(2), nullable=False),
        sa.Column("org_name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("key_name", sa.String(128), sa.ForeignKey("keys.name"), nullable=False),
        sa.Column("cert_chain", sa.Text, nullable=False),
        sa.Column("appearance", sa.LargeBinary, nullable=False),
        sa.Column("appearance_width_mm", sa.Float, nullable=False),
        sa.Column("appearance_height_mm", sa.Float, nullable=False),
        sa.Column("valid_from", _time, nullable=False),
        sa.Column("valid_to", _time, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("updated_at", _time, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False),
    )
    op.create_table(
        "seal_events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("seal_id", sa.Integer, sa.ForeignKey("seals.id"), nullable=False, index=True),
        sa.Column("at", _time, nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_table(
        "clients",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(128), nullable=False, unique=True),
        sa.Column("org_name", sa.String(200), nullable=False),
        sa.Column("uscc", sa.String(18), nullable=False, index=True),
        sa.Column("roles", sa.String(200), nullable=False),
        sa.Column("key_hash", sa.String(256), nullable=False),
        sa.Column("created_at", _time, nullable=False),
        sa.Column("revoked_at", _time, nullable=True),
    )
    op.create_table(
        "grants",
        sa.Column("client_id", sa.Integer, sa.ForeignKey("clients.id"), primary_key=True),
        sa.Column("seal_id", sa.Integer, sa.ForeignKey("seals.id"), primary_key=True),
    )
    op.create_table(
        "audit_records",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("action", sa.String(32), nullable=False, index=True),
        sa.Column("seal_code", sa.String(64), nullable=True),
        sa.Column("request_id", sa.String(200), nullable=True, index=True),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("at", sa.String(40), nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("certificate", sa.LargeBinary, nullable=False),
    )


def downgrade() -> None:
    for table in ("audit_checkpoints", "audit_records", "grants", "clients", "seal_events", "seals", "keys"):
        op.drop_table(table)
