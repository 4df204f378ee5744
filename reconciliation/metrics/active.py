"""Who was an active beneficiary at the end of a period, from the registry's history.

The registry row holds today's status only; every change of status is also an append-only
``beneficiary_history`` row (``added``, ``reactivated``, ``ended``, ``suspended``). A person
counts as active for a period when their last status-changing history row written before the
end of that period (midnight after its last day, Asia/Ho_Chi_Minh) left them active. A
person added after the period does not count for it; one ended during it does not either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from sqlalchemy import Select, and_, func, select

from beneficiaries.models import BeneficiaryHistory, BeneficiaryStatus
from disburse.core.clock import VN_TZ
from disburse.core.periods import parse_period

#: The history changes that set a status, and the status each leaves.
STATUS_CHANGES: Final = {
    "added": BeneficiaryStatus.ACTIVE.value,
    "reactivated": BeneficiaryStatus.ACTIVE.value,
    "ended": BeneficiaryStatus.ENDED.value,
    "suspended": BeneficiaryStatus.SUSPENDED.value,
}
ACTIVATING: Final = tuple(c for c, s in STATUS_CHANGES.items()
                          if s == BeneficiaryStatus.ACTIVE.value)


def period_end(period: str) -> datetime:
    """Return the UTC instant a period ends: midnight after its last day in Vietnam.

    Raises:
        ValidationFailed: ``period`` is not a month (``YYYY-MM``).
    """
    first = parse_period(period)
    year, month = (first.year + 1, 1) if first.month == 12 else (first.year, first.month + 1)
    return datetime(year, month, 1, tzinfo=VN_TZ).astimezone(UTC)


def active_ids_as_of(at: datetime) -> Select[tuple[int]]:
    """Return a SELECT of the ids of the beneficiaries active at ``at`` (by their history)."""
    h = BeneficiaryHistory
    last = (select(h.beneficiary_id, func.max(h.version).label("version"))
            .where(h.at < at, h.change.in_(tuple(STATUS_CHANGES)))
            .group_by(h.beneficiary_id).subquery())
    return (select(h.beneficiary_id)
            .join(last, and_(h.beneficiary_id == last.c.beneficiary_id,
                             h.version == last.c.version))
            .where(h.change.in_(ACTIVATING)))
