"""Building a monthly payment batch: who is paid, how much, by which route, and who is not.

Choices made here (each is a rule of the service, not an accident of the code):

- **Requested execution date**: the 10th of the period's month, or the business date of the
  build when that is later (a late batch is paid as soon as possible, never back-dated).
- **Re-verification first**: active candidates whose recorded check is stale, missing or older
  than their record are checked against the population registry before the build, in
  transactions of their own that commit the evidence and hold no writer lock while the
  registry answers (``preparation``); the build then decides payability on the recorded
  answers (invariant 5) and never calls the registry.
- **Exclusions** are kept on the batch (``Batch.exclusions``) as ``reason -> {count,
  beneficiary_ids}`` with at most ``EXCLUSION_ID_CAP`` ids per reason.
- **Arrears**: an earlier instruction of the same beneficiary and programme that ended
  ``rejected`` or ``returned`` with a reason the programme's ``ArrearsRule`` accepts (account
  problems AC01/AC03/AC04/AC06, AM04, TM01; never MD07, the beneficiary died), at most
  ``max_months_back`` periods back and not yet carried (no ``ArrearsCarry`` row; its UNIQUE
  ``from_instruction_id`` keeps a carry single even under races) adds its full amount.
- **Re-routing to cash**: when the latest earlier instruction paid to an account failed for an
  account problem and the beneficiary's account is still the same (same blind index), the
  beneficiary is paid in cash this month if the programme allows cash (``rerouted_from`` keeps
  the original channel); otherwise they are excluded as ``account_problem``.
- **EndToEndId**: ``{PRG}{YYYYMM}{beneficiary id in base 36, zero-padded to 12}``, e.g.
  ``PEN202611000000000RS`` (21 characters): unique per (beneficiary, programme, period) and
  the same if the batch is rebuilt after a cancellation.
- **Base amount**: the beneficiary's monthly amount; for rate × coefficient programmes the
  rate in force on the first day of the period times the coefficient.
- **Order**: ``seq`` = 1..N by (route, province, commune, beneficiary id); the batch hash
  (``state.batch_digest``) is taken in that order, while the rows are inserted.
- The database, not this module, forbids a second payment: UNIQUE(beneficiary, programme,
  period) on instructions. The pre-check here only lets the summary say why someone is absent.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any, Final

from sqlalchemy import Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary
from beneficiaries.programmes import (
    AmountRule,
    Channel,
    Programme,
    amount_from_rate,
    get_programme,
    rate_on,
)
from disburse.core import audit
from disburse.core.audit import AuditHead
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict
from disburse.core.users import Role, require_role
from disburse.payments.approval import hold_writer_lock
from disburse.payments.lifecycle import BatchState
from disburse.payments.models import ArrearsCarry, Batch, Instruction, InstructionState
from disburse.payments.plan import (
    ACCOUNT_PROBLEMS,
    ARREARS_RULES,
    CHUNK,
    EXCLUSION_ID_CAP,
    PLAN_BID,
    ArrearsRule,
    BuildContext,
    Exclusions,
    Plan,
    months_between,
    parse_period,
    plain_rows,
    plan,
    scope,
)
from disburse.payments.routing import RoutingConfig
from disburse.payments.state import BatchDigest, DigestBuilder

EXECUTION_DAY: Final = 10
EMPTY_HASH: Final = hashlib.sha256().hexdigest()
E2E_PREFIX: Final = {"pension": "PEN", "social_protection": "SOC", "revolutionary": "REV",
                     "unemployment": "UNE"}
_CASH: Final = Channel.CASH.value
_INSTRUCTED: Final = InstructionState.INSTRUCTED.value
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_B36_PAIRS: Final = [high + low for high in _B36 for low in _B36]  # 0..1295 as two digits
#: What other modules import from here (the planning rules live in ``plan``).
__all__ = [
    "ACCOUNT_PROBLEMS", "ARREARS_RULES", "CHUNK", "EXCLUSION_ID_CAP", "ArrearsRule",
    "Exclusions", "build_batch", "end_to_end_id", "months_between", "parse_period",
    "requested_execution_date",
]


# --- pure rules ------------------------------------------------------------------------------


def requested_execution_date(period: str, today: date) -> date:
    """Return the 10th of the period's month, or ``today`` when that is later."""
    start = parse_period(period)
    return max(start.replace(day=EXECUTION_DAY), today)


