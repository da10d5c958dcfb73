"""A registered SM2 seal carries its GB/T 38540 ``SESeal``: ``seals.ses_seal`` (issue 14).

The seal maker signs it once, when the seal is registered (or its key rotated), so every document
sealed with it and every ``esign seals export-esl`` carries the very same seal. Seals registered
before (or without a configured seal maker) have none; ``export-esl`` with a maker makes and stores it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # a nullable ADD COLUMN works in place on SQLite (no table rebuild) and on PostgreSQL alike
    op.add_column("seals", sa.Column("ses_seal", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("seals", "ses_seal")
