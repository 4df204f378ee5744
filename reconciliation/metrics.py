"""Cashless metrics: where every dong of a period went, by programme, province and commune.

The database does the counting: one GROUP BY over ``payment_instructions`` (SUM of CASE per
state and channel) and one over ``beneficiaries`` (account coverage), never one row at a
time. Everything after that is pure: ``CashlessRow`` holds one group's counts and sums,
``figures_of`` turns it into rates, and ``check_row`` checks the identity every group must
satisfy, by count and by amount::

    paid + rejected + returned + open = instructed (every instruction not cancelled)
    cashless + cash = paid

A group that breaks it is reported as an error (``FiguresDoNotAddUp``), never as a number.
Rates are fractions in [0, 1], or None when the group has nothing to divide by.
Account coverage is the registry as it stands now (the registry keeps no dated snapshot).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, Final

from sqlalchemy import ColumnElement, case, func, select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryStatus
from disburse.core.errors import ConfigurationError, DomainError, ValidationFailed
from disburse.payments.build import parse_period
from disburse.payments.models import Instruction, InstructionState

#: The dimensions a report may be grouped by, in display order.
GROUP_KEYS: Final = ("programme", "province", "commune", "period")
#: Channels that pay into an account (bank account or e-wallet).
ACCOUNT_CHANNELS: Final = ("bank", "ewallet")
#: States of an instruction that has not reached a final state yet.
OPEN_STATES: Final = (InstructionState.INSTRUCTED.value, InstructionState.ACCEPTED.value)
#: Longest trend a request may ask for, in months.
MAX_TREND_MONTHS: Final = 120
#: The tallies of a group: each has a ``_count`` and an ``_amount`` field on ``CashlessRow``.
TALLIES: Final = ("instructed", "paid", "cashless", "cash", "rerouted_cash", "rejected",
                  "returned", "open")


class FiguresDoNotAddUp(DomainError):
    """The aggregates broke an identity that must hold; no figure is given."""

    status = 500
    code = "figures_do_not_add_up"
    title = "Figures do not add up"


@dataclass(frozen=True)
class MetricsError:
    """One broken identity: which group, which figure, what was expected."""

    code: str
    field: str
    message: str
    group: dict[str, str | None]


@dataclass(frozen=True)
class MetricsFilter:
    """Which instructions and beneficiaries count; every member is optional."""

    programme: str | None = None
    province: str | None = None
    commune: str | None = None
    period: str | None = None
    period_from: str | None = None
    period_to: str | None = None
    batch_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the filters that are set."""
        return {k: v for k, v in asdict(self).items() if v is not None}


@dataclass(frozen=True)
class CashlessRow:
    """One group's counts and sums (whole dong), as the GROUP BY query returns them.

    ``cashless`` is paid into an account, ``cash`` paid in cash, of which ``rerouted_cash``
    was paid in cash although the person has an account (re-routed); ``open`` is instructed
    or accepted; ``instructed`` is every instruction that was not cancelled.
    """

    programme: str | None = None
    province: str | None = None
    commune: str | None = None
    period: str | None = None
    instructed_count: int = 0
    instructed_amount: int = 0
    paid_count: int = 0
    paid_amount: int = 0
    cashless_count: int = 0
    cashless_amount: int = 0
    cash_count: int = 0
    cash_amount: int = 0
    rerouted_cash_count: int = 0
    rerouted_cash_amount: int = 0
    rejected_count: int = 0
    rejected_amount: int = 0
    returned_count: int = 0
    returned_amount: int = 0
    open_count: int = 0
    open_amount: int = 0
    active_beneficiaries: int = 0
    with_account: int = 0

    def group(self) -> dict[str, str | None]:
        """Return the group's key values."""
        return {key: getattr(self, key) for key in GROUP_KEYS}


_NUMBERS: Final = tuple(f.name for f in fields(CashlessRow) if f.name not in GROUP_KEYS)


