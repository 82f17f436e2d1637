"""calls, call-backs and text consent: the phone and SMS channels

`calls` holds a call's state while its webhooks arrive (its touch carries the figures),
`call_events` each provider request once (a replay changes nothing), `call_backs` the
calls owed to customers who hung up waiting or left a voicemail, `sms_consents` the
numbers that sent STOP.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 09:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("sid", sa.String(length=64), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("touch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "direction",
            sa.Enum("in", "out", "internal", name="direction", native_enum=False, length=24),
            nullable=False,
        ),
        sa.Column("customer_number", sa.String(length=40), nullable=True),
        sa.Column("our_number", sa.String(length=40), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "ringing",
                "queued",
                "in_progress",
                "on_hold",
                "completed",
                "no_answer",
                "busy",
                "failed",
                "canceled",
                name="callstatus",
                native_enum=False,
                length=24,
            ),
            nullable=False,
        ),
        sa.Column("queue", sa.String(length=64), nullable=True),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("queued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("wait_seconds", sa.Float(), nullable=True),
        sa.Column("hold_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hold_seconds", sa.Float(), nullable=False),
        sa.Column("holds", sa.Integer(), nullable=False),
        sa.Column("longest_hold_seconds", sa.Float(), nullable=False),
        sa.Column("abandoned", sa.Boolean(), nullable=False),
        sa.Column("voicemail", sa.Boolean(), nullable=False),
        sa.Column("recording_url", sa.String(length=500), nullable=True),
        sa.Column("transcription", sa.Text(), nullable=True),
        sa.Column("recording_paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recording_pauses", sa.JSON(), nullable=False),
        sa.Column("earlier_wait_seconds", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["agent_id"], ["agents.id"], name=op.f("fk_calls_agent_id_agents")),
        sa.ForeignKeyConstraint(["case_id"], ["cases.id"], name=op.f("fk_calls_case_id_cases")),
        sa.ForeignKeyConstraint(
            ["touch_id"], ["touches.id"], name=op.f("fk_calls_touch_id_touches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
        sa.UniqueConstraint("sid", name=op.f("uq_calls_sid")),
        sa.UniqueConstraint("touch_id", name=op.f("uq_calls_touch_id")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_calls_case_id"), ["case_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_calls_status_queue"), ["status", "queue"], unique=False
        )

    op.create_table(
        "sms_consents",
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("keyword", sa.String(length=16), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("touch_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.ForeignKeyConstraint(
            ["touch_id"], ["touches.id"], name=op.f("fk_sms_consents_touch_id_touches")
        ),
        sa.PrimaryKeyConstraint("number", name=op.f("pk_sms_consents")),
    )
    op.create_table(
        "call_backs",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("case_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("agent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("number", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "done_call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"], ["agents.id"], name=op.f("fk_call_backs_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_backs_call_id_calls")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_call_backs_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["done_call_id"], ["calls.id"], name=op.f("fk_call_backs_done_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_backs")),
    )
    with op.batch_alter_table("call_backs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_call_backs_agent_id_done_at"), ["agent_id", "done_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_call_backs_case_id"), ["case_id"], unique=False)

    op.create_table(
        "call_events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_call_events_call_id_calls")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_events")),
        sa.UniqueConstraint("key", name=op.f("uq_call_events_key")),
    )
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_call_events_call_id"), ["call_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("call_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_events_call_id"))

    op.drop_table("call_events")
    with op.batch_alter_table("call_backs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_call_backs_case_id"))
        batch_op.drop_index(batch_op.f("ix_call_backs_agent_id_done_at"))

    op.drop_table("call_backs")
    op.drop_table("sms_consents")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_calls_status_queue"))
        batch_op.drop_index(batch_op.f("ix_calls_case_id"))

    op.drop_table("calls")