def _base36(number: int) -> str:
    """Return ``number`` (not negative) in base 36, two digits per division."""
    digits = ""
    while True:
        number, rest = divmod(number, 1296)
        digits = _B36_PAIRS[rest] + digits
        if number == 0:
            return digits.lstrip("0") or "0"


def end_to_end_id(programme: str, period: str, beneficiary_id: int) -> str:
    """Return the deterministic EndToEndId of one instruction (21 characters).

    ``{PRG}{YYYYMM}{beneficiary id in base 36, zero-padded to 12}``: upper-case letters and
    digits only, unique per (beneficiary, programme, period), stable across rebuilds.
    """
    prefix = _e2e_prefix(programme, period)
    if beneficiary_id <= 0:
        raise ValueError("beneficiary ids are positive")
    return f"{prefix}{_base36(beneficiary_id):0>12}"


@lru_cache(maxsize=256)  # one per programme and period: the build calls this once a row
def _e2e_prefix(programme: str, period: str) -> str:
    """Return the EndToEndId's ``{PRG}{YYYYMM}`` part, shared by a whole batch."""
    parse_period(period)
    return f"{E2E_PREFIX[programme]}{period.replace('-', '')}"


# --- the build -------------------------------------------------------------------------------


def build_batch(session: Session, *, programme: str, period: str, province: str | None = None,
                actor: str, routing: RoutingConfig, max_age_days: int, today: date) -> Batch:
    """Build a draft batch of one instruction per payable beneficiary of ``programme``.

    Payability is judged on the recorded registry answers; this never calls the registry
    (the caller holds the writer lock). Entry points renew stale checks first, in
    transactions of their own (``preparation.prepare_and_build``); a check still stale,
    missing or outdated here excludes its beneficiary with that reason. Amounts are the base
    amount plus eligible arrears; each exclusion is recorded with its reason.

    Raises:
        Forbidden: the actor is not a preparer or admin.
        ValidationFailed: bad period. NotFound: unknown programme.
        ConfigurationError: an instruction has no route.
        Conflict: nothing to pay, or another build instructed the same people first (the
            UNIQUE constraint on (beneficiary, programme, period) refused the insert).
    """
    prog = get_programme(programme)
    execution = requested_execution_date(period, today)
    hold_writer_lock(session)
    require_role(session, actor, Role.PREPARER, Role.ADMIN)
    # A savepoint: a refused build leaves nothing behind (not even the batch row), and on
    # PostgreSQL the caller's transaction stays usable after a constraint violation.
    with session.begin_nested():
        ctx = BuildContext(prog, period, actor, routing, max_age_days)
        return _build(session, ctx, province, execution)


def _build(session: Session, ctx: BuildContext, province: str | None, execution: date) -> Batch:
    prog, period, actor = ctx.programme, ctx.period, ctx.actor
    batch = Batch(programme=prog.code, period=period, province_code=province,
                  state=BatchState.DRAFT.value, preparer=actor,
                  requested_execution_date=execution, count=0, total=0,
                  content_hash=EMPTY_HASH, exclusions={}, version=1)
    session.add(batch)
    session.flush()
    exclusions = Exclusions()
    plans = plan(session, ctx, *scope(session, prog.code, province), exclusions)
    _lock_audit_tip(session)
    plans.sort()  # (route, province, commune, beneficiary id, ...): the seq order
    digest = _insert(session, ctx, batch.id, plans)
    if digest.count == 0:
        raise Conflict(f"nothing to pay for {prog.code} {period}"
                       f"{' in province ' + province if province else ''}: "
                       f"{_describe(exclusions.counts())}", exclusions=exclusions.counts())
    batch.count, batch.total, batch.content_hash = digest.count, digest.total, digest.sha256
    batch.exclusions = exclusions.to_json()
    session.flush()
    audit.record(session, actor=actor, action="batch.create", object_type="batch",
                 object_id=batch.id, detail={
                     "programme": prog.code, "period": period, "province": province,
                     "count": digest.count, "total": digest.total, "hash": digest.sha256,
                     "requested_execution_date": execution.isoformat(),
                     "excluded": exclusions.counts()})
    return batch


