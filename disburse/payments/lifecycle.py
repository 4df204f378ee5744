"""The batch lifecycle as an explicit state table, with pure functions over it."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from disburse.core.errors import InvalidTransition


class BatchState(StrEnum):
    """Where a batch is in its life."""

    DRAFT = "draft"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    FILES_READY = "files_ready"
    SUBMITTED = "submitted"
    PARTIALLY_SETTLED = "partially_settled"
    SETTLED = "settled"
    CLOSED = "closed"
    CANCELLED = "cancelled"


class BatchAction(StrEnum):
    """What can be done to a batch."""

    SUBMIT = "submit"  # preparer asks for approval
    APPROVE = "approve"  # a different user with the approver role
    REJECT = "reject"  # back to draft, with a reason
    VOID_APPROVAL = "void_approval"  # content changed after approval
    WRITE_FILES = "write_files"
    SEND = "send"
    SETTLE_PART = "settle_part"
    SETTLE_ALL = "settle_all"
    CLOSE = "close"
    CANCEL = "cancel"  # only before submission


S, A = BatchState, BatchAction
#: (action, from state) -> to state. Anything not listed is refused.
TRANSITIONS: Final[dict[tuple[BatchAction, BatchState], BatchState]] = {
    (A.SUBMIT, S.DRAFT): S.PENDING_APPROVAL,
    (A.APPROVE, S.PENDING_APPROVAL): S.APPROVED,
    (A.REJECT, S.PENDING_APPROVAL): S.DRAFT,
    (A.VOID_APPROVAL, S.APPROVED): S.DRAFT,
    (A.VOID_APPROVAL, S.FILES_READY): S.DRAFT,
    (A.WRITE_FILES, S.APPROVED): S.FILES_READY,
    (A.WRITE_FILES, S.FILES_READY): S.FILES_READY,  # re-writing gives the same bytes
    (A.SEND, S.FILES_READY): S.SUBMITTED,
    (A.SETTLE_PART, S.SUBMITTED): S.PARTIALLY_SETTLED,
    (A.SETTLE_PART, S.PARTIALLY_SETTLED): S.PARTIALLY_SETTLED,
    (A.SETTLE_ALL, S.SUBMITTED): S.SETTLED,
    (A.SETTLE_ALL, S.PARTIALLY_SETTLED): S.SETTLED,
    (A.CLOSE, S.SETTLED): S.CLOSED,
    (A.CANCEL, S.DRAFT): S.CANCELLED,
    (A.CANCEL, S.PENDING_APPROVAL): S.CANCELLED,
    (A.CANCEL, S.APPROVED): S.CANCELLED,
    (A.CANCEL, S.FILES_READY): S.CANCELLED,
}

#: States whose instructions may still be edited (an edit in approved/files_ready voids).
EDITABLE: Final = frozenset({S.DRAFT})
#: States after which money may have left: nothing can be cancelled any more.
SENT: Final = frozenset({S.SUBMITTED, S.PARTIALLY_SETTLED, S.SETTLED, S.CLOSED})


def next_state(state: BatchState | str, action: BatchAction | str) -> BatchState:
    """Return the state ``action`` leads to from ``state``.

    Raises:
        InvalidTransition: the table has no such move.
    """
    key = (BatchAction(action), BatchState(state))
    target = TRANSITIONS.get(key)
    if target is None:
        allowed = sorted(a.value for (a, s) in TRANSITIONS if s == key[1])
        raise InvalidTransition(
            f"cannot {key[0].value} a batch that is {key[1].value}; "
            f"allowed: {', '.join(allowed) or 'nothing'}"
        )
    return target


def allowed_actions(state: BatchState | str) -> list[BatchAction]:
    """Return the actions the table allows from ``state``."""
    current = BatchState(state)
    return [a for (a, s) in TRANSITIONS if s == current]
