"""Building a monthly payment batch: who is paid, how much, by which route, and who is not.

Choices made here (each is a rule of the service, not an accident of the code):

- **Requested execution date**: the 10th of the period's month, or the business date of the
  build when that is later (a late batch is paid as soon as possible, never back-dated).
- **Re-verification first**: active candidates whose recorded check is stale, missing or older
  than their record are checked against the population registry before anything is judged;
  only then is payability decided, on the recorded answers (invariant 5).
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
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from sys import intern
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Row, Table, func, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryStatus
from beneficiaries.programmes import (
    PROGRAMMES,
    AmountRule,
    Channel,
    Programme,
    amount_from_rate,
    get_programme,
    rate_on,
)
from beneficiaries.registry import PopulationRegistry
from beneficiaries.verification.models import Outcome, Verification
from beneficiaries.verification.service import Payability, VerifyScope, payability, verify
from disburse import audit
from disburse.audit import AuditHead
from disburse.batches.approval import hold_writer_lock
from disburse.batches.lifecycle import BatchState
from disburse.batches.models import ArrearsCarry, Batch, Instruction, InstructionState
from disburse.batches.routing import RoutingConfig
from disburse.batches.state import BatchDigest, DigestBuilder
from disburse.clock import utcnow
from disburse.errors import Conflict, ValidationFailed
from disburse.keyring import Keyring
from disburse.users import Role, require_role

CHUNK: Final = 5_000
EXCLUSION_ID_CAP: Final = 100
EXECUTION_DAY: Final = 10
EMPTY_HASH: Final = hashlib.sha256().hexdigest()
#: Payability reasons that call for a fresh registry check before the batch is built.
REVERIFY_REASONS: Final = frozenset({"verification_stale", "unverified",
                                     "record_changed_since_check"})
#: ISO 20022 status reasons that mean the account cannot receive money as it stands.
ACCOUNT_PROBLEMS: Final = frozenset({"AC01", "AC03", "AC04", "AC06"})
FAILED_STATES: Final = frozenset({InstructionState.REJECTED.value,
                                  InstructionState.RETURNED.value})
E2E_PREFIX: Final = {"pension": "PEN", "social_protection": "SOC", "revolutionary": "REV",
                     "unemployment": "UNE"}
#: ``_around`` uses a BETWEEN when the ids span less than this many times their number.
DENSE_SPAN: Final = 4
_ACTIVE: Final = BeneficiaryStatus.ACTIVE.value
_CASH: Final = Channel.CASH.value
_INSTRUCTED: Final = InstructionState.INSTRUCTED.value
_PERIOD_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class ArrearsRule:
    """Which failed earlier payments a programme pays again, and how far back."""

    eligible_reasons: frozenset[str]
    max_months_back: int


#: The programmes' arrears rules (one table; a policy change is a change here).
ARREARS_RULES: Final[dict[str, ArrearsRule]] = {
    code: ArrearsRule(ACCOUNT_PROBLEMS | {"AM04", "TM01"}, 12) for code in PROGRAMMES
}


# --- pure rules ------------------------------------------------------------------------------


def parse_period(period: str) -> date:
    """Return the first day of ``period`` (``YYYY-MM``).

    Raises:
        ValidationFailed: not a ``YYYY-MM`` month.
    """
    match = _PERIOD_RE.match(period)
    if match is None:
        raise ValidationFailed(f"period must be YYYY-MM (e.g. 2026-11), got {period!r}")
    return date(int(match.group(1)), int(match.group(2)), 1)


def requested_execution_date(period: str, today: date) -> date:
    """Return the 10th of the period's month, or ``today`` when that is later."""
    start = parse_period(period)
    return max(start.replace(day=EXECUTION_DAY), today)


def months_between(earlier: str, later: str) -> int:
    """Return how many months ``earlier`` (YYYY-MM) lies before ``later``."""
    a, b = parse_period(earlier), parse_period(later)
    return (b.year - a.year) * 12 + b.month - a.month


def _base36(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 36)
        digits = _B36[rest] + digits
        if number == 0:
            return digits


def end_to_end_id(programme: str, period: str, beneficiary_id: int) -> str:
    """Return the deterministic EndToEndId of one instruction (21 characters).

    ``{PRG}{YYYYMM}{beneficiary id in base 36, zero-padded to 12}``: upper-case letters and
    digits only, unique per (beneficiary, programme, period), stable across rebuilds.
    """
    prefix = _e2e_prefix(programme, period)
    if beneficiary_id <= 0:
        raise ValueError("beneficiary ids are positive")
    return f"{prefix}{_base36(beneficiary_id):0>12}"