def _describe(counts: dict[str, int]) -> str:
    if not counts:
        return "no beneficiaries in scope"
    return ", ".join(f"{n} {reason.replace('_', ' ')}" for reason, n in counts.items())


def _lock_audit_tip(session: Session) -> None:
    # Every audited transaction holds the audit tip's row lock until it commits. Taking it
    # before inserting instructions gives all builds one lock order (tip, then the unique
    # index entries), so two builds wait for each other instead of deadlocking; the second
    # then meets the UNIQUE constraint.
    session.execute(select(AuditHead.id).where(AuditHead.id == 1).with_for_update())


def _rate(session: Session, programme: Programme, period: str) -> int | None:
    if programme.amount_rule is not AmountRule.RATE_X_COEFFICIENT or not programme.rate_name:
        return None
    return rate_on(session, programme.rate_name, parse_period(period)).amount


#: Instruction columns in the order the bulk insert writes them (every column but ``id``).
INSERT_COLUMNS: Final = (
    "batch_id", "beneficiary_id", "programme", "period", "seq", "amount", "base_amount",
    "arrears_amount", "channel", "route", "rerouted_from", "bank_bin", "account_enc",
    "account_idx", "creditor_name", "province_code", "commune_code", "end_to_end_id", "state",
    "reason_code", "payment_file_id", "created_at",
)
_INSTRUCTIONS: Final[Table] = Instruction.__table__  # type: ignore[assignment]
#: SQLSTATE class 23: integrity constraint violation (what COPY raises from the driver).
_INTEGRITY_SQLSTATE: Final = "23"


def _insert(session: Session, ctx: BuildContext, batch_id: int,
            plans: list[Plan]) -> BatchDigest:
    """Insert the instructions in seq order, hashing them on the way (``state.batch_digest``).

    Each chunk's people are read once, rows are plain tuples in ``INSERT_COLUMNS`` order, and
    the writer is the backend's fastest bulk path (``_write_rows``).
    """
    rate = _rate(session, ctx.programme, ctx.period)
    sqlite = session.get_bind().dialect.name == "sqlite"
    digest = DigestBuilder()
    for start in range(0, len(plans), CHUNK):
        part = plans[start:start + CHUNK]
        people = _payees(session, [p[PLAN_BID] for p in part])
        now = utcnow()
        # the driver-level SQLite insert needs the text form SQLAlchemy's SQLite types write
        created = _sqlite_stamp(now) if sqlite else now
        fixed = _Fixed(batch_id, ctx.programme.code, ctx.period, rate, created)
        rows = [_row(fixed, seq, one, people[one[PLAN_BID]])
                for seq, one in enumerate(part, start + 1)]
        try:
            _write_rows(session, rows)
            _carry(session, batch_id, part)
        except Exception as error:
            if not _is_integrity_error(error):
                raise
            raise Conflict(
                f"another batch has just instructed some of these beneficiaries for "
                f"{ctx.programme.code} {ctx.period} (or carried their arrears); nothing was "
                "saved, build again to see who is left") from error
        digest.add([_digest_row(row) for row in rows])
    return digest.result()


