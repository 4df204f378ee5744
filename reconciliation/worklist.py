"""The conversion worklist: who in each commune is still paid in cash, or by a failed account.

A commune officer raises the cashless rate person by person: for one period, every
beneficiary whose payment went (or goes) in cash, or whose account payment the bank rejected
or returned, with what is missing and how to reach them:

- ``no_account``: the list gave no account (paid in cash by choice or for lack of one);
- ``account_problem``: the bank refused the account (closed, blocked, wrong number); the
  bank's reason code and its Vietnamese explanation (``disburse.core.reasons``) say which.
  A person re-routed to cash after such a refusal is listed with the refusal's code;
- ``name_mismatch``: the account holder's name does not match (a bank ``name`` code, or the
  list's own holder-name finding);
- ``bank_refused``: another refusal (the reason says what to do).

Only batches approved or later count (the figures' definition). The contact is the phone the
list gave (decrypted with the keyring); citizen IDs are masked to their last 4 digits.
The trend counts the people on the worklist per commune and month, so one sees which
communes move. The database selects and counts; classification is pure (``gap_of``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from beneficiaries.localities import province_names
from beneficiaries.models import Beneficiary
from beneficiaries.queries import mask
from disburse.core.errors import ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.periods import parse_period
from disburse.core.reasons import ConsequenceClass, describe_reason
from disburse.payments.models import Batch, Instruction, InstructionState
from reconciliation.metrics.figures import (
    ACCOUNT_CHANNELS,
    INSTRUCTING_BATCH_STATES,
    periods_between,
)
from reconciliation.places import check_place, commune_names

#: People one worklist holds at most: a national list is asked for by province.
MAX_WORKLIST_ROWS: Final = 100_000
#: What is missing, in Vietnamese for the commune officer (English in brackets).
GAPS: Final = {
    "no_account": "Chưa có tài khoản (no account)",
    "account_problem": "Tài khoản bị đóng hoặc có vấn đề (account problem)",
    "name_mismatch": "Tên chủ tài khoản không khớp (name mismatch)",
    "bank_refused": "Ngân hàng từ chối vì lý do khác (refused by the bank)",
}
_FAILED: Final = (InstructionState.REJECTED.value, InstructionState.RETURNED.value)
_I = Instruction
_B = Beneficiary


@dataclass(frozen=True)
class WorklistFilter:
    """One period (or a range for the trend) and optionally one province or commune."""

    period: str | None = None
    province: str | None = None
    commune: str | None = None
    period_from: str | None = None
    period_to: str | None = None


def gap_of(channel: str, rerouted: bool, reason_code: str | None,
           review_flags: Sequence[str]) -> str:
    """Return what keeps one payment off an account (a key of ``GAPS``).

    Args:
        channel: The instruction's channel (``cash``, ``bank``, ``ewallet``).
        rerouted: Whether a cash payment was re-routed from an account.
        reason_code: The bank's reason (of this refusal, or of the one it was re-routed after).
        review_flags: The registry's findings on the person's row.
    """
    info = describe_reason(reason_code)
    consequence = info.consequence if info is not None else None
    if consequence is ConsequenceClass.NAME or any(
            flag.startswith("holder_name") for flag in review_flags):
        return "name_mismatch"
    if consequence is ConsequenceClass.ACCOUNT_PROBLEM:
        return "account_problem"
    if channel == "cash":
        return "account_problem" if rerouted else "no_account"
    return "bank_refused"


def _on_worklist() -> ColumnElement[bool]:
    """Paid (or to be paid) in cash, or an account payment the bank refused or returned."""
    return and_(_I.state != InstructionState.CANCELLED.value,
                or_(_I.channel == "cash",
                    and_(_I.channel.in_(ACCOUNT_CHANNELS), _I.state.in_(_FAILED))),
                _I.batch_id.in_(select(Batch.id).where(
                    Batch.state.in_(INSTRUCTING_BATCH_STATES))))


def _place_conditions(filters: WorklistFilter) -> list[ColumnElement[bool]]:
    check_place(filters.province, filters.commune)
    given = [(_I.province_code, filters.province), (_I.commune_code, filters.commune)]
    return [column == value for column, value in given if value is not None]


def _last_refusals(session: Session, ids: Sequence[int], period: str) -> dict[int, str]:
    """The reason code of each person's last refused account payment up to ``period``."""
    found: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = session.execute(
            select(_I.beneficiary_id, _I.period, _I.reason_code)
            .where(_I.beneficiary_id.in_(chunk), _I.period <= period,
                   _I.channel.in_(ACCOUNT_CHANNELS), _I.state.in_(_FAILED),
                   _I.reason_code.is_not(None))
            .order_by(_I.beneficiary_id, _I.period)).all()
        found.update({r.beneficiary_id: r.reason_code for r in rows})  # the last one wins
    return found


