"""Read-side queries of verification outcomes: filtered pages of recorded checks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary
from beneficiaries.verification.models import Verification, VerificationOverride


@dataclass(frozen=True)
class VerificationFilter:
    """Optional filters; None means any.

    Attributes:
        outcome: one ``Outcome`` value.
        programme: the beneficiary's programme.
        province: the beneficiary's 2-digit province code.
        beneficiary_id: one beneficiary.
        latest_only: only each beneficiary's newest check (what payment is judged on).
    """

    outcome: str | None = None
    programme: str | None = None
    province: str | None = None
    beneficiary_id: int | None = None
    latest_only: bool = True


def _filtered(filters: VerificationFilter) -> Select[Any]:
    """The selected checks with an ``overridden`` flag, before ordering and paging."""
    v, b = Verification, Beneficiary
    query = (select(v, VerificationOverride.id.is_not(None).label("overridden"))
             .join(b, b.id == v.beneficiary_id)
             .outerjoin(VerificationOverride, VerificationOverride.verification_id == v.id))
    if filters.latest_only:
        # The newest check has the highest id: ids grow with time and rows are append-only.
        latest = (select(func.max(v.id).label("vid")).group_by(v.beneficiary_id).subquery())
        query = query.join(latest, latest.c.vid == v.id)
    conditions = [column == value for column, value in (
        (v.outcome, filters.outcome), (b.programme, filters.programme),
        (b.province_code, filters.province), (v.beneficiary_id, filters.beneficiary_id),
    ) if value is not None]
    return query.where(*conditions)


def list_verifications(session: Session, filters: VerificationFilter, page: int,
                       per_page: int) -> dict[str, Any]:
    """Return one page of recorded checks (newest first) with the total count.

    Args:
        session: the request's session.
        filters: which checks to list.
        page: 1-based page number.
        per_page: checks per page.

    Returns:
        ``{"items": [...], "total": n, "page": page, "per_page": per_page}``; each item carries
        the check's fields and ``overridden``.
    """
    query = _filtered(filters)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = session.execute(query.order_by(Verification.id.desc())
                           .limit(per_page).offset((page - 1) * per_page)).all()
    items = [_item(check, bool(overridden)) for check, overridden in rows]
    return {"items": items, "total": total, "page": page, "per_page": per_page}


def _item(check: Verification, overridden: bool) -> dict[str, Any]:
    return {"id": check.id, "beneficiary_id": check.beneficiary_id, "outcome": check.outcome,
            "differences": check.differences, "date_of_death": check.date_of_death,
            "evidence_digest": check.evidence_digest, "checked_at": check.checked_at,
            "actor": check.actor, "overridden": overridden}
