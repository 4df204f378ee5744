"""Payment-batch use cases for entry points (CLI, API, scheduler), and reading batches.

Building lives in ``build.py`` (entitlements, exclusions, arrears, routing, bulk insert) and
maker-checker in ``approval.py``; this module adds the batch summary and re-exports their
public API, so callers need one import.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from disburse.core.errors import NotFound
from disburse.payments.approval import (
    EDIT_STATES,
    approve_batch,
    cancel_batch,
    current_approval,
    edit_instruction,
    hold_writer_lock,
    reject_batch,
    submit_batch,
)
from disburse.payments.build import (
    ACCOUNT_PROBLEMS,
    ARREARS_RULES,
    ArrearsRule,
    build_batch,
    end_to_end_id,
    parse_period,
    requested_execution_date,
)
from disburse.payments.lifecycle import allowed_actions
from disburse.payments.models import Approval, Batch, Instruction
from disburse.payments.routing import RoutingConfig

__all__ = [
    "ACCOUNT_PROBLEMS",
    "ARREARS_RULES",
    "EDIT_STATES",
    "ArrearsRule",
    "BatchSummary",
    "approve_batch",
    "batch_summary",
    "build_batch",
    "cancel_batch",
    "create_batch",
    "current_approval",
    "edit_instruction",
    "end_to_end_id",
    "hold_writer_lock",
    "list_batches",
    "parse_period",
    "reject_batch",
    "requested_execution_date",
    "submit_batch",
    "summarise",
]


@dataclass(frozen=True)
class BatchSummary:
    """A batch as its summary shows it: totals by route and bank, exclusions, approval."""

    batch_id: int
    programme: str
    period: str
    province_code: str | None
    state: str
    preparer: str
    requested_execution_date: date
    count: int
    total: int
    content_hash: str
    arrears_total: int
    rerouted: int
    by_route: list[dict[str, Any]]
    by_bank: list[dict[str, Any]]
    exclusions: dict[str, Any]
    reason: str | None
    approval: dict[str, Any] | None
    allowed_actions: list[str]

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data (dates as ISO strings)."""
        data = dict(vars(self))
        data["requested_execution_date"] = self.requested_execution_date.isoformat()
        data["excluded"] = sum(int(e["count"]) for e in self.exclusions.values())
        return data



def create_batch(session: Session, *, programme: str, period: str, province: str | None = None,
                 actor: str, routing: RoutingConfig, max_age_days: int, today: date
                 ) -> BatchSummary:
    """Build a draft batch (see ``build.build_batch``) and return its summary.

    Calls no registry: entry points use ``preparation.prepare_and_build``, which renews stale
    checks first in transactions of their own.

    Raises:
        Forbidden: the actor is not a preparer or admin.
        ValidationFailed: bad period. NotFound: unknown programme.
        ConfigurationError: an instruction has no route.
        Conflict: nothing to pay, or another build instructed the same people first.
    """
    batch = build_batch(session, programme=programme, period=period,
                        province=province, actor=actor, routing=routing,
                        max_age_days=max_age_days, today=today)
    return summarise(session, batch)


def _totals(session: Session, batch_id: int, column: Any) -> list[tuple[Any, int, int]]:
    rows = session.execute(
        select(column, func.count(), func.coalesce(func.sum(Instruction.amount), 0))
        .where(Instruction.batch_id == batch_id).group_by(column).order_by(column))
    return [(key, int(count), int(total)) for key, count, total in rows]


def _approval_dict(approval: Approval | None) -> dict[str, Any] | None:
    if approval is None:
        return None
    return {"id": approval.id, "approver": approval.approver, "at": approval.at.isoformat(),
            "batch_hash": approval.batch_hash, "count": approval.count,
            "total": approval.total}


def summarise(session: Session, batch: Batch) -> BatchSummary:
    """Return the summary of ``batch`` as stored now (totals are read from its instructions)."""
    i = Instruction
    arrears, rerouted = session.execute(
        select(func.coalesce(func.sum(i.arrears_amount), 0),
               func.count(i.rerouted_from)).where(i.batch_id == batch.id)).one()
    live = session.execute(select(Approval).where(
        Approval.batch_id == batch.id, Approval.voided_at.is_(None))
        .order_by(Approval.id.desc()).limit(1)).scalar_one_or_none()
    return BatchSummary(
        batch_id=batch.id, programme=batch.programme, period=batch.period,
        province_code=batch.province_code, state=batch.state, preparer=batch.preparer,
        requested_execution_date=batch.requested_execution_date, count=batch.count,
        total=batch.total, content_hash=batch.content_hash, arrears_total=int(arrears),
        rerouted=int(rerouted),
        by_route=[{"route": r, "count": n, "total": t}
                  for r, n, t in _totals(session, batch.id, i.route)],
        by_bank=[{"bank_bin": r, "count": n, "total": t}
                 for r, n, t in _totals(session, batch.id, i.bank_bin)],
        exclusions=dict(batch.exclusions or {}), reason=batch.reason,
        approval=_approval_dict(live),
        allowed_actions=[a.value for a in allowed_actions(batch.state)])


def batch_summary(session: Session, batch_id: int) -> dict[str, Any]:
    """Return the JSON-ready summary of batch ``batch_id`` (for the CLI and the API).

    Raises:
        NotFound: no such batch.
    """
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise NotFound(f"no batch {batch_id}")
    return summarise(session, batch).to_dict()


def list_batches(session: Session, *, programme: str | None = None, period: str | None = None,
                 state: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
    """Return the newest batches (optionally filtered) as JSON-ready rows."""
    query = select(Batch).order_by(Batch.id.desc()).limit(limit)
    for column, value in ((Batch.programme, programme), (Batch.period, period),
                          (Batch.state, state)):
        if value:
            query = query.where(column == value)
    return [{"id": b.id, "programme": b.programme, "period": b.period,
             "province_code": b.province_code, "state": b.state, "preparer": b.preparer,
             "count": b.count, "total": b.total, "created_at": b.created_at.isoformat()}
            for b in session.execute(query).scalars()]
