"""Chained audit checkpoints (``prev_digest``) and sealed documents kept under an Idempotency-Key.

Existing checkpoints keep ``prev_digest`` NULL: they were signed without it and still verify as
the legacy, unchained kind (see docs/audit.md).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.add_column(sa.Column("prev_digest", sa.String(64), nullable=True))
    op.create_table(
        "idempotent_seals",
        sa.Column("client", sa.String(128), primary_key=True),
        sa.Column("key", sa.String(200), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("seal_code", sa.String(64), nullable=False),
        sa.Column("audit_seq", sa.BigInteger, nullable=False),
        sa.Column("sha256_before", sa.String(64), nullable=False),
        sa.Column("pdf", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_idempotent_seals_created_at", "idempotent_seals", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_idempotent_seals_created_at", "idempotent_seals")
    op.drop_table("idempotent_seals")
    with op.batch_alter_table("audit_checkpoints") as batch:
        batch.drop_column("prev_digest")
