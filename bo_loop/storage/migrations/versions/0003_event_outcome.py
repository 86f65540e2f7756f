"""Several outcomes per trial: ``trial_events.outcome`` names the outcome whose value changed.

Events written before this revision keep NULL there: their campaigns have one objective, which is
the outcome their values belong to (``Campaign.history`` shows its name).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trial_events") as batch:
        batch.add_column(sa.Column("outcome", sa.String(255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("trial_events") as batch:
        batch.drop_column("outcome")