@dataclass(frozen=True)
class CashlessFigures:
    """A group's tallies with its rates and its progress against the province's targets."""

    row: CashlessRow
    rates: dict[str, float | None]
    targets: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return one flat JSON-ready mapping: group keys, tallies, rates, targets."""
        return {**asdict(self.row), **self.rates, "targets": self.targets}


@dataclass(frozen=True)
class CashlessReport:
    """The figures of every group, their total and (for a trend) the total of each period."""

    filters: MetricsFilter
    by: tuple[str, ...]
    groups: list[CashlessFigures]
    total: CashlessFigures
    periods: list[CashlessFigures] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return JSON-ready data (the CLI's ``--format json`` and the API answer)."""
        data: dict[str, Any] = {"filters": self.filters.to_dict(), "by": list(self.by),
                                "groups": [g.to_dict() for g in self.groups],
                                "total": self.total.to_dict()}
        if self.filters.period_from is not None:
            data["periods"] = [p.to_dict() for p in self.periods]
        return data


# --- targets -------------------------------------------------------------------------------

#: The packaged targets; ``DISBURSE_TARGETS_FILE`` names another file of the same shape.
DEFAULT_TARGETS_FILE: Final = Path(__file__).with_name("targets_default.json")
#: The rates a target may be set for (in percent in the file).
TARGET_RATES: Final = ("cashless_rate_count", "cashless_rate_amount",
                       "account_holder_cashless_rate", "account_coverage")


@dataclass(frozen=True)
class Targets:
    """Target rates in percent: a default and per-province overrides."""

    default: dict[str, float]
    provinces: dict[str, dict[str, float]]
    source: str

    def for_province(self, province: str | None) -> dict[str, float]:
        """Return the targets that apply to ``province`` (the default where not overridden)."""
        return {**self.default, **self.provinces.get(province or "", {})}


def _percentages(where: str, given: Any) -> dict[str, float]:
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"targets: {where} must be an object of percentages")
    out: dict[str, float] = {}
    for name, value in given.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if name not in TARGET_RATES or not ok or not 0 <= value <= 100:
            raise ConfigurationError(f"targets: {where}.{name} must be one of "
                                     f"{', '.join(TARGET_RATES)} with a percentage 0-100")
        out[str(name)] = float(value)
    return out


def parse_targets(data: Any, source: str = "<data>") -> Targets:
    """Return the targets in ``data`` (``{"default": {...}, "provinces": {"01": {...}}}``).

    Raises:
        ConfigurationError: a missing default, an unknown rate or a value outside 0-100.
    """
    if not isinstance(data, Mapping) or "default" not in data:
        raise ConfigurationError(f"targets: {source} needs a 'default' object")
    provinces = data.get("provinces") or {}
    if not isinstance(provinces, Mapping):
        raise ConfigurationError("targets: 'provinces' must map province codes to objects")
    return Targets(_percentages("default", data["default"]),
                   {str(code): _percentages(f"provinces.{code}", values)
                    for code, values in provinces.items()}, source)


def load_targets(path: Path | None = None) -> Targets:
    """Read the targets from ``path``, ``$DISBURSE_TARGETS_FILE`` or the packaged default.

    Raises:
        ConfigurationError: the file cannot be read or is not valid (see ``parse_targets``).
    """
    chosen = path or Path(os.environ.get("DISBURSE_TARGETS_FILE") or DEFAULT_TARGETS_FILE)
    try:
        data = json.loads(chosen.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"targets: cannot read {chosen}: {error}") from None
    return parse_targets(data, str(chosen))