def _payees(session: Session, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """Return id -> (id, full name, holder, account blob, account index, BIN, amount, coef.)."""
    b = Beneficiary
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        # the ids as one JSON parameter: no statement with thousands of bound ids to expand
        wanted = b.id.in_(select(func.json_each(json.dumps(ids)).table_valued("value").c.value))
    else:
        wanted = b.id.in_(ids)
    rows = plain_rows(connection, select(
        b.id, b.full_name, b.account_holder, b.account_enc, b.account_idx, b.bank_bin,
        b.monthly_amount, b.coefficient_x100).where(wanted))
    return {row[0]: row for row in rows}


@dataclass(frozen=True, slots=True)
class _Fixed:
    """The values every row of one insert chunk shares."""

    batch_id: int
    programme: str
    period: str
    rate: int | None
    created_at: datetime | str


def _sqlite_stamp(moment: datetime) -> str:
    """Return ``moment`` as SQLAlchemy's SQLite DateTime stores it: naive UTC with micros."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _row(fixed: _Fixed, seq: int, plan: Plan, person: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return one instruction row in ``INSERT_COLUMNS`` order."""
    route, province, commune, bid, channel, rerouted_from, arrears, _ = plan
    _, full_name, holder, account_enc, account_idx, bank_bin, monthly, coefficient = person
    rate = fixed.rate
    base = (amount_from_rate(rate, coefficient) if rate is not None and coefficient
            else monthly)
    cash = channel == _CASH
    return (
        fixed.batch_id, bid, fixed.programme, fixed.period, seq, base + arrears, base, arrears,
        channel, route, rerouted_from,
        None if cash else bank_bin, None if cash else account_enc,
        None if cash else account_idx,
        (full_name if cash else holder or full_name)[:140], province, commune,
        end_to_end_id(fixed.programme, fixed.period, bid), _INSTRUCTED, None, None,
        fixed.created_at,
    )


def _digest_row(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return the ``state.DIGEST_COLUMNS`` values of an ``INSERT_COLUMNS`` row."""
    (_, bid, _, _, seq, amount, base, arrears, channel, route, _, bank_bin, _, account_idx,
     creditor, province, commune, e2e, *_) = row
    return (seq, e2e, bid, amount, base, arrears, channel, route, bank_bin or "",
            account_idx or "", creditor, province, commune)


def _write_rows(session: Session, rows: list[tuple[Any, ...]]) -> None:
    """Insert instruction rows: COPY on PostgreSQL, a driver executemany on SQLite."""
    connection = session.connection()
    dialect = connection.dialect.name
    if dialect == "postgresql":
        driver = connection.connection.driver_connection
        with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                f"COPY payment_instructions ({', '.join(INSERT_COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
    elif dialect == "sqlite":  # rows already hold the SQLite text form of created_at
        marks = ", ".join("?" for _ in INSERT_COLUMNS)
        connection.exec_driver_sql(
            f"INSERT INTO payment_instructions ({', '.join(INSERT_COLUMNS)}) VALUES ({marks})",
            rows)
    else:
        connection.execute(insert(_INSTRUCTIONS),
                           [dict(zip(INSERT_COLUMNS, row, strict=True)) for row in rows])


def _is_integrity_error(error: Exception) -> bool:
    """Tell whether ``error`` is a constraint violation, wrapped by SQLAlchemy or raw (COPY)."""
    if isinstance(error, IntegrityError):
        return True
    return str(getattr(error, "sqlstate", "") or "").startswith(_INTEGRITY_SQLSTATE)


def _carry(session: Session, batch_id: int, part: list[Plan]) -> None:
    owed = [p for p in part if p[7]]
    if not owed:
        return
    new_ids = dict(list(session.execute(select(Instruction.beneficiary_id, Instruction.id).where(
        Instruction.batch_id == batch_id,
        Instruction.beneficiary_id.in_([p[PLAN_BID] for p in owed]))).tuples()))
    session.execute(insert(ArrearsCarry.__table__), [  # type: ignore[arg-type]
        {"from_instruction_id": source, "to_instruction_id": new_ids[p[PLAN_BID]],
         "amount": amount} for p in owed for source, amount in p[7]])
