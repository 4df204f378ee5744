"""What matching works on and decides: instruction views, decisions and the state machine.

The data side of :mod:`reconciliation.matching` (which holds the algorithm and re-exports
these names): the states an instruction moves through, the exception kinds, the
:data:`TRANSITIONS` table with the fixed replay order, the content key of a record and the
account comparison form.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum

from disburse.core.instruction_states import InstructionState as InstructionState
from reconciliation.records import ReturnRecord, ReturnStatus


class ExceptionKind(StrEnum):
    """Why a record was not applied automatically."""

    UNKNOWN_END_TO_END_ID = "unknown_end_to_end_id"
    AMBIGUOUS_END_TO_END_ID = "ambiguous_end_to_end_id"
    AMOUNT_MISMATCH = "amount_mismatch"
    ACCOUNT_MISMATCH = "account_mismatch"
    SETTLED_AFTER_REJECTION = "settled_after_rejection"
    RETURNED_AFTER_REJECTION = "returned_after_rejection"
    RECORD_FOR_CANCELLED_INSTRUCTION = "record_for_cancelled_instruction"
    DUPLICATE_RECORD = "duplicate_record"
    FALLBACK_MATCH_NEEDS_REVIEW = "fallback_match_needs_review"
    NO_MATCH = "no_match"
    WHOLE_FILE_REJECTED = "whole_file_rejected"
    WHOLE_FILE_NEEDS_REVIEW = "whole_file_needs_review"
    UNKNOWN_MSG_ID = "unknown_msg_id"
    RECORD_FROM_OTHER_BANK = "record_from_other_bank"
    RECORD_FOR_UNSENT_INSTRUCTION = "record_for_unsent_instruction"
    MSG_ID_MISMATCH = "msg_id_mismatch"


@dataclass(frozen=True, slots=True)
class InstructionView:
    """What matching needs to know about one payment instruction.

    Attributes:
        instruction_id: The instruction's primary key.
        end_to_end_id: Its EndToEndId as sent.
        msg_id: MsgId of the payment file it was sent in, if sent in a file.
        amount: Whole dong.
        account: Beneficiary account or wallet number.
        bank_bin: NAPAS BIN of the beneficiary's bank.
        current_state: Its state now.
        bank_reference: A bank reference already known for it, if any.
        requested_date: The requested execution date.
    """

    instruction_id: int
    end_to_end_id: str
    msg_id: str | None
    amount: int
    account: str | None
    bank_bin: str | None
    current_state: InstructionState
    bank_reference: str | None
    requested_date: date | None


@dataclass(frozen=True, slots=True)
class Apply:
    """Move one instruction to ``new_state`` because of one record.

    ``from_state == new_state`` means the record agrees with what is already known: it is
    accounted for, and there is nothing to change.
    """

    instruction_id: int
    from_state: InstructionState
    new_state: InstructionState
    reason_code: str | None
    record_key: str
    record: ReturnRecord

    @property
    def changes_state(self) -> bool:
        """Whether applying this decision changes the instruction's state."""
        return self.from_state != self.new_state


@dataclass(frozen=True, slots=True)
class MatchException:
    """A record that needs a person, with the instructions it may concern."""

    kind: ExceptionKind
    record_key: str
    record: ReturnRecord
    candidate_ids: tuple[int, ...]
    detail: str


Decision = Apply | MatchException

_I = InstructionState
_S = ReturnStatus
_E = ExceptionKind
#: Exceptions that contest a state the bank already gave: the instruction is held (no
#: arrears, no re-routing, no account flag) until an auditor resolves them.
CONTESTING: frozenset[ExceptionKind] = frozenset({
    _E.SETTLED_AFTER_REJECTION, _E.RETURNED_AFTER_REJECTION})
#: Exceptions for records that may not touch the instruction at all: the signer is not the
#: bank it was sent to, it was never sent, or the record names another payment file.
OUT_OF_SCOPE: frozenset[ExceptionKind] = frozenset({
    _E.RECORD_FROM_OTHER_BANK, _E.RECORD_FOR_UNSENT_INSTRUCTION, _E.MSG_ID_MISMATCH})
