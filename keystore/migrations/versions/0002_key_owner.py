"""Keys belong to an organisation or to the platform: ``keys.owner``.

Existing keys get the owner their certificate names: its unified social credit code, or — for a
certificate without one, like the audit-checkpoint key — the platform, whose keys back no seal.
A seal registered on a key its organisation does not own stays in the registry (its history is
evidence) but can no longer seal (``KEY_NOT_BINDABLE``).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from keystore.keyring import chain_from_pem
from keystore.ownership import PLATFORM_OWNER, owner_from_certificate

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_keys = sa.table("keys", sa.column("id", sa.Integer), sa.column("cert_chain", sa.Text), sa.column("owner"))


def upgrade() -> None:
    # ADD COLUMN with a constant default works in place on SQLite (no table rebuild, which the
    # seals' foreign key on keys.name would forbid) and on PostgreSQL alike
    op.add_column("keys", sa.Column("owner", sa.String(18), nullable=False, server_default=PLATFORM_OWNER))
    connection = op.get_bind()
    for key_id, chain in connection.execute(sa.select(_keys.c.id, _keys.c.cert_chain)).all():
        owner = owner_from_certificate(chain_from_pem(chain)[0])
        if owner != PLATFORM_OWNER:
            connection.execute(_keys.update().where(_keys.c.id == key_id).values(owner=owner))


def downgrade() -> None:
    op.drop_column("keys", "owner")
