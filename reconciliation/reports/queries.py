"""What the auditor reports hold: payment files in scope, the exceptions queue, the bank's
rejections and returns (with their reason in Vietnamese), a batch."""

from __future__ import annotations

from typing import Any, Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from disburse.core.reasons import describe_reason
from disburse.payments.models import Batch, Instruction, InstructionState, PaymentFile
from disburse.payments.service import batch_summary
from reconciliation.metrics import INSTRUCTING_BATCH_STATES, MetricsFilter, cashless_report

#: Exceptions a report lists at most (the queue is small by design; the API pages further).
MAX_EXCEPTIONS: Final = 10_000


def payment_files(session: Session, filters: MetricsFilter) -> list[dict[str, Any]]:
    """Return the payment files of the batches that hold instructions in scope, with hashes."""
    in_scope = select(Instruction.batch_id).distinct()
    given = [(Instruction.programme, filters.programme), (Instruction.province_code,
             filters.province), (Instruction.commune_code, filters.commune),
             (Instruction.period, filters.period), (Instruction.batch_id, filters.batch_id)]
    in_scope = in_scope.where(*[column == value for column, value in given if value is not None])
    if filters.period_from is not None and filters.period_to is not None:
        in_scope = in_scope.where(Instruction.period.between(filters.period_from,
                                                             filters.period_to))
    found = session.execute(select(PaymentFile).where(PaymentFile.batch_id.in_(in_scope))
                            .order_by(PaymentFile.batch_id, PaymentFile.route,
                                      PaymentFile.part_no)).scalars()
    return [{"batch_id": f.batch_id, "route": f.route, "part_no": f.part_no,
             "file_name": f.file_name, "msg_id": f.msg_id, "nb_of_txs": f.nb_of_txs,
             "ctrl_sum": f.ctrl_sum, "sha256": f.sha256, "size": f.size} for f in found]


def open_exceptions(session: Session, *, state: str | None = "open",
                    kind: str | None = None) -> list[dict[str, Any]]:
    """Return the reconciliation exceptions in ``state`` (None: all), oldest first.

    Reads the queue a page at a time through ``reconciliation.exceptions.list_exceptions``
    and stops at ``MAX_EXCEPTIONS``.
    """
    from reconciliation.exceptions import list_exceptions  # imported late: a sibling service

    items: list[dict[str, Any]] = []
    page = 1
    while len(items) < MAX_EXCEPTIONS:
        found = list_exceptions(session, state=state, kind=kind, page=page, per_page=500)
        items.extend(found["items"])
        if page * found["per_page"] >= found["total"]:
            break
        page += 1
    return [{"source": "exception", **item, **explain(item.get("reason_code"))}
            for item in items[:MAX_EXCEPTIONS]]


def explain(code: str | None) -> dict[str, str | None]:
    """The Vietnamese explanation and next step of a bank reason code (None without one)."""
    info = describe_reason(code)
    return {"reason_vi": info.vietnamese if info else None,
            "action_vi": info.action_label if info else None}


def rejections(session: Session, filters: MetricsFilter) -> list[dict[str, Any]]:
    """Return the payments in scope that banks rejected or returned, with the bank's reason
    code and its Vietnamese explanation (batches approved or later only), by batch and order.
    """
    i = Instruction
    given = [(i.programme, filters.programme), (i.province_code, filters.province),
             (i.commune_code, filters.commune), (i.period, filters.period),
             (i.batch_id, filters.batch_id)]
    where = [column == value for column, value in given if value is not None]
    if filters.period_from is not None and filters.period_to is not None:
        where.append(i.period.between(filters.period_from, filters.period_to))
    found = session.execute(
        select(i.id, i.batch_id, i.end_to_end_id, i.programme, i.period, i.province_code,
               i.commune_code, i.amount, i.state, i.reason_code)
        .join(Batch, Batch.id == i.batch_id)
        .where(*where, Batch.state.in_(INSTRUCTING_BATCH_STATES),
               i.state.in_((InstructionState.REJECTED.value, InstructionState.RETURNED.value)))
        .order_by(i.batch_id, i.seq).limit(MAX_EXCEPTIONS)).all()
    return [{"source": r.state, "id": r.id, "kind": r.state, "state": r.state,
             "batch_id": r.batch_id, "end_to_end_id": r.end_to_end_id,
             "programme": r.programme, "period": r.period, "province": r.province_code,
             "commune": r.commune_code, "amount": r.amount, "reason_code": r.reason_code,
             **explain(r.reason_code)} for r in found]


def batch_report(session: Session, batch_id: int) -> dict[str, Any]:
    """Return a batch's summary, its reconciliation figures, files and open exceptions.

    Raises:
        NotFound: no such batch.
    """
    from reconciliation.exceptions import open_exceptions_for_batch

    summary = batch_summary(session, batch_id)
    scope = MetricsFilter(batch_id=batch_id)
    blocking = set(open_exceptions_for_batch(session, batch_id))
    return {"batch": summary,
            "figures": cashless_report(session, scope).total.to_dict(),
            "files": payment_files(session, scope),
            "exceptions": [e for e in open_exceptions(session) if e["id"] in blocking],
            "rejections": rejections(session, scope)}