def _e2e_prefix(programme: str, period: str) -> str:
    """Return the EndToEndId's ``{PRG}{YYYYMM}`` part, shared by a whole batch."""
    parse_period(period)
    return f"{E2E_PREFIX[programme]}{period.replace('-', '')}"


@dataclass
class Exclusions:
    """Beneficiaries left out of a batch, by reason (counts, and the first ids)."""

    by_reason: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, reason: str, beneficiary_id: int) -> None:
        """Record that ``beneficiary_id`` is left out for ``reason``."""
        entry = self.by_reason.setdefault(reason, {"count": 0, "beneficiary_ids": []})
        entry["count"] += 1
        if len(entry["beneficiary_ids"]) < EXCLUSION_ID_CAP:
            entry["beneficiary_ids"].append(beneficiary_id)

    def counts(self) -> dict[str, int]:
        """Return reason -> count."""
        return {reason: int(e["count"]) for reason, e in sorted(self.by_reason.items())}

    def to_json(self) -> dict[str, Any]:
        """Return the JSON stored on the batch, reasons sorted."""
        return dict(sorted(self.by_reason.items()))


@dataclass(frozen=True, slots=True)
class _Plan:
    """What pass one decided for one payable beneficiary (small: kept for the whole build)."""

    key: tuple[str, str, str, int]  # route, province, commune, beneficiary id
    channel: str
    rerouted_from: str | None
    arrears: int
    carried: tuple[tuple[int, int], ...]  # (from instruction id, amount)


@dataclass(frozen=True)
class _Build:
    """Everything one build needs besides the session."""

    keyring: Keyring
    registry: PopulationRegistry
    programme: Programme
    period: str
    actor: str
    routing: RoutingConfig
    max_age_days: int
    #: route_for answers, by (channel, BIN, province): the same for every such instruction
    routes: dict[tuple[str, str | None, str], str] = field(default_factory=dict)


# --- the build -------------------------------------------------------------------------------


def build_batch(session: Session, keyring: Keyring, registry: PopulationRegistry, *,
                programme: str, period: str, province: str | None = None, actor: str,
                routing: RoutingConfig, max_age_days: int, today: date) -> Batch:
    """Build a draft batch of one instruction per payable beneficiary of ``programme``.

    Stale, missing or outdated verifications are renewed through ``registry`` first. Amounts
    are the base amount plus eligible arrears; each exclusion is recorded with its reason.

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
        ctx = _Build(keyring, registry, prog, period, actor, routing, max_age_days)
        return _build(session, ctx, province, execution)


def _build(session: Session, ctx: _Build, province: str | None, execution: date) -> Batch:
    prog, period, actor = ctx.programme, ctx.period, ctx.actor
    batch = Batch(programme=prog.code, period=period, province_code=province,
                  state=BatchState.DRAFT.value, preparer=actor,
                  requested_execution_date=execution, count=0, total=0,
                  content_hash=EMPTY_HASH, exclusions={}, version=1)
    session.add(batch)
    session.flush()
    exclusions = Exclusions()
    plans = _plan(session, ctx, *_scope(session, prog.code, province), exclusions)
    _lock_audit_tip(session)
    plans.sort(key=lambda p: p.key)
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


def _scope(session: Session, programme: str,
           province: str | None) -> tuple[list[int], dict[int, str]]:
    """Return the active ids in id order, and the others' statuses (no row is kept)."""
    b = Beneficiary
    query = select(b.id, b.status).where(b.programme == programme)
    if province:
        query = query.where(b.province_code == province)
    active: list[int] = []
    inactive: dict[int, str] = {}
    rows = session.connection().execute(query.order_by(b.id).execution_options(yield_per=CHUNK))
    for part in rows.partitions():
        for bid, status in part:
            if status == _ACTIVE:
                active.append(bid)
            else:
                inactive[bid] = status
    return active, inactive


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), CHUNK):
        yield ids[start:start + CHUNK]


