"""Cashless figures from the database: one GROUP BY over instructions, one over beneficiaries.

The database does the counting (SUM of CASE per state and channel), never one row at a time;
the pure functions of :mod:`.figures` turn the groups into rates and check them. Only
instructions of batches approved or later count. Active beneficiaries of a period come from
the registry's history (:mod:`.active`): those active at the end of the period (of the last
month of a range; of each month when grouped by period); without a period, today's.
Account coverage counts, among them, those whose registry record has an account today
(account numbers are not dated in the history).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryStatus
from disburse.core.errors import ValidationFailed
from disburse.payments.models import Batch, Instruction, InstructionState
from reconciliation.metrics.active import active_ids_as_of, period_end

#: The dimensions a report may be grouped by, in display order.
from reconciliation.metrics.figures import (
    ACCOUNT_CHANNELS,
    GROUP_KEYS,
    INSTRUCTING_BATCH_STATES,
    NUMBER_FIELDS,
    OPEN_STATES,
    TALLIES,
    CashlessFigures,
    CashlessReport,
    CashlessRow,
    FiguresDoNotAddUp,
    MetricsError,
    MetricsFilter,
    check_total,
    figures_of,
    parse_by,
    periods_between,
)
from reconciliation.metrics.targets import Targets
from reconciliation.places import check_place

_I = Instruction
_B = Beneficiary
_INSTRUCTION_KEYS: Final = {"programme": _I.programme, "province": _I.province_code,
                            "commune": _I.commune_code, "period": _I.period}
_BENEFICIARY_KEYS: Final = {"programme": _B.programme, "province": _B.province_code,
                            "commune": _B.commune_code}


def _tally(name: str, condition: ColumnElement[bool]) -> list[ColumnElement[int]]:
    """SUM(CASE) of count and amount for the instructions meeting ``condition``."""
    return [func.coalesce(func.sum(case((condition, 1), else_=0)), 0).label(f"{name}_count"),
            func.coalesce(func.sum(case((condition, _I.amount), else_=0)), 0)
            .label(f"{name}_amount")]


def _tally_columns() -> list[ColumnElement[int]]:
    paid = _I.state == InstructionState.PAID.value
    cash = _I.channel == "cash"
    conditions: dict[str, ColumnElement[bool]] = {
        "instructed": _I.state != InstructionState.CANCELLED.value,
        "paid": paid,
        "cashless": paid & _I.channel.in_(ACCOUNT_CHANNELS),
        "cash": paid & cash,
        "rerouted_cash": paid & cash & _I.rerouted_from.in_(ACCOUNT_CHANNELS),
        "rejected": _I.state == InstructionState.REJECTED.value,
        "returned": _I.state == InstructionState.RETURNED.value,
        "open": _I.state.in_(OPEN_STATES),
    }
    return [column for name in TALLIES for column in _tally(name, conditions[name])]


def _instruction_conditions(filters: MetricsFilter) -> list[ColumnElement[bool]]:
    given = [(_I.programme, filters.programme), (_I.province_code, filters.province),
             (_I.commune_code, filters.commune), (_I.period, filters.period),
             (_I.batch_id, filters.batch_id)]
    conditions = [column == value for column, value in given if value is not None]
    conditions.append(_I.batch_id.in_(select(Batch.id).where(
        Batch.state.in_(INSTRUCTING_BATCH_STATES))))
    if filters.period_from is not None:
        conditions.append(_I.period >= filters.period_from)
    if filters.period_to is not None:
        conditions.append(_I.period <= filters.period_to)
    return conditions


def as_of_period(filters: MetricsFilter) -> str | None:
    """The period whose end the active count is taken at (None: today's registry)."""
    return filters.period or filters.period_to


def _beneficiary_conditions(filters: MetricsFilter,
                            period: str | None) -> list[ColumnElement[bool]]:
    given = [(_B.programme, filters.programme), (_B.province_code, filters.province),
             (_B.commune_code, filters.commune)]
    conditions = [column == value for column, value in given if value is not None]
    conditions.append(_B.status == BeneficiaryStatus.ACTIVE.value if period is None
                      else _B.id.in_(active_ids_as_of(period_end(period))))
    if filters.batch_id is not None:  # the people of that batch only
        conditions.append(_B.id.in_(select(_I.beneficiary_id)
                                    .where(_I.batch_id == filters.batch_id)))
    return conditions


def aggregate(session: Session, filters: MetricsFilter, by: Sequence[str]) -> list[CashlessRow]:
    """Count and sum instructions and active beneficiaries per group, in the database.

    Args:
        session: A session.
        filters: Which instructions and beneficiaries count.
        by: Group keys (a subset of ``GROUP_KEYS``); empty for one overall row.

    Returns:
        One row per group, ordered by the group keys; with ``period`` in ``by`` only groups
        that have instructions appear, and each carries the registry's current coverage.
    """
    keys = [k for k in GROUP_KEYS if k in by]
    i_keys = [_INSTRUCTION_KEYS[k].label(k) for k in keys]
    b_names = [k for k in keys if k != "period"]
    instructed = session.execute(
        select(*i_keys, *_tally_columns()).where(*_instruction_conditions(filters))
        .group_by(*i_keys)).mappings()
    coverages: dict[str | None, dict[tuple[Any, ...], tuple[int, int]]] = {}

    def coverage_of(period: str | None) -> dict[tuple[Any, ...], tuple[int, int]]:
        if period not in coverages:
            coverages[period] = _coverage(session, filters, b_names, period)
        return coverages[period]

    coverage = coverage_of(as_of_period(filters))
    rows: dict[tuple[Any, ...], CashlessRow] = {}
    for found in instructed:
        values = {k: found[k] for k in keys}
        in_force = coverage_of(values["period"]) if "period" in keys else coverage
        active, holders = in_force.get(tuple(values[k] for k in b_names), (0, 0))
        numbers: dict[str, Any] = {n: int(found[n]) for n in NUMBER_FIELDS if n in found}
        rows[tuple(values.values())] = CashlessRow(**values, **numbers,
                                                   active_beneficiaries=active,
                                                   with_account=holders)
    if "period" not in keys:  # people with no instruction in scope still count for coverage
        for key, (active, holders) in coverage.items():
            if key not in rows:
                rows[key] = CashlessRow(**dict(zip(keys, key, strict=True)),
                                        active_beneficiaries=active, with_account=holders)
    return [rows[k] for k in sorted(rows, key=lambda k: tuple(v or "" for v in k))]


def _coverage(session: Session, filters: MetricsFilter, b_names: Sequence[str],
              period: str | None) -> dict[tuple[Any, ...], tuple[int, int]]:
    """(active, with an account) per group of ``b_names``, at the end of ``period``."""
    b_keys = [_BENEFICIARY_KEYS[k].label(k) for k in b_names]
    has_account = _B.channel.in_(ACCOUNT_CHANNELS) & _B.account_idx.is_not(None)
    return {tuple(r[k] for k in b_names): (int(r["active"]), int(r["holders"]))
            for r in session.execute(
                select(*b_keys, func.count().label("active"),
                       func.coalesce(func.sum(case((has_account, 1), else_=0)), 0)
                       .label("holders"))
                .where(*_beneficiary_conditions(filters, period)).group_by(*b_keys)).mappings()}


def _figures_or_raise(rows: Sequence[CashlessRow], targets: Targets | None,
                      province: str | None, extra: list[MetricsError]) -> list[CashlessFigures]:
    done = [figures_of(row, targets, province) for row in rows]
    errors = extra + [e for d in done if isinstance(d, list) for e in d]
    if errors:
        raise FiguresDoNotAddUp(f"{len(errors)} figure(s) do not add up: {errors[0].message}",
                                errors=[asdict(e) for e in errors])
    return [d for d in done if isinstance(d, CashlessFigures)]


def cashless_report(session: Session, filters: MetricsFilter, by: Sequence[str] = (),
                    targets: Targets | None = None) -> CashlessReport:
    """Return the cashless figures of every group and their total.

    Raises:
        ValidationFailed: an unknown province or commune code (naming the known ones).
        FiguresDoNotAddUp: a group (or the groups against the total) breaks an identity.
    """
    check_place(filters.province, filters.commune)
    by = parse_by(by)
    groups = aggregate(session, filters, by)
    [total] = aggregate(session, filters, ()) or [CashlessRow()]
    figures = _figures_or_raise([*groups, total], targets, filters.province,
                                check_total(groups, total, by))
    return CashlessReport(filters, by, figures[:-1], figures[-1])


def cashless_trend(session: Session, filters: MetricsFilter, by: Sequence[str] = (),
                   targets: Targets | None = None) -> CashlessReport:
    """Return the figures per period from ``filters.period_from`` to ``period_to``.

    ``periods`` holds one total per month of the range (empty months included, with None
    rates); ``groups`` splits each month further by ``by``.

    Raises:
        ValidationFailed: a missing or bad range. FiguresDoNotAddUp: as ``cashless_report``.
    """
    if filters.period_from is None or filters.period_to is None:
        raise ValidationFailed("a trend needs from and to periods",
                               errors=[{"parameter": "from", "messages": ["required"]}])
    months = periods_between(filters.period_from, filters.period_to)
    filters = replace(filters, period=None)
    report = cashless_report(session, filters, (*parse_by(by), "period"), targets)
    per_month = {r.period: r for r in aggregate(session, filters, ("period",))}
    monthly = [per_month.get(m) or _empty_month(session, filters, m) for m in months]
    periods = _figures_or_raise(monthly, targets, filters.province, [])
    return replace(report, periods=periods)


def _empty_month(session: Session, filters: MetricsFilter, month: str) -> CashlessRow:
    """A month with no instruction: nothing instructed, the people active at its end."""
    [(active, holders)] = _coverage(session, filters, (), month).values() or [(0, 0)]
    return CashlessRow(period=month, active_beneficiaries=active, with_account=holders)