# The fixed replay order of one instruction's records (lower first). A settlement comes
# before a rejection, so that ``paid`` is reached whenever the bank confirmed the money, and a
# rejection of a paid instruction is a conflict, never a way back to ``rejected``.
STATUS_PRECEDENCE: dict[ReturnStatus, int] = {
    _S.ACCEPTED: 0, _S.PENDING: 1, _S.SETTLED: 2, _S.REJECTED: 3, _S.RETURNED: 4,
}
# (current state, record status) -> next state, or the exception it raises. Every cell is
# written out (tests/unit/test_transitions.py checks each one). Final states hold: ``paid``
# leaves only through an explicit return of the money; ``rejected`` and ``returned`` are
# never reopened by a later record; a cancelled instruction was never sent.
TRANSITIONS: dict[tuple[InstructionState, ReturnStatus], InstructionState | ExceptionKind] = {
    (_I.INSTRUCTED, _S.ACCEPTED): _I.ACCEPTED,
    (_I.INSTRUCTED, _S.PENDING): _I.ACCEPTED,
    (_I.INSTRUCTED, _S.SETTLED): _I.PAID,
    (_I.INSTRUCTED, _S.REJECTED): _I.REJECTED,
    (_I.INSTRUCTED, _S.RETURNED): _I.RETURNED,
    (_I.ACCEPTED, _S.ACCEPTED): _I.ACCEPTED,
    (_I.ACCEPTED, _S.PENDING): _I.ACCEPTED,
    (_I.ACCEPTED, _S.SETTLED): _I.PAID,
    (_I.ACCEPTED, _S.REJECTED): _I.REJECTED,
    (_I.ACCEPTED, _S.RETURNED): _I.RETURNED,
    (_I.PAID, _S.ACCEPTED): _I.PAID,
    (_I.PAID, _S.PENDING): _I.PAID,
    (_I.PAID, _S.SETTLED): _I.PAID,
    (_I.PAID, _S.REJECTED): _E.SETTLED_AFTER_REJECTION,
    (_I.PAID, _S.RETURNED): _I.RETURNED,
    (_I.REJECTED, _S.ACCEPTED): _I.REJECTED,
    (_I.REJECTED, _S.PENDING): _I.REJECTED,
    (_I.REJECTED, _S.REJECTED): _I.REJECTED,
    (_I.REJECTED, _S.SETTLED): _E.SETTLED_AFTER_REJECTION,
    (_I.REJECTED, _S.RETURNED): _E.RETURNED_AFTER_REJECTION,
    (_I.RETURNED, _S.ACCEPTED): _I.RETURNED,
    (_I.RETURNED, _S.PENDING): _I.RETURNED,
    (_I.RETURNED, _S.SETTLED): _I.RETURNED,
    (_I.RETURNED, _S.RETURNED): _I.RETURNED,
    (_I.RETURNED, _S.REJECTED): _E.RETURNED_AFTER_REJECTION,
    (_I.CANCELLED, _S.ACCEPTED): _E.RECORD_FOR_CANCELLED_INSTRUCTION,
    (_I.CANCELLED, _S.PENDING): _E.RECORD_FOR_CANCELLED_INSTRUCTION,
    (_I.CANCELLED, _S.SETTLED): _E.RECORD_FOR_CANCELLED_INSTRUCTION,
    (_I.CANCELLED, _S.REJECTED): _I.CANCELLED,
    (_I.CANCELLED, _S.RETURNED): _E.RECORD_FOR_CANCELLED_INSTRUCTION,
}
#: Answers that contradict each other whatever their order: when an instruction has records
#: of both statuses, every record of the second status raises the exception (a settlement and
#: a rejection; a rejection and a return of money). The replay through :data:`TRANSITIONS`
#: raises them where it meets them; this rule also names the pairs a later record steps
#: around (a settlement replayed first lets a return follow a rejection unseen), so the queue
#: does not depend on the order the files came in.
PAIR_CONFLICTS: dict[tuple[ReturnStatus, ReturnStatus], ExceptionKind] = {
    (_S.SETTLED, _S.REJECTED): _E.SETTLED_AFTER_REJECTION,
    (_S.REJECTED, _S.RETURNED): _E.RETURNED_AFTER_REJECTION,
}
DEFAULT_DATE_WINDOW_DAYS = 3
# The same encoder ``json.dumps(parts, ensure_ascii=False)`` builds on every call, built once
# (the output is byte-identical, so stored keys stay valid).
_KEY_ENCODER = json.JSONEncoder(ensure_ascii=False)
# Its C core, made once too: ``encode`` makes a new one per call, about half of the cost
# of a key. No circular-reference markers: the key parts are a flat list of scalars.
_MAKE_C_ENCODER = getattr(json.encoder, "c_make_encoder", None)
_C_KEY_ENCODER = _MAKE_C_ENCODER(
    None, _KEY_ENCODER.default, json.encoder.encode_basestring, None,
    _KEY_ENCODER.key_separator, _KEY_ENCODER.item_separator, False, False, True,
) if _MAKE_C_ENCODER is not None else None
# Characters an account is compared without.
_ACCOUNT_NOISE = str.maketrans("", "", " .-")


