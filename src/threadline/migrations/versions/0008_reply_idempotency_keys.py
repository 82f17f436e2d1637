"""reply idempotency keys: a retried reply is answered, not sent twice

`reply_keys` holds each agent's `Idempotency-Key` with the touch its reply made and a
hash of the request; the unique index on (agent_id, key) lets exactly one of two copies
of a request sent at once make the reply.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "reply_keys",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("touch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_reply_keys_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["touch_id"], ["touches.id"], name=op.f("fk_reply_keys_touch_id_touches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_keys")),
        sa.UniqueConstraint("agent_id", "key", name=op.f("uq_reply_keys_agent_id_key")),
    )


def downgrade() -> None:
    op.drop_table("reply_keys")
