"""Pass one of a batch build: who is in scope, who is payable, by which route, with what arrears.

The rules (see ``build`` for the whole list) that decide each beneficiary's plan live here:
which stale checks to renew before the build (``REVERIFY_REASONS``), exclusions by reason,
arrears of earlier failed payments, re-routing to cash after an account problem, and the
route.

Each payable beneficiary becomes one ``Plan``: a flat tuple of strings and numbers. A national
batch holds a million of them until the insert; flat tuples of atomic values are untracked by
the garbage collector after its first look, so its full passes do not walk the plans again and
again (as they did when plans were objects), and ``list.sort`` orders them without a key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from sys import intern
from typing import Any, Final, cast

from sqlalchemy import ColumnElement, Connection, Executable, Row, func, select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryStatus
from beneficiaries.programmes import PROGRAMMES, Channel, Programme
from beneficiaries.verification.models import Outcome, Verification
from beneficiaries.verification.service import Payability, payability
from disburse.core.periods import months_between as months_between
from disburse.core.periods import parse_period as parse_period
from disburse.core.reasons import ConsequenceClass, codes_of
from disburse.payments.models import ArrearsCarry, Instruction, InstructionState
from disburse.payments.routing import RoutingConfig
from disburse.payments.state import stream_rows

CHUNK: Final = 5_000
EXCLUSION_ID_CAP: Final = 100
#: Payability reasons that call for a fresh registry check before the batch is built
#: (``preparation.reverify_scope``; the build itself only judges).
REVERIFY_REASONS: Final = frozenset({"verification_stale", "unverified",
                                     "record_changed_since_check"})
#: ISO 20022 status reasons that mean the account cannot receive money as it stands: every
#: code of the ``account_problem`` class in the one reason-code table (``disburse.core.reasons``),
#: so each of them re-routes to cash and carries arrears alike.
ACCOUNT_PROBLEMS: Final = codes_of(ConsequenceClass.ACCOUNT_PROBLEM)
FAILED_STATES: Final = frozenset({InstructionState.REJECTED.value,
                                  InstructionState.RETURNED.value})
#: ``_around`` uses a BETWEEN when the ids span less than this many times their number.
DENSE_SPAN: Final = 4
_ACTIVE: Final = BeneficiaryStatus.ACTIVE.value
_CASH: Final = Channel.CASH.value

#: One payable beneficiary's plan: (route, province, commune, beneficiary id, channel,
#: rerouted_from, arrears, carried), carried being ((from instruction id, amount), ...). The
#: first four fields are the seq order, and the beneficiary id makes them unique.
Plan = tuple[str, str, str, int, str, str | None, int, tuple[tuple[int, int], ...]]
#: Position of the beneficiary id in a ``Plan``.
PLAN_BID: Final = 3


@dataclass(frozen=True)
class ArrearsRule:
    """Which failed earlier payments a programme pays again, and how far back."""

    eligible_reasons: frozenset[str]
    max_months_back: int


#: The programmes' arrears rules (one table; a policy change is a change here).
ARREARS_RULES: Final[dict[str, ArrearsRule]] = {
    code: ArrearsRule(ACCOUNT_PROBLEMS | {"AM04", "TM01"}, 12) for code in PROGRAMMES
}


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


@dataclass(frozen=True)
class BuildContext:
    """Everything one build needs besides the session."""

    programme: Programme
    period: str
    actor: str
    routing: RoutingConfig
    max_age_days: int
    #: route_for answers, by (channel, BIN, province): the same for every such instruction
    routes: dict[tuple[str, str | None, str], str] = field(default_factory=dict)


def scope(session: Session, programme: str,
          province: str | None) -> tuple[list[int], dict[int, str]]:
    """Return the active ids in id order, and the others' statuses (no row is kept)."""
    b = Beneficiary
    query = select(b.id, b.status).where(b.programme == programme)
    if province:
        query = query.where(b.province_code == province)
    active: list[int] = []
    inactive: dict[int, str] = {}
    for part in stream_rows(session.connection(), query.order_by(b.id), CHUNK):
        for bid, status in part:
            if status == _ACTIVE:
                active.append(bid)
            else:
                inactive[bid] = status
    return active, inactive


def plain_rows(connection: Connection, statement: Executable) -> list[tuple[Any, ...]]:
    """Run a query of integer and string columns; return the driver's own tuples.

    Such columns need no conversion, and a Row object per beneficiary, a million times over,
    costs more than the query itself.
    """
    result = connection.execute(statement)
    try:
        return cast(list[tuple[Any, ...]], result.cursor.fetchall())
    finally:
        result.close()


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


def plan(session: Session, ctx: BuildContext, active: list[int], inactive: dict[int, str],
         exclusions: Exclusions) -> list[Plan]:
    """Return the plans of the payable ``active`` ids; record everyone else in ``exclusions``."""
    for chunk in _chunks(sorted(inactive)):
        outcomes = _latest_outcomes(session, chunk)
        for bid in chunk:
            # a suspension because the registry recorded a death is reported as such
            dead = outcomes.get(bid) == Outcome.DECEASED.value
            exclusions.add("deceased" if dead else inactive[bid], bid)
    plans: list[Plan] = []
    for chunk in _chunks(active):
        plans.extend(_plan_chunk(session, ctx, chunk, exclusions))
    return plans


def _latest_outcomes(session: Session, ids: Sequence[int]) -> dict[int, str]:
    latest = (select(func.max(Verification.id)).where(Verification.beneficiary_id.in_(ids))
              .group_by(Verification.beneficiary_id))
    return dict(list(session.connection().execute(
        select(Verification.beneficiary_id, Verification.outcome)
        .where(Verification.id.in_(latest))).tuples()))


