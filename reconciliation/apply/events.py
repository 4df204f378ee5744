"""Writing what matching decided: each record's decision and the instruction state events.

Only the difference between the replayed state and the current one is written, as new
``instruction_events``: importing the same records again writes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import (
    select,
)
from sqlalchemy.orm import Session

from disburse.core.clock import utcnow
from disburse.payments.models import Instruction
from reconciliation.apply.bulk import EVENTS, INSTRUCTIONS, RECORDS, executemany
from reconciliation.matching import (
    Apply,
    InstructionState,
    InstructionView,
    MatchException,
)
from reconciliation.models import (
    RecordDecision,
)


def set_decisions(session: Session, ids: dict[str, int], applies: Sequence[Apply],
                   raised: Sequence[MatchException]) -> None:
    """Record, per record, whether it was applied (and to which instruction) or queued."""
    matched: dict[str, set[int]] = defaultdict(set)
    for a in applies:
        matched[a.record_key].add(a.instruction_id)
    queued = {e.record_key for e in raised}
    updates = []
    for key in sorted(set(matched) | queued):
        targets = matched.get(key, set())
        updates.append(((RecordDecision.EXCEPTION if key in queued
                         else RecordDecision.APPLIED).value,
                        next(iter(targets)) if len(targets) == 1 else None, ids[key]))
    # One executemany of plain tuples, not the ORM's bulk update.
    executemany(session, RECORDS, ("decision", "matched_instruction_id"), updates,
                 key=("id",))


def write_events(session: Session, views: Sequence[InstructionView], applies: Sequence[Apply],
                  ids: dict[str, int], *, actor: str) -> list[dict[str, Any]]:
    """Write the difference between each recomputed and current state as new events."""
    steps: dict[int, list[Apply]] = defaultdict(list)
    for a in applies:
        if a.changes_state:
            steps[a.instruction_id].append(a)
    events: list[dict[str, Any]] = []
    changes: list[tuple[str, str | None, int]] = []
    now = utcnow()
    current_codes = dict(session.execute(select(Instruction.id, Instruction.reason_code).where(
        Instruction.id.in_(list(steps)))).tuples().all()) if steps else {}
    for view in views:
        chain = steps.get(view.instruction_id)
        if not chain or (chain[-1].new_state, _code(chain[-1].reason_code)) == (
                view.current_state, current_codes.get(view.instruction_id)):
            continue  # nothing new; never fall back to the base state without a record
        for a in _steps_from(view.current_state, chain):
            events.append({"instruction_id": view.instruction_id,
                           "from_state": a.from_state.value, "to_state": a.new_state.value,
                           "reason_code": a.reason_code, "return_record_id": ids[a.record_key],
                           "actor": actor, "at": now})
        changes.append((chain[-1].new_state.value, _code(chain[-1].reason_code),
                        view.instruction_id))
    if events:
        executemany(session, EVENTS, _EVENT_COLUMNS,
                     ([e[c] for c in _EVENT_COLUMNS] for e in events))
        executemany(session, INSTRUCTIONS, ("state", "reason_code"), changes, key=("id",))
    return events


_EVENT_COLUMNS = ("instruction_id", "from_state", "to_state", "reason_code",
                  "return_record_id", "actor", "at")


def _code(reason_code: str | None) -> str | None:
    """The reason code as an instruction stores it (at most 8 characters)."""
    return (reason_code or "")[:8] or None


def _steps_from(current: InstructionState, chain: Sequence[Apply]) -> list[Apply]:
    """The part of a recomputed chain after ``current``; one jump when it is not on the path.

    The jump also covers a changed reason with an unchanged state (e.g. two rejections
    arriving in the other order): the code of the recomputed chain wins, as a new event.
    """
    for position, a in enumerate(chain):
        if a.from_state == current:
            return list(chain[position:])
    last = chain[-1]
    return [Apply(last.instruction_id, current, last.new_state, last.reason_code,
                  last.record_key, last.record)]
