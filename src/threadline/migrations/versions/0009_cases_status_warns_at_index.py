"""an index of the cases by (status, warns_at): the inbox counts Breaching soon from it

The desk's inbox shows every view's count on every load and live refresh. Breaching
soon is the unresolved cases whose warning time has passed; without this index that
count read every unresolved case's row (6 to 10 ms of the inbox's 50 on 10,000 open
cases, bench/desk.py), with it a range of the index alone (0.2 ms).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 23:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(op.f("ix_cases_status_warns_at"), "cases", ["status", "warns_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_cases_status_warns_at"), table_name="cases")
