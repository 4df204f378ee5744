"""Verification use cases: check beneficiaries, apply consequences, override mismatches.

Services take a session and only flush. Registry calls happen in the caller's transaction;
each outcome is stored with the registry's response digest as evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.orm import Session

from beneficiaries import bulk
from beneficiaries.models import Beneficiary, BeneficiaryStatus
from beneficiaries.registry import LookupResult, PopulationRegistry
from beneficiaries.verification.judge import Claimed, judge
from beneficiaries.verification.models import (
    MISMATCHES,
    Outcome,
    Verification,
    VerificationOverride,
)
from disburse import audit
from disburse.clock import utcnow
from disburse.errors import Conflict, NotFound, ValidationFailed
from disburse.keyring import Keyring
from disburse.users import Role, require_role

CHUNK = 5_000


@dataclass(frozen=True)
class VerifyScope:
    """Which beneficiaries to check."""

    programme: str | None = None
    province: str | None = None
    stale_only: bool = False
    max_age_days: int = 30
    beneficiary_ids: Sequence[int] | None = None


@dataclass
class VerifySummary:
    """Counts per outcome and the beneficiaries suspended as deceased."""

    checked: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    suspended_deceased: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        """Return JSON-ready data."""
        return {"checked": self.checked, "outcomes": dict(sorted(self.outcomes.items())),
                "suspended_deceased": self.suspended_deceased}


def _targets(session: Session, scope: VerifyScope, now: datetime) -> list[Beneficiary]:
    b = Beneficiary
    conditions = [b.status == BeneficiaryStatus.ACTIVE.value]
    if scope.programme:
        conditions.append(b.programme == scope.programme)
    if scope.province:
        conditions.append(b.province_code == scope.province)
    if scope.beneficiary_ids is not None:
        conditions.append(b.id.in_(list(scope.beneficiary_ids)))
    query = select(b).where(*conditions).order_by(b.id)
    if scope.stale_only:
        latest = (select(Verification.beneficiary_id, func.max(Verification.checked_at)
                         .label("at")).group_by(Verification.beneficiary_id).subquery())
        cutoff = now - timedelta(days=scope.max_age_days)
        query = (query.outerjoin(latest, latest.c.beneficiary_id == b.id)
                 .where((latest.c.at.is_(None)) | (latest.c.at < cutoff)))
    return list(session.execute(query).scalars())


def verify(session: Session, keyring: Keyring, registry: PopulationRegistry, *,
           scope: VerifyScope, actor: str,
           on_progress: Callable[[int, int], None] | None = None) -> VerifySummary:
    """Check beneficiaries in ``scope`` against the registry and record every outcome.

    A deceased beneficiary is suspended (with a history row and an audit entry). Mismatches
    block payment through their recorded outcome until corrected or overridden.
    """
    now = utcnow()
    targets = _targets(session, scope, now)
    summary = VerifySummary()
    for start in range(0, len(targets), CHUNK):
        chunk = targets[start:start + CHUNK]
        ids = {b.id: keyring.decrypt("citizen_id", b.citizen_id_enc) for b in chunk}
        answers = registry.lookup_many(sorted(set(ids.values())))
        _record_chunk(session, chunk, ids, answers, actor, summary)
        if on_progress:
            on_progress(min(start + CHUNK, len(targets)), len(targets))
    audit.record(session, actor=actor, action="verification.run", object_type="verification",
                 object_id=now.isoformat(), detail={**summary.to_dict(),
                                                    "scope": vars(scope) | {"beneficiary_ids":
                                                                            None}})
    return summary


def _record_chunk(session: Session, chunk: list[Beneficiary], ids: dict[int, str],
                  answers: dict[str, LookupResult], actor: str, summary: VerifySummary) -> None:
    rows = []
    for b in chunk:
        answer = answers[ids[b.id]]
        verdict = judge(Claimed(b.full_name, b.date_of_birth, b.gender), answer)
        rows.append({
            "beneficiary_id": b.id, "beneficiary_version": b.version,
            "outcome": verdict.outcome.value,
            "differences": verdict.differences, "date_of_death": verdict.date_of_death,
            "evidence_digest": answer.evidence_digest,
            "request_id": answer.request_id,
            "registry_served_at": answer.served_at,
            "checked_at": utcnow(), "actor": actor,
        })
        summary.checked += 1
        summary.outcomes[verdict.outcome.value] += 1
        if verdict.outcome is Outcome.DECEASED:
            _suspend_deceased(session, b, verdict.date_of_death, actor)
            summary.suspended_deceased.append(b.id)
    session.execute(insert(Verification), rows)


def _suspend_deceased(session: Session, b: Beneficiary, died: date | None, actor: str) -> None:
    reason = f"deceased per population registry (date of death {died})"
    session.execute(update(Beneficiary).where(Beneficiary.id == b.id).values(
        status=BeneficiaryStatus.SUSPENDED.value, status_reason=reason,
        version=b.version + 1, updated_at=utcnow()))
    bulk.insert_history(session, [{
        "beneficiary_id": b.id, "version": b.version + 1, "change": "suspended",
        "changed": {"status": {"from": b.status, "to": "suspended"}}, "actor": actor,
        "import_id": None, "reason": reason, "at": utcnow()}])
    audit.record(session, actor=actor, action="beneficiary.suspend_deceased",
                 object_type="beneficiary", object_id=b.id, detail={"date_of_death": str(died)})


@dataclass(frozen=True)
class Payability:
    """Whether a beneficiary may be paid, judged on the latest recorded registry answer."""

    payable: bool
    reason: str
    verification_id: int | None


def payability(session: Session, beneficiary_ids: Sequence[int], *, max_age_days: int,
               now: datetime | None = None) -> dict[int, Payability]:
    """Judge each beneficiary on its latest verification (and any override of it)."""
    moment = now or utcnow()
    latest = (select(Verification.beneficiary_id, func.max(Verification.id).label("vid"))
              .where(Verification.beneficiary_id.in_(list(beneficiary_ids)))
              .group_by(Verification.beneficiary_id).subquery())
    rows = session.execute(
        select(Verification, VerificationOverride.id, Beneficiary.version)
        .join(latest, and_(latest.c.vid == Verification.id))
        .join(Beneficiary, Beneficiary.id == Verification.beneficiary_id)
        .outerjoin(VerificationOverride, VerificationOverride.verification_id == Verification.id)
    ).all()
    found = {v.beneficiary_id: _judge_payable(v, override_id, moment, max_age_days, version)
             for v, override_id, version in rows}
    return {bid: found.get(bid, Payability(False, "unverified", None)) for bid in beneficiary_ids}


def _judge_payable(v: Verification, override_id: int | None, now: datetime,
                   max_age_days: int, current_version: int) -> Payability:
    if now - v.checked_at > timedelta(days=max_age_days):
        return Payability(False, "verification_stale", v.id)
    if v.beneficiary_version != current_version:  # corrected since: check again first
        return Payability(False, "record_changed_since_check", v.id)
    if v.outcome == Outcome.VERIFIED.value:
        return Payability(True, "verified", v.id)
    if v.outcome in MISMATCHES and override_id is not None:
        return Payability(True, "mismatch_overridden", v.id)
    return Payability(False, v.outcome, v.id)


def override(session: Session, verification_id: int, *, actor: str, reason: str
             ) -> VerificationOverride:
    """Record an approver's override of a mismatch so the beneficiary can be paid.

    Raises:
        Forbidden: the actor is not an approver. NotFound: no such verification.
        Conflict: the outcome is not a mismatch, is not the latest, or is already overridden.
        ValidationFailed: no reason given.
    """
    require_role(session, actor, Role.APPROVER)
    if len(reason.strip()) < 10:
        raise ValidationFailed("an override needs a reason of at least 10 characters")
    v = session.get(Verification, verification_id, with_for_update=True)
    if v is None:
        raise NotFound(f"no verification {verification_id}")
    if v.outcome not in MISMATCHES:
        raise Conflict(f"verification {verification_id} is {v.outcome}; only mismatches "
                       "can be overridden")
    newest = session.execute(select(func.max(Verification.id)).where(
        Verification.beneficiary_id == v.beneficiary_id)).scalar_one()
    if newest != v.id:
        raise Conflict(f"verification {verification_id} is not the latest for its beneficiary")
    if session.execute(select(VerificationOverride.id).where(
            VerificationOverride.verification_id == v.id)).first():
        raise Conflict(f"verification {verification_id} is already overridden")
    record = VerificationOverride(verification_id=v.id, beneficiary_id=v.beneficiary_id,
                                  actor=actor, reason=reason.strip())
    session.add(record)
    session.flush()
    audit.record(session, actor=actor, action="verification.override", object_type="verification",
                 object_id=v.id, detail={"beneficiary_id": v.beneficiary_id,
                                         "outcome": v.outcome, "reason": reason.strip()})
    return record
