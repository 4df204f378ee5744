"""What a bank's answer means beyond the instruction: beneficiaries and batches.

* An account problem (AC01, AC03, AC04, AC06) flags the beneficiary's account for
  correction (``review_flags`` gets ``account_problem:<code>``). The failed amount is then
  eligible as arrears: the batch builder reads rejected/returned instructions and their codes.
* MD07 (holder deceased) suspends the beneficiary; suspended people are left out of batches
  until the population registry has been asked again.
* AM04 / TM01 (retry) need nothing here: the instruction stays rejected with its code.

The beneficiaries domain makes those changes (``beneficiaries.findings``): each bumps the
beneficiary's version, adds a history row and an audit entry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Final

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from beneficiaries import findings
from disburse.payments.lifecycle import BatchAction, BatchState
from disburse.payments.models import Instruction
from disburse.payments.state import apply_action, load_for_update
from reconciliation.matching import InstructionState
from reconciliation.records import ConsequenceClass, describe_reason

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
        person, instruction_id = owners[event["instruction_id"]], event["instruction_id"]
        if info.consequence is ConsequenceClass.ACCOUNT_PROBLEM:
            findings.flag_account_problem(session, person, info.code,
                                          instruction_id=instruction_id, actor=actor)
        elif info.consequence is ConsequenceClass.DECEASED:
            findings.suspend_deceased(session, person, actor=actor,
                                      evidence=findings.bank_reported_death(instruction_id))


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