def record_key(record: ReturnRecord, signer: str | None = None) -> str:
    """The content key of a record: equal keys mean the same bank statement about a payment.

    Built from the format, EndToEndId, MsgId, status, amount, bank reference, booking date,
    account, reason code and group status, and from the signing bank when given; not from
    the file it came in, so the same line in a re-sent file is a duplicate, while the same
    booking in a statement and in a notification are two reports (see
    :mod:`reconciliation.statements`). With the signer in the
    key, another bank's copy of a record (refused: it may not touch the payment) can never
    make the real bank's record look like a duplicate.

    Args:
        record: A parsed record.
        signer: BIN of the bank whose signature the file carried.

    Returns:
        A 64-character hex digest, stable across runs (fit for a UNIQUE column).
    """
    parts = [record.source_format.value, record.end_to_end_id, record.msg_id,
             record.status.value, record.amount,
             record.bank_reference,
             record.booking_date.isoformat() if record.booking_date else None,
             record.account, record.reason_code,
             record.group_status.value if record.group_status else None]
    if signer is not None:
        parts.append(signer)
    text = ("".join(_C_KEY_ENCODER(parts, 0)) if _C_KEY_ENCODER is not None
            else _KEY_ENCODER.encode(parts))
    return hashlib.sha256(text.encode()).hexdigest()


def tie_order(record: ReturnRecord) -> tuple[str, str, int, str]:
    """The order among records with the same key (fields outside the key).

    Args:
        record: A parsed record.

    Returns:
        A sort key; lower comes first.
    """
    # Total over every field outside the key, so the representative kept among duplicates
    # (and the order of exceptions with the same key) never depends on arrival order.
    return (record.source_format.value, record.file_sha256, record.record_index,
            record.reason_text or "")


def normalize_account(account: str | None) -> str | None:
    """Compare accounts without spaces, dots or dashes, upper-case (leading zeros kept).

    Args:
        account: An account or wallet number as written.

    Returns:
        The comparable form, or None.
    """
    if account is None:
        return None
    return account.translate(_ACCOUNT_NOISE).upper() or None


def apply_decisions(
    instructions: Iterable[InstructionView], decisions: Iterable[Decision]
) -> list[InstructionView]:
    """Return the instructions with the decisions' state changes applied (pure helper).

    Args:
        instructions: The instructions as they were matched.
        decisions: The output of :func:`match_returns`, in its order.

    Returns:
        New views, in ``instruction_id`` order; exceptions change nothing.
    """
    states = {view.instruction_id: view for view in instructions}
    for decision in decisions:
        if isinstance(decision, Apply) and decision.instruction_id in states:
            view = states[decision.instruction_id]
            states[decision.instruction_id] = replace(view, current_state=decision.new_state)
    return [states[key] for key in sorted(states)]
