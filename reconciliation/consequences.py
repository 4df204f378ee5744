"""What a bank's answer means beyond the instruction: beneficiaries and batches.

* An account problem (AC01, AC03, AC04, AC06) flags the beneficiary's account for
  correction (``review_flags`` gets ``account_problem:<code>``). The failed amount is then
  eligible as arrears: the batch builder reads rejected/returned instructions and their codes.
* MD07 (holder deceased) suspends the beneficiary; suspended people are left out of batches
  until the population registry has been asked again.
* AM04 / TM01 (retry) need nothing here: the instruction stays rejected with its code.

Every beneficiary change bumps its version, adds a history row and an audit entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryHistory, BeneficiaryStatus
from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.payments.lifecycle import BatchAction, BatchState
from disburse.payments.models import Instruction
from disburse.payments.state import apply_action, load_for_update
from reconciliation.matching import InstructionState
from reconciliation.records import ConsequenceClass, describe_reason

ACCOUNT_FLAG_PREFIX: Final = "account_problem:"
MD07_REASON: Final = "bank reports holder deceased (MD07)"
FAILED: Final = frozenset({InstructionState.REJECTED.value, InstructionState.RETURNED.value})
FINAL: Final = frozenset({InstructionState.PAID.value, InstructionState.REJECTED.value,
                          InstructionState.RETURNED.value, InstructionState.CANCELLED.value})
SETTLING: Final = frozenset({BatchState.SUBMITTED.value, BatchState.PARTIALLY_SETTLED.value})
_CHUNK = 5000


def apply_consequences(session: Session, events: Sequence[dict[str, Any]], *, actor: str
                       ) -> None:
    """Act on the beneficiaries of instructions a bank reports failed with a telling reason.

    Args:
        session: The caller's session.
        events: What new records said (dicts with ``instruction_id``, ``to_state`` and
            ``reason_code``); only rejected/returned with a reason code act. Acting twice
            on the same person and code changes nothing.
        actor: Who is applying the returns.
    """
    failed = [e for e in events if e["to_state"] in FAILED and e["reason_code"]]
    if not failed:
        return
    owners = dict(session.execute(
        select(Instruction.id, Instruction.beneficiary_id)
        .where(Instruction.id.in_({e["instruction_id"] for e in failed}))).tuples().all())
    for event in failed:
        info = describe_reason(event["reason_code"])
        if info is None:
            continue
        person = session.execute(select(Beneficiary).where(
            Beneficiary.id == owners[event["instruction_id"]]).with_for_update()).scalar_one()
        if info.consequence is ConsequenceClass.ACCOUNT_PROBLEM:
            _flag_account(session, person, info.code, event["instruction_id"], actor)
        elif info.consequence is ConsequenceClass.DECEASED:
            _suspend_deceased(session, person, event["instruction_id"], actor)


def _history(session: Session, person: Beneficiary, change: str, changed: dict[str, Any],
             reason: str, actor: str) -> None:
    person.version += 1
    person.updated_at = utcnow()
    session.add(BeneficiaryHistory(beneficiary_id=person.id, version=person.version,
                                   change=change, changed=changed, actor=actor[:64],
                                   import_id=None, reason=reason[:300], at=utcnow()))
    session.flush()


def _flag_account(session: Session, person: Beneficiary, code: str, instruction_id: int,
                  actor: str) -> None:
    flag = f"{ACCOUNT_FLAG_PREFIX}{code}"
    before = list(person.review_flags or [])
    if flag in before:
        return
    person.review_flags = [*before, flag]
    reason = f"bank reports {code} for payment instruction {instruction_id}"
    _history(session, person, "flagged",
             {"review_flags": {"from": before, "to": person.review_flags}}, reason, actor)
    audit.record(session, actor=actor, action="beneficiary.flag_account",
                 object_type="beneficiary", object_id=person.id,
                 detail={"reason_code": code, "instruction_id": instruction_id})


def _suspend_deceased(session: Session, person: Beneficiary, instruction_id: int,
                      actor: str) -> None:
    if person.status != BeneficiaryStatus.ACTIVE.value:
        return  # already suspended or ended: nothing to stop
    before = person.status
    person.status = BeneficiaryStatus.SUSPENDED.value
    person.status_reason = MD07_REASON
    _history(session, person, "suspended",
             {"status": {"from": before, "to": person.status}}, MD07_REASON, actor)
    audit.record(session, actor=actor, action="beneficiary.suspend_md07",
                 object_type="beneficiary", object_id=person.id,
                 detail={"reason_code": "MD07", "instruction_id": instruction_id})


def settle_batches(session: Session, instruction_ids: Iterable[int], *, actor: str
                   ) -> dict[int, str]:
    """Move the batches of these instructions to ``partially_settled`` or ``settled``.

    A batch that is ``submitted`` or ``partially_settled`` is settled when every instruction
    is final, and partially settled when some are.

    Args:
        session: The caller's session.
        instruction_ids: Instructions whose state may have changed.
        actor: Recorded on the batch transition.

    Returns:
        Batch id -> new state, for the batches that moved.
    """
    ids = sorted(set(instruction_ids))
    batch_ids: set[int] = set()
    for start in range(0, len(ids), _CHUNK):
        batch_ids.update(session.execute(select(Instruction.batch_id).distinct().where(
            Instruction.id.in_(ids[start:start + _CHUNK]))).scalars())
    moved: dict[int, str] = {}
    for batch_id in sorted(batch_ids):
        batch = load_for_update(session, batch_id)
        if batch.state not in SETTLING:
            continue
        counts = Counter(dict(session.execute(
            select(Instruction.state, func.count()).where(Instruction.batch_id == batch_id)
            .group_by(Instruction.state)).tuples().all()))
        final = sum(n for state, n in counts.items() if state in FINAL)
        action = (BatchAction.SETTLE_ALL if final == counts.total()
                  else BatchAction.SETTLE_PART if final and batch.state == BatchState.SUBMITTED
                  else None)
        if action is not None:
            moved[batch_id] = apply_action(session, batch, action, actor=actor,
                                           detail={"instructions": dict(counts)}).value
    return moved
