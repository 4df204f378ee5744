"""Cashless figures, pure: one group's counts and sums, their rates and the identity they obey.

Definitions: an instruction counts (is *instructed*) when it is not cancelled and its batch
was approved or later; a draft, pending, rejected-to-draft or cancelled batch instructs
nothing. *Active beneficiaries* of a period are the people whose registry history left them
active at its end. Every figure counts payments, money (VND) or people (``UNITS``).

``CashlessRow`` holds one group's counts and sums, ``figures_of`` turns it into rates, and
``check_row`` checks the identity every group must satisfy, by count and by amount::

    paid + rejected + returned + open = instructed (every instruction not cancelled)
    cashless + cash = paid

A group that breaks it is reported as an error (``FiguresDoNotAddUp``), never as a number.
Rates are fractions in [0, 1], or None when the group has nothing to divide by.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from typing import Any, Final

from disburse.core.errors import DomainError, ValidationFailed
from disburse.payments.build import parse_period
from disburse.payments.lifecycle import BatchState
from disburse.payments.models import InstructionState

#: The dimensions a report may be grouped by, in display order.
from reconciliation.metrics.targets import Targets, progress_against

GROUP_KEYS: Final = ("programme", "province", "commune", "period")
#: Channels that pay into an account (bank account or e-wallet).
ACCOUNT_CHANNELS: Final = ("bank", "ewallet")
#: States of an instruction that has not reached a final state yet.
OPEN_STATES: Final = (InstructionState.INSTRUCTED.value, InstructionState.ACCEPTED.value)
#: Batch states that instruct: approved or later. A draft, a batch pending approval, one
#: rejected back to draft and a cancelled batch instruct nothing and count nowhere.
INSTRUCTING_BATCH_STATES: Final = tuple(s.value for s in (
    BatchState.APPROVED, BatchState.FILES_READY, BatchState.SUBMITTED,
    BatchState.PARTIALLY_SETTLED, BatchState.SETTLED, BatchState.CLOSED))
#: What each figure counts: payments (instructions), money (whole dong) or people; a rate
#: says what it divides. Every export names it (JSON ``units``, column headers, chart title).
UNITS: Final = {
    **{f"{name}_count": "payments" for name in ("instructed", "paid", "cashless", "cash",
                                                  "rerouted_cash", "rejected", "returned",
                                                  "open")},
    **{f"{name}_amount": "money_vnd" for name in ("instructed", "paid", "cashless", "cash",
                                                    "rerouted_cash", "rejected", "returned",
                                                    "open")},
    "active_beneficiaries": "people", "with_account": "people",
    "account_coverage": "share_of_people",
    "account_holder_cashless_rate": "share_of_payments",
    **{f"{name}_count": "share_of_payments" for name in (
        "cashless_rate", "cash_share", "paid_share", "rejected_share", "returned_share",
        "open_share")},
    **{f"{name}_amount": "share_of_money" for name in (
        "cashless_rate", "cash_share", "paid_share", "rejected_share", "returned_share",
        "open_share")},
}
#: The label of the totals row, Vietnamese first.
TOTAL_LABEL: Final = "Tổng cộng (Total)"
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
    or accepted; ``instructed`` is every instruction that was not cancelled, in a batch that
    was approved or later (``INSTRUCTING_BATCH_STATES``). ``active_beneficiaries`` are the
    people active at the end of the period (the registry's history), or today without one.
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


#: The count and amount fields of ``CashlessRow`` (everything but the group keys).
NUMBER_FIELDS: Final = tuple(f.name for f in fields(CashlessRow) if f.name not in GROUP_KEYS)


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
                                "units": dict(UNITS),
                                "groups": [g.to_dict() for g in self.groups],
                                "total": {**self.total.to_dict(), "label": TOTAL_LABEL}}
        if self.filters.period_from is not None:
            data["periods"] = [p.to_dict() for p in self.periods]
        return data


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
    totals = dict.fromkeys(NUMBER_FIELDS, 0)
    for row in rows:
        for name in NUMBER_FIELDS:
            totals[name] += getattr(row, name)
    return CashlessRow(**group, **totals)  # type: ignore[arg-type]


def check_total(groups: Sequence[CashlessRow], total: CashlessRow,
                by: Sequence[str]) -> list[MetricsError]:
    """Return a mismatch when the groups do not add up to the separately counted total.

    Coverage is not compared when grouping by period: every period repeats the registry.
    """
    summed = sum_rows(groups)
    names = [n for n in NUMBER_FIELDS
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
