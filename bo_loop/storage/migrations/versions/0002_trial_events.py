"""Audit trail: a ``trial_events`` table, one row per change of a trial.

Existing trials get their history back-filled from what 0001 stored: an ``ask`` (or ``add`` for
manual rows) at ``created_at``, then a ``tell``, ``fail`` or ``abandon`` at ``finished_at``.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# One value per trial: 0001 stores exactly one observation (the objective) per completed trial.
_VALUE = "(SELECT MAX(o.value) FROM observations o WHERE o.trial_id = t.id)"

_COLUMNS = (
    "campaign_id, trial_id, action, old_state, new_state, old_value, new_value, reason, created_at"
)


def upgrade() -> None:
    op.create_table(
        "trial_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column(
            "campaign_id",
            sa.Integer(),
            sa.ForeignKey("campaigns.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column(
            "trial_id", sa.Integer(), sa.ForeignKey("trials.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("old_state", sa.String(16), nullable=True),
        sa.Column("new_state", sa.String(16), nullable=False),
        sa.Column("old_value", sa.Float(precision=53), nullable=True),
        sa.Column("new_value", sa.Float(precision=53), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_trial_events_campaign_id", "trial_events", ["campaign_id"])
    op.create_index("ix_trial_events_trial_id", "trial_events", ["trial_id"])
    # Plain SQL that SQLite and PostgreSQL both run; ids come out in causal order per trial
    # (every creation before every finish), which is the order history() reports.
    op.execute(
        f"INSERT INTO trial_events ({_COLUMNS}) "
        "SELECT t.campaign_id, t.id, "
        "CASE WHEN t.source = 'manual' THEN 'add' ELSE 'ask' END, NULL, "
        "CASE WHEN t.source = 'manual' THEN t.state ELSE 'pending' END, NULL, "
        f"CASE WHEN t.source = 'manual' THEN {_VALUE} ELSE NULL END, NULL, t.created_at "
        "FROM trials t ORDER BY t.campaign_id, t.number"
    )
    op.execute(
        f"INSERT INTO trial_events ({_COLUMNS}) "
        "SELECT t.campaign_id, t.id, "
        "CASE t.state WHEN 'completed' THEN 'tell' WHEN 'failed' THEN 'fail' ELSE 'abandon' END, "
        f"'pending', t.state, NULL, {_VALUE}, t.reason, t.finished_at "
        "FROM trials t WHERE t.source <> 'manual' AND t.state <> 'pending' "
        "AND t.finished_at IS NOT NULL ORDER BY t.campaign_id, t.finished_at, t.number"
    )


def downgrade() -> None:
    op.drop_index("ix_trial_events_trial_id", table_name="trial_events")
    op.drop_index("ix_trial_events_campaign_id", table_name="trial_events")
    op.drop_table("trial_events")