def _judge(session: Session, ctx: BuildContext, ids: Sequence[int]) -> dict[int, Payability]:
    # No registry call here: the build's writing transaction never waits on the network.
    # ``preparation.reverify_scope`` renewed the stale checks before; whoever is still stale
    # (changed since, or the registry could not answer) is excluded with that reason.
    return payability(session, ids, max_age_days=ctx.max_age_days)


def _plan_chunk(session: Session, ctx: BuildContext, ids: Sequence[int],
                exclusions: Exclusions) -> list[Plan]:
    judged = _judge(session, ctx, ids)
    payable = []
    for bid in ids:
        judgement = judged[bid]
        if judgement.payable:
            payable.append(bid)
        else:
            exclusions.add(judgement.reason, bid)
    # Core rows straight from the connection (no ORM loading); everything is flushed
    connection = session.connection()
    taken = {bid for bid, in plain_rows(connection, select(Instruction.beneficiary_id).where(
        Instruction.programme == ctx.programme.code, Instruction.period == ctx.period,
        _around(Instruction.beneficiary_id, payable)))}
    history = _history(session, ctx, [bid for bid in payable if bid not in taken])
    b = Beneficiary
    wanted = set(payable)
    people = plain_rows(connection, select(b.id, b.channel, b.bank_bin, b.account_idx,
                                           b.province_code, b.commune_code)
                        .where(_around(b.id, payable)).order_by(b.id))
    plans: list[Plan] = []
    append = plans.append
    routes = ctx.routes
    for person in people:
        bid, channel, bank_bin, _, province, commune = person
        if bid not in wanted:
            continue
        if bid in taken:
            exclusions.add("already_instructed", bid)
        elif bid in history:
            plan = _plan_with_history(ctx, person, history[bid])
            if plan is None:
                exclusions.add("account_problem", bid)
            else:
                append(plan)
        else:  # the usual case: nothing failed before, so no channel change and no arrears
            bank_bin = None if channel == _CASH else bank_bin
            route = (routes.get((channel, bank_bin, province))
                     or _route(ctx, channel, bank_bin, province))
            # a million plans live until the insert: share the few distinct strings they hold
            append((route, intern(province), intern(commune), bid, intern(channel), None, 0,
                    ()))
    return plans


def _history(session: Session, ctx: BuildContext,
             ids: Sequence[int]) -> dict[int, list[Row[Any]]]:
    i = Instruction
    rows = session.connection().execute(
        select(i.id, i.beneficiary_id, i.period, i.state, i.reason_code, i.amount,
               i.account_idx, i.contested, ArrearsCarry.id.label("carried"))
        .outerjoin(ArrearsCarry, ArrearsCarry.from_instruction_id == i.id)
        .where(i.programme == ctx.programme.code, i.period < ctx.period,
               _around(i.beneficiary_id, ids))
        .order_by(i.beneficiary_id, i.period, i.id))
    found: dict[int, list[Row[Any]]] = {}
    for row in rows:
        found.setdefault(row.beneficiary_id, []).append(row)
    return found


def _channel(programme: Programme, channel: str, account_idx: str | None,
             history: list[Row[Any]]) -> tuple[str, str | None] | None:
    """Return (channel, rerouted_from), or None when only a broken account could be used."""
    if channel == _CASH:
        return channel, None
    to_account = [h for h in history if h.account_idx is not None]
    last = to_account[-1] if to_account else None
    # a contested failure (the bank also said paid) re-routes nobody until it is resolved
    broken = (last is not None and last.state in FAILED_STATES and not last.contested
              and last.reason_code in ACCOUNT_PROBLEMS and last.account_idx == account_idx)
    if not broken:
        return channel, None
    return (_CASH, channel) if programme.allows(Channel.CASH) else None


def _plan_with_history(ctx: BuildContext, person: tuple[Any, ...],
                       history: list[Row[Any]]) -> Plan | None:
    """Plan someone with earlier instructions: maybe re-routed to cash, maybe with arrears."""
    bid, channel, bank_bin, account_idx, province, commune = person
    chosen = _channel(ctx.programme, channel, account_idx, history)
    if chosen is None:
        return None
    channel, rerouted_from = chosen
    carried = _carried(ctx, history)
    route = _route(ctx, channel, None if channel == _CASH else bank_bin, province)
    return (route, intern(province), intern(commune), bid, intern(channel), rerouted_from,
            sum(amount for _, amount in carried), carried)


def _carried(ctx: BuildContext, history: list[Row[Any]]) -> tuple[tuple[int, int], ...]:
    """Return (instruction id, amount) of the earlier failures whose arrears are paid now.

    A contested failure carries nothing: the bank's answers disagree, and paying arrears on
    it could pay the person twice; it waits for an auditor.
    """
    rule = ARREARS_RULES[ctx.programme.code]
    return tuple((h.id, h.amount) for h in history
                 if h.carried is None and h.state in FAILED_STATES and not h.contested
                 and h.reason_code in rule.eligible_reasons
                 and months_between(h.period, ctx.period) <= rule.max_months_back)


def _route(ctx: BuildContext, channel: str, bank_bin: str | None, province: str) -> str:
    """Return the route, asking the routing table once per (channel, BIN, province)."""
    key = (channel, bank_bin, province)
    route = ctx.routes.get(key)
    if route is None:
        route = intern(ctx.routing.route_for(programme=ctx.programme.code, channel=channel,
                                             bank_bin=bank_bin, province_code=province))
        ctx.routes[key] = route
    return route
