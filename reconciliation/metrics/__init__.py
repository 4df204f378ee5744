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
Only instructions of batches approved or later count (a draft, pending, rejected-to-draft or
cancelled batch instructs nothing). Active beneficiaries of a period are those the registry's
history shows active at its end (:mod:`.active`); coverage counts which of them hold an
account today. Every figure names its unit (``UNITS``: payments, money or people).

Modules: :mod:`.figures` (the pure model: rows, rates, checks), :mod:`.targets` (the cashless
targets) and :mod:`.queries` (the GROUP BY queries, ``cashless_report`` and
``cashless_trend``); the names are re-exported here.
"""

from reconciliation.metrics.figures import (
    ACCOUNT_CHANNELS,
    GROUP_KEYS,
    INSTRUCTING_BATCH_STATES,
    MAX_TREND_MONTHS,
    NUMBER_FIELDS,
    OPEN_STATES,
    TALLIES,
    TOTAL_LABEL,
    UNITS,
    CashlessFigures,
    CashlessReport,
    CashlessRow,
    FiguresDoNotAddUp,
    MetricsError,
    MetricsFilter,
    check_row,
    check_total,
    figures_of,
    parse_by,
    periods_between,
    rate,
    rates_of,
    sum_rows,
)
from reconciliation.metrics.queries import (
    aggregate,
    cashless_report,
    cashless_trend,
)
from reconciliation.metrics.targets import (
    DEFAULT_TARGETS_FILE,
    TARGET_RATES,
    Targets,
    load_targets,
    parse_targets,
    progress_against,
)

__all__ = [
    "ACCOUNT_CHANNELS",
    "DEFAULT_TARGETS_FILE",
    "GROUP_KEYS",
    "INSTRUCTING_BATCH_STATES",
    "MAX_TREND_MONTHS",
    "NUMBER_FIELDS",
    "OPEN_STATES",
    "TALLIES",
    "TARGET_RATES",
    "TOTAL_LABEL",
    "UNITS",
    "CashlessFigures",
    "CashlessReport",
    "CashlessRow",
    "FiguresDoNotAddUp",
    "MetricsError",
    "MetricsFilter",
    "Targets",
    "aggregate",
    "cashless_report",
    "cashless_trend",
    "check_row",
    "check_total",
    "figures_of",
    "load_targets",
    "parse_by",
    "parse_targets",
    "periods_between",
    "progress_against",
    "rate",
    "rates_of",
    "sum_rows",
]