def worklist(session: Session, keyring: Keyring, filters: WorklistFilter) -> list[dict[str, Any]]:
    """Return the people of one period still paid in cash or by a failed account.

    Rows are ordered by province, commune and name, each with what is missing (``gap``,
    ``gap_vi``), the bank's reason and its Vietnamese explanation, the phone the list gave
    and the citizen ID masked to its last 4 digits.

    Raises:
        ValidationFailed: no or a bad period, an unknown place, or more than
            ``MAX_WORKLIST_ROWS`` people (ask for a province).
    """
    if filters.period is None:
        raise ValidationFailed("a worklist needs a period (YYYY-MM)",
                               errors=[{"parameter": "period", "messages": ["required"]}])
    parse_period(filters.period)
    where = [_on_worklist(), _I.period == filters.period, *_place_conditions(filters)]
    rows = session.execute(
        select(_I.beneficiary_id, _I.programme, _I.province_code, _I.commune_code, _I.channel,
               _I.rerouted_from, _I.state, _I.reason_code, _I.amount, _I.bank_bin,
               _B.full_name, _B.date_of_birth, _B.citizen_id_enc, _B.phone_enc,
               _B.review_flags)
        .join(_B, _B.id == _I.beneficiary_id).where(*where)
        .order_by(_I.province_code, _I.commune_code, _B.full_name, _I.beneficiary_id)
        .limit(MAX_WORKLIST_ROWS + 1)).all()
    if len(rows) > MAX_WORKLIST_ROWS:
        raise ValidationFailed(f"more than {MAX_WORKLIST_ROWS} people: ask for one province",
                               errors=[{"parameter": "province", "messages": ["too many"]}])
    rerouted = [r.beneficiary_id for r in rows if r.channel == "cash" and r.rerouted_from]
    refusals = _last_refusals(session, rerouted, filters.period)
    return [_entry(r, keyring, r.reason_code or refusals.get(r.beneficiary_id)) for r in rows]


def _entry(row: Any, keyring: Keyring, reason: str | None) -> dict[str, Any]:
    gap = gap_of(row.channel, row.rerouted_from is not None, reason, row.review_flags or [])
    info = describe_reason(reason)
    phone = keyring.decrypt("phone", row.phone_enc) if row.phone_enc else None
    return {
        "province": row.province_code,
        "province_name": province_names().get(row.province_code, ""),
        "commune": row.commune_code, "commune_name": commune_names().get(row.commune_code, ""),
        "beneficiary_id": row.beneficiary_id, "full_name": row.full_name,
        "date_of_birth": row.date_of_birth.isoformat(),
        "citizen_id": mask(keyring.decrypt("citizen_id", row.citizen_id_enc)),
        "phone": phone, "programme": row.programme, "channel": row.channel,
        "rerouted_from": row.rerouted_from, "state": row.state, "amount": row.amount,
        "bank_bin": row.bank_bin, "gap": gap, "gap_vi": GAPS[gap],
        "reason_code": reason, "reason_vi": info.vietnamese if info else None,
        "action_vi": info.action_label if info else None,
    }


def worklist_trend(session: Session, filters: WorklistFilter) -> dict[str, Any]:
    """Return the people on the worklist per commune and month from ``period_from`` to
    ``period_to``, and each commune's change from the first to the last month.

    Communes are ordered by that change, falling first (the ones that move), then by code.

    Raises:
        ValidationFailed: a missing or bad range, or an unknown place.
    """
    if filters.period_from is None or filters.period_to is None:
        raise ValidationFailed("a worklist trend needs from and to periods",
                               errors=[{"parameter": "from", "messages": ["required"]}])
    months = periods_between(filters.period_from, filters.period_to)
    counted = session.execute(
        select(_I.province_code, _I.commune_code, _I.period,
               func.count(func.distinct(_I.beneficiary_id)).label("people"))
        .where(_on_worklist(), _I.period.between(months[0], months[-1]),
               *_place_conditions(filters))
        .group_by(_I.province_code, _I.commune_code, _I.period)).all()
    per_commune: dict[tuple[str, str], dict[str, int]] = {}
    for r in counted:
        per_commune.setdefault((r.province_code, r.commune_code), {})[r.period] = int(r.people)
    communes = []
    for (province, commune), counts in per_commune.items():
        series = [counts.get(m, 0) for m in months]
        communes.append({"province": province,
                         "province_name": province_names().get(province, ""),
                         "commune": commune, "commune_name": commune_names().get(commune, ""),
                         "counts": dict(zip(months, series, strict=True)),
                         "change": series[-1] - series[0]})
    communes.sort(key=lambda c: (c["change"], c["province"], c["commune"]))
    return {"from": months[0], "to": months[-1], "periods": months, "unit": "people",
            "communes": communes}