def progress_against(target: Mapping[str, float],
                     rates: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Return, per targeted rate, the target (a fraction), the actual rate and whether it is met.

    ``met`` and ``gap`` are None when the group has no rate (nothing to divide by).
    """
    progress = []
    for name in TARGET_RATES:
        if name not in target:
            continue
        wanted, actual = target[name] / 100, rates.get(name)
        progress.append({"rate": name, "target": wanted, "actual": actual,
                         "met": None if actual is None else actual >= wanted - 1e-12,
                         "gap": None if actual is None else max(0.0, wanted - actual)})
    return progress


# --- pure functions ------------------------------------------------------------------------


def rate(numerator: int, denominator: int) -> float | None:
    """Return numerator / denominator, or None for an empty group (denominator 0)."""
    return None if denominator == 0 else numerator / denominator


def check_row(row: CashlessRow) -> list[MetricsError]:
    """Return the identities ``row`` breaks (empty when its figures add up)."""
    errors: list[MetricsError] = []
    for unit in ("count", "amount"):
        parts = {name: getattr(row, f"{name}_{unit}") for name in TALLIES}
        finals = parts["paid"] + parts["rejected"] + parts["returned"] + parts["open"]
        if finals != parts["instructed"]:
            errors.append(MetricsError(
                "states_do_not_add_up", f"instructed_{unit}",
                f"paid + rejected + returned + open = {finals} but instructed = "
                f"{parts['instructed']} (an instruction in an unknown state?)", row.group()))
        if parts["cashless"] + parts["cash"] != parts["paid"]:
            errors.append(MetricsError(
                "channels_do_not_add_up", f"paid_{unit}",
                f"cashless {parts['cashless']} + cash {parts['cash']} != paid {parts['paid']} "
                f"(a paid instruction on an unknown channel?)", row.group()))
        if not 0 <= parts["rerouted_cash"] <= parts["cash"]:
            errors.append(MetricsError("rerouted_out_of_range", f"rerouted_cash_{unit}",
                                       "re-routed cash is not part of cash", row.group()))
    if not 0 <= row.with_account <= row.active_beneficiaries:
        errors.append(MetricsError("coverage_out_of_range", "with_account",
                                   "more account holders than active beneficiaries",
                                   row.group()))
    return errors


def rates_of(row: CashlessRow) -> dict[str, float | None]:
    """Return the rates of a group whose figures add up (see ``check_row``).

    Cashless and cash shares are out of what was paid; paid, rejected, returned and open
    shares are out of what was instructed.
    """
    holders_paid = row.cashless_count + row.rerouted_cash_count
    return {
        "account_coverage": rate(row.with_account, row.active_beneficiaries),
        "cashless_rate_count": rate(row.cashless_count, row.paid_count),
        "cashless_rate_amount": rate(row.cashless_amount, row.paid_amount),
        "account_holder_cashless_rate": rate(row.cashless_count, holders_paid),
        "cash_share_count": rate(row.cash_count, row.paid_count),
        "cash_share_amount": rate(row.cash_amount, row.paid_amount),
        **{f"{name}_share_{unit}": rate(getattr(row, f"{name}_{unit}"),
                                        getattr(row, f"instructed_{unit}"))
           for name in ("paid", "rejected", "returned", "open") for unit in ("count", "amount")},
    }


def figures_of(row: CashlessRow, targets: Targets | None = None,
               province: str | None = None) -> CashlessFigures | list[MetricsError]:
    """Return the group's figures, or the identities it breaks instead of wrong numbers.

    Args:
        row: One group's tallies.
        targets: Targets to measure progress against (none when None).
        province: The province whose targets apply when the row is not grouped by province.
    """
    errors = check_row(row)
    if errors:
        return errors
    rates = rates_of(row)
    progress = ([] if targets is None
                else progress_against(targets.for_province(row.province or province), rates))
    return CashlessFigures(row, rates, progress)


def sum_rows(rows: Iterable[CashlessRow], **group: str | None) -> CashlessRow:
    """Return the sum of ``rows`` as one row with the given group values."""
    totals = dict.fromkeys(_NUMBERS, 0)
    for row in rows:
        for name in _NUMBERS:
            totals[name] += getattr(row, name)
    return CashlessRow(**group, **totals)  # type: ignore[arg-type]


def check_total(groups: Sequence[CashlessRow], total: CashlessRow,
                by: Sequence[str]) -> list[MetricsError]:
    """Return a mismatch when the groups do not add up to the separately counted total.

    Coverage is not compared when grouping by period: every period repeats the registry.
    """
    summed = sum_rows(groups)
    names = [n for n in _NUMBERS
             if "period" not in by or n not in ("active_beneficiaries", "with_account")]
    return [MetricsError("groups_do_not_add_up", name,
                         f"the groups sum to {getattr(summed, name)}, the total is "
                         f"{getattr(total, name)}", total.group())
            for name in names if getattr(summed, name) != getattr(total, name)]


def periods_between(first: str, last: str) -> list[str]:
    """Return the months from ``first`` to ``last`` inclusive (``YYYY-MM``).

    Raises:
        ValidationFailed: bad months, ``first`` after ``last``, or a span over 120 months.
    """
    start, end = parse_period(first), parse_period(last)
    months = (end.year - start.year) * 12 + end.month - start.month + 1
    if months < 1 or months > MAX_TREND_MONTHS:
        raise ValidationFailed(f"from {first} to {last} must span 1 to {MAX_TREND_MONTHS} months",
                               errors=[{"parameter": "to", "messages": ["out of range"]}])
    return [_add_months(start, n) for n in range(months)]


def _add_months(start: date, months: int) -> str:
    index = start.year * 12 + start.month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def parse_by(value: str | Sequence[str] | None) -> tuple[str, ...]:
    """Return the group keys of a ``by`` value (``"programme,province"``) in display order.

    Raises:
        ValidationFailed: an unknown key (naming the ``by`` parameter).
    """
    names = value.split(",") if isinstance(value, str) else list(value or ())
    wanted = {n.strip() for n in names if n.strip()}
    unknown = sorted(wanted - set(GROUP_KEYS))
    if unknown:
        raise ValidationFailed(
            f"by: unknown group key(s) {', '.join(unknown)}; use {', '.join(GROUP_KEYS)}",
            errors=[{"parameter": "by", "messages": [f"unknown: {', '.join(unknown)}"]}])
    return tuple(k for k in GROUP_KEYS if k in wanted)


# --- the queries ---------------------------------------------------------------------------

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
    if filters.period_from is not None:
        conditions.append(_I.period >= filters.period_from)
    if filters.period_to is not None:
        conditions.append(_I.period <= filters.period_to)
    return conditions


def _beneficiary_conditions(filters: MetricsFilter) -> list[ColumnElement[bool]]:
    given = [(_B.programme, filters.programme), (_B.province_code, filters.province),
             (_B.commune_code, filters.commune)]
    conditions = [column == value for column, value in given if value is not None]
    conditions.append(_B.status == BeneficiaryStatus.ACTIVE.value)
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
    b_keys = [_BENEFICIARY_KEYS[k].label(k) for k in b_names]
    instructed = session.execute(
        select(*i_keys, *_tally_columns()).where(*_instruction_conditions(filters))
        .group_by(*i_keys)).mappings()
    has_account = _B.channel.in_(ACCOUNT_CHANNELS) & _B.account_idx.is_not(None)
    coverage = {tuple(r[k] for k in b_names): (int(r["active"]), int(r["holders"]))
                for r in session.execute(
                    select(*b_keys, func.count().label("active"),
                           func.coalesce(func.sum(case((has_account, 1), else_=0)), 0)
                           .label("holders"))
                    .where(*_beneficiary_conditions(filters)).group_by(*b_keys)).mappings()}
    rows: dict[tuple[Any, ...], CashlessRow] = {}
    for found in instructed:
        values = {k: found[k] for k in keys}
        active, holders = coverage.get(tuple(values[k] for k in b_names), (0, 0))
        numbers: dict[str, Any] = {n: int(found[n]) for n in _NUMBERS if n in found}
        rows[tuple(values.values())] = CashlessRow(**values, **numbers,
                                                   active_beneficiaries=active,
                                                   with_account=holders)
    if "period" not in keys:  # people with no instruction in scope still count for coverage
        for key, (active, holders) in coverage.items():
            if key not in rows:
                rows[key] = CashlessRow(**dict(zip(keys, key, strict=True)),
                                        active_beneficiaries=active, with_account=holders)
    return [rows[k] for k in sorted(rows, key=lambda k: tuple(v or "" for v in k))]


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
        FiguresDoNotAddUp: a group (or the groups against the total) breaks an identity.
    """
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
    monthly = [per_month.get(m, replace(CashlessRow(period=m), active_beneficiaries=
                                        report.total.row.active_beneficiaries,
                                        with_account=report.total.row.with_account))
               for m in months]
    periods = _figures_or_raise(monthly, targets, filters.province, [])
    return replace(report, periods=periods)
