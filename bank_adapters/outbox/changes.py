"""The audit trail entry of every submission state change."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from bank_adapters.models import Submission, SubmissionState
from disburse.core import audit


def audit_change(session: Session, actor: str, row: Submission,
                 before: SubmissionState | None, after: SubmissionState,
                 detail: dict[str, Any] | None = None) -> None:
    """Write one submission state change to the audit trail."""
    audit.record(session, actor=actor, action=f"submission.{after.value}",
                 object_type="submission", object_id=row.msg_id,
                 detail={"from": before.value if before else None, "to": after.value,
                         "route": row.route, "attempts": row.attempts, **(detail or {})})