def _around(column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """Return a filter that selects at least ``ids`` (callers ignore any other row it lets in).

    A chunk of ids taken in id order is usually a dense run: a BETWEEN on the index then costs
    far less than binding thousands of IN parameters, at the price of a few extra rows.
    """
    if ids and max(ids) - min(ids) < DENSE_SPAN * len(ids):
        return cast(ColumnElement[bool], column.between(min(ids), max(ids)))
    return cast(ColumnElement[bool], column.in_(list(ids)))


def _plan(session: Session, ctx: _Build, active: list[int], inactive: dict[int, str],
          exclusions: Exclusions) -> list[_Plan]:
    for chunk in _chunks(sorted(inactive)):
        outcomes = _latest_outcomes(session, chunk)
        for bid in chunk:
            # a suspension because the registry recorded a death is reported as such
            dead = outcomes.get(bid) == Outcome.DECEASED.value
            exclusions.add("deceased" if dead else inactive[bid], bid)
    plans: list[_Plan] = []
    for chunk in _chunks(active):
        plans.extend(_plan_chunk(session, ctx, chunk, exclusions))
    return plans


def _latest_outcomes(session: Session, ids: Sequence[int]) -> dict[int, str]:
    latest = (select(func.max(Verification.id)).where(Verification.beneficiary_id.in_(ids))
              .group_by(Verification.beneficiary_id))
    return dict(list(session.connection().execute(
        select(Verification.beneficiary_id, Verification.outcome)
        .where(Verification.id.in_(latest))).tuples()))


def _judge(session: Session, ctx: _Build, ids: Sequence[int]) -> dict[int, Payability]:
    judged = payability(session, ids, max_age_days=ctx.max_age_days)
    again = [bid for bid, p in judged.items() if p.reason in REVERIFY_REASONS]
    if again:
        checked = verify(session, ctx.keyring, ctx.registry, actor=ctx.actor,
                         scope=VerifyScope(beneficiary_ids=again, max_age_days=ctx.max_age_days))
        judged.update(payability(session, again, max_age_days=ctx.max_age_days))
        # suspending the dead changed their record, so payability would call it a change
        judged.update({bid: Payability(False, "deceased", None)
                       for bid in checked.suspended_deceased})
    return judged


def _plan_chunk(session: Session, ctx: _Build, ids: Sequence[int],
                exclusions: Exclusions) -> list[_Plan]:
    judged = _judge(session, ctx, ids)
    payable = [bid for bid in ids if judged[bid].payable]
    for bid in ids:
        if not judged[bid].payable:
            exclusions.add(judged[bid].reason, bid)
    # Core rows straight from the connection (no ORM loading); everything is flushed
    connection = session.connection()
    taken = set(connection.execute(select(Instruction.beneficiary_id).where(
        Instruction.programme == ctx.programme.code, Instruction.period == ctx.period,
        _around(Instruction.beneficiary_id, payable))).scalars())
    history = _history(session, ctx, [bid for bid in payable if bid not in taken])
    b = Beneficiary
    wanted = set(payable)
    people = connection.execute(select(b.id, b.channel, b.bank_bin, b.account_idx,
                                       b.province_code, b.commune_code)
                                .where(_around(b.id, payable)).order_by(b.id)).all()
    plans = []
    for person in people:
        if person.id not in wanted:
            continue
        if person.id in taken:
            exclusions.add("already_instructed", person.id)
            continue
        plan = _plan_one(ctx, person, history.get(person.id, []))
        if plan is None:
            exclusions.add("account_problem", person.id)
        else:
            plans.append(plan)
    return plans


def _history(session: Session, ctx: _Build, ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    i = Instruction
    rows = session.connection().execute(
        select(i.id, i.beneficiary_id, i.period, i.state, i.reason_code, i.amount,
               i.account_idx, ArrearsCarry.id.label("carried"))
        .outerjoin(ArrearsCarry, ArrearsCarry.from_instruction_id == i.id)
        .where(i.programme == ctx.programme.code, i.period < ctx.period,
               _around(i.beneficiary_id, ids))
        .order_by(i.beneficiary_id, i.period, i.id))
    found: dict[int, list[Row[Any]]] = {}
    for row in rows:
        found.setdefault(row.beneficiary_id, []).append(row)
    return found


def _channel(programme: Programme, person: Row[Any],
             history: list[Row[Any]]) -> tuple[str, str | None] | None:
    """Return (channel, rerouted_from), or None when only a broken account could be used."""
    if not history or person.channel == _CASH:  # nothing failed before: the usual case
        return person.channel, None
    to_account = [h for h in history if h.account_idx is not None]
    last = to_account[-1] if to_account else None
    broken = (last is not None and last.state in FAILED_STATES
              and last.reason_code in ACCOUNT_PROBLEMS and last.account_idx == person.account_idx)
    if not broken:
        return person.channel, None
    return (_CASH, person.channel) if programme.allows(Channel.CASH) else None


def _plan_one(ctx: _Build, person: Row[Any], history: list[Row[Any]]) -> _Plan | None:
    chosen = _channel(ctx.programme, person, history)
    if chosen is None:
        return None
    channel, rerouted_from = chosen
    carried = _carried(ctx, history) if history else ()
    bid, _, bank_bin, _, province, commune = person
    # a million plans live until the insert: share the few distinct strings they hold
    province, commune, channel = intern(province), intern(commune), intern(channel)
    route = _route(ctx, channel, None if channel == _CASH else bank_bin, province)
    return _Plan((route, province, commune, bid), channel, rerouted_from,
                 sum(amount for _, amount in carried), carried)


def _carried(ctx: _Build, history: list[Row[Any]]) -> tuple[tuple[int, int], ...]:
    """Return (instruction id, amount) of the earlier failures whose arrears are paid now."""
    rule = ARREARS_RULES[ctx.programme.code]
    return tuple((h.id, h.amount) for h in history
                 if h.carried is None and h.state in FAILED_STATES
                 and h.reason_code in rule.eligible_reasons
                 and months_between(h.period, ctx.period) <= rule.max_months_back)


def _route(ctx: _Build, channel: str, bank_bin: str | None, province: str) -> str:
    """Return the route, asking the routing table once per (channel, BIN, province)."""
    key = (channel, bank_bin, province)
    route = ctx.routes.get(key)
    if route is None:
        route = ctx.routing.route_for(programme=ctx.programme.code, channel=channel,
                                      bank_bin=bank_bin, province_code=province)
        ctx.routes[key] = route
    return route


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


def _insert(session: Session, ctx: _Build, batch_id: int, plans: list[_Plan]) -> BatchDigest:
    """Insert the instructions in seq order, hashing them on the way (``state.batch_digest``).

    Each chunk's people are read once, rows are plain tuples in ``INSERT_COLUMNS`` order, and
    the writer is the backend's fastest bulk path (``_write_rows``).
    """
    rate = _rate(session, ctx.programme, ctx.period)
    e2e_prefix = _e2e_prefix(ctx.programme.code, ctx.period)
    sqlite = session.get_bind().dialect.name == "sqlite"
    digest = DigestBuilder()
    for start in range(0, len(plans), CHUNK):
        part = plans[start:start + CHUNK]
        people = _payees(session, [p.key[3] for p in part])
        now = utcnow()
        # the driver-level SQLite insert needs the text form SQLAlchemy's SQLite types write
        created = _sqlite_stamp(now) if sqlite else now
        fixed = _Fixed(batch_id, ctx.programme.code, ctx.period, e2e_prefix, rate, created)
        rows = [_row(fixed, start + n + 1, plan, people[plan.key[3]])
                for n, plan in enumerate(part)]
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
    """Return id -> (full name, holder, account blob, account index, BIN, amount, coef.)."""
    b = Beneficiary
    rows = session.connection().execute(
        select(b.id, b.full_name, b.account_holder, b.account_enc, b.account_idx,
               b.bank_bin, b.monthly_amount, b.coefficient_x100).where(b.id.in_(ids))).all()
    return {row[0]: tuple(row[1:]) for row in rows}


@dataclass(frozen=True, slots=True)
class _Fixed:
    """The values every row of one insert chunk shares."""

    batch_id: int
    programme: str
    period: str
    e2e_prefix: str
    rate: int | None
    created_at: datetime | str


def _sqlite_stamp(moment: datetime) -> str:
    """Return ``moment`` as SQLAlchemy's SQLite DateTime stores it: naive UTC with micros."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _row(fixed: _Fixed, seq: int, plan: _Plan, person: tuple[Any, ...]) -> tuple[Any, ...]:
    """Return one instruction row in ``INSERT_COLUMNS`` order."""
    route, province, commune, bid = plan.key
    full_name, holder, account_enc, account_idx, bank_bin, monthly, coefficient = person
    rate = fixed.rate
    base = (amount_from_rate(rate, coefficient) if rate is not None and coefficient
            else monthly)
    cash = plan.channel == _CASH
    return (
        fixed.batch_id, bid, fixed.programme, fixed.period, seq, base + plan.arrears, base,
        plan.arrears, plan.channel, route, plan.rerouted_from,
        None if cash else bank_bin, None if cash else account_enc,
        None if cash else account_idx,
        (full_name if cash else holder or full_name)[:140], province, commune,
        f"{fixed.e2e_prefix}{_base36(bid):0>12}", _INSTRUCTED, None, None, fixed.created_at,
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


def _carry(session: Session, batch_id: int, part: list[_Plan]) -> None:
    owed = [p for p in part if p.carried]
    if not owed:
        return
    new_ids = dict(list(session.execute(select(Instruction.beneficiary_id, Instruction.id).where(
        Instruction.batch_id == batch_id,
        Instruction.beneficiary_id.in_([p.key[3] for p in owed]))).tuples()))
    session.execute(insert(ArrearsCarry.__table__), [  # type: ignore[arg-type]
        {"from_instruction_id": source, "to_instruction_id": new_ids[p.key[3]],
         "amount": amount} for p in owed for source, amount in p.carried])
