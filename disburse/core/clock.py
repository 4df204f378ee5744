"""Time: aware UTC for storage, Asia/Ho_Chi_Minh for business dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime."""
    return datetime.now(UTC)


def business_date(at: datetime | None = None) -> date:
    """Return the business date in Vietnam for the instant ``at`` (default: now)."""
    moment = at if at is not None else utcnow()
    if moment.tzinfo is None:
        raise ValueError("business_date needs an aware datetime")
    return moment.astimezone(VN_TZ).date()
