"""Verification use cases: check beneficiaries, apply consequences, override mismatches.

Services take a session and only flush; registry calls then happen in the caller's
transaction. ``verify_in_steps`` is the exception: it takes a session factory and commits each
chunk's evidence in a short transaction of its own, asking the registry with no transaction
open (a batch build re-verifies this way before it takes the writer lock). Each outcome is
stored with the registry's response digest as evidence.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Row, Select, and_, func, insert, or_, select
from sqlalchemy.orm import Session, sessionmaker

from beneficiaries import findings
from beneficiaries.models import Beneficiary, BeneficiaryStatus
from beneficiaries.registry import LookupResult, PopulationRegistry
from beneficiaries.verification.judge import Claimed, judge
from beneficiaries.verification.models import (
    MISMATCHES,
    Outcome,
    Verification,
    VerificationOverride,
)
from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, NotFound, ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, require_role

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


#: Suspensions a verification run re-checks: the bank's MD07 asks the registry to confirm.
RECHECK_SUSPENDED_LIKE = findings.BANK_DEATH_LIKE

#: The columns a run needs; whole ORM objects for a million people would not fit in memory.
_TARGET_COLUMNS = (Beneficiary.id, Beneficiary.citizen_id_enc, Beneficiary.full_name,
                   Beneficiary.date_of_birth, Beneficiary.gender, Beneficiary.version,
                   Beneficiary.status)


def _target_query(scope: VerifyScope, now: datetime) -> Select[Any]:
    b = Beneficiary
    conditions: list[ColumnElement[bool]] = [or_(
        b.status == BeneficiaryStatus.ACTIVE.value,
        and_(b.status == BeneficiaryStatus.SUSPENDED.value,
             b.status_reason.like(RECHECK_SUSPENDED_LIKE)))]
    if scope.programme:
        conditions.append(b.programme == scope.programme)
    if scope.province:
        conditions.append(b.province_code == scope.province)
    if scope.beneficiary_ids is not None:
        conditions.append(b.id.in_(list(scope.beneficiary_ids)))
    query = select(*_TARGET_COLUMNS).where(*conditions)
    if scope.stale_only:
        latest = (select(Verification.beneficiary_id, func.max(Verification.checked_at)
                         .label("at")).group_by(Verification.beneficiary_id).subquery())
        cutoff = now - timedelta(days=scope.max_age_days)
        query = (query.outerjoin(latest, latest.c.beneficiary_id == b.id)
                 .where((latest.c.at.is_(None)) | (latest.c.at < cutoff)))
    return query


def _chunk_after(session: Session, query: Select[Any], last: int) -> Sequence[Row[Any]]:
    """Return the next CHUNK targets after id ``last`` (keyset pagination, bounded memory)."""
    return session.execute(
        query.where(Beneficiary.id > last).order_by(Beneficiary.id).limit(CHUNK)).all()


def _target_chunks(session: Session, query: Select[Any]) -> Iterator[Sequence[Row[Any]]]:
    """Yield the targets in id order, CHUNK at a time."""
    last = 0
    while rows := _chunk_after(session, query, last):
        yield rows
        last = rows[-1].id


def verify(session: Session, keyring: Keyring, registry: PopulationRegistry, *,
           scope: VerifyScope, actor: str,
           on_progress: Callable[[int, int], None] | None = None) -> VerifySummary:
    """Check beneficiaries in ``scope`` against the registry and record every outcome.

    Active beneficiaries are checked, and so are those a bank reported deceased (MD07).
    A deceased beneficiary is suspended (with a history row and an audit entry). Mismatches
    block payment through their recorded outcome until corrected or overridden.
    """
    now = utcnow()
    query = _target_query(scope, now)
    total = session.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    summary = VerifySummary()
    for chunk in _target_chunks(session, query):
        ids = {b.id: keyring.decrypt("citizen_id", b.citizen_id_enc) for b in chunk}
        answers = registry.lookup_many(sorted(set(ids.values())))
        _record_chunk(session, chunk, ids, answers, actor, summary)
        if on_progress:
            on_progress(summary.checked, total)
    _record_run(session, scope, now, summary, actor)
    return summary


def verify_in_steps(factory: sessionmaker[Session], keyring: Keyring,
                    registry: PopulationRegistry, *, scope: VerifyScope, actor: str
                    ) -> VerifySummary:
    """Check beneficiaries as ``verify`` does, never holding a writing transaction open.

    Each chunk of targets is read in a short transaction, the registry is asked with no
    transaction open, and the answers are recorded (and the dead suspended) in a short
    writing transaction that commits: the evidence stays even if what follows fails, and no
    other writer waits on the network. A record changed between the read and the write keeps
    the version it was checked at, so payability asks again.

    Args:
        factory: Sessions for the transactions of this run.
        keyring: Decrypts the citizen ids to look up.
        registry: The population registry.
        scope: Which beneficiaries to check.
        actor: Recorded on each verification and on the run's audit entry.
    """
    now = utcnow()
    query = _target_query(scope, now)
    summary = VerifySummary()
    last = 0
    while True:
        with unit_of_work(factory) as session:
            chunk = _chunk_after(session, query, last)
        if not chunk:
            break
        last = chunk[-1].id
        ids = {b.id: keyring.decrypt("citizen_id", b.citizen_id_enc) for b in chunk}
        answers = registry.lookup_many(sorted(set(ids.values())))
        with unit_of_work(factory, write=True) as session:
            _record_chunk(session, chunk, ids, answers, actor, summary)
    with unit_of_work(factory, write=True) as session:
        _record_run(session, scope, now, summary, actor)
    return summary


def _record_run(session: Session, scope: VerifyScope, now: datetime, summary: VerifySummary,
                actor: str) -> None:
    audit.record(session, actor=actor, action="verification.run", object_type="verification",
                 object_id=now.isoformat(), detail={**summary.to_dict(),
                                                    "scope": vars(scope) | {"beneficiary_ids":
                                                                            None}})


def _record_chunk(session: Session, chunk: Sequence[Row[Any]], ids: dict[int, str],
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
            findings.suspend_deceased(session, b.id, actor=actor,
                                      evidence=findings.registry_death(verdict.date_of_death))
            summary.suspended_deceased.append(b.id)
    session.execute(insert(Verification), rows)


@dataclass(frozen=True)
class Payability:
    """Whether a beneficiary may be paid, judged on the latest recorded registry answer."""

    payable: bool
    reason: str
    verification_id: int | None


def payability(session: Session, beneficiary_ids: Sequence[int], *, max_age_days: int,
               now: datetime | None = None) -> dict[int, Payability]:
    """Judge each beneficiary on its latest verification (and any override of it).

    Reads only the columns the judgement needs, as plain rows (no ``Verification`` objects,
    no JSON or datetime decoding): a batch build judges every beneficiary of a programme.
    """
    cutoff = (now or utcnow()) - timedelta(days=max_age_days)
    v = Verification
    latest = (select(v.beneficiary_id, func.max(v.id).label("vid"))
              .where(_covering(v.beneficiary_id, beneficiary_ids))
              .group_by(v.beneficiary_id).subquery())
    if session.autoflush:  # as session.execute would: pending changes count
        session.flush()
    result = session.connection().execute(
        # stale when older than the cutoff: compared in SQL, exactly as ``now - at > max age``
        select(v.beneficiary_id, v.id, v.outcome, v.checked_at < cutoff,
               v.beneficiary_version == Beneficiary.version, VerificationOverride.id)
        .join(latest, latest.c.vid == v.id)
        .join(Beneficiary, Beneficiary.id == v.beneficiary_id)
        .outerjoin(VerificationOverride, VerificationOverride.verification_id == v.id))
    # The driver's own tuples: integers, strings and comparisons need no conversion (the
    # comparisons may come as 0/1, hence ``bool``), and building a Row object for each of up
    # to a million beneficiaries would cost more than the query
    rows = result.cursor.fetchall()
    result.close()
    found = {bid: _judge_payable(vid, outcome, bool(stale), bool(current), override_id)
             for bid, vid, outcome, stale, current, override_id in rows}
    unverified = Payability(False, "unverified", None)
    return {bid: found.get(bid, unverified) for bid in beneficiary_ids}


_VERIFIED = Outcome.VERIFIED.value  # read once: an enum member's ``value`` is a slow lookup
#: ``_covering`` uses a BETWEEN when the ids span less than this many times their number.
DENSE_SPAN = 4


def _covering(column: Any, ids: Sequence[int]) -> ColumnElement[bool]:
    """Return a filter that selects at least ``ids`` (the caller drops any other row).

    A build judges ids in id-ordered chunks, usually dense runs: one BETWEEN on the index is
    far cheaper than binding thousands of IN parameters, for a few extra rows.
    """
    if ids and max(ids) - min(ids) < DENSE_SPAN * len(ids):
        return cast(ColumnElement[bool], column.between(min(ids), max(ids)))
    return cast(ColumnElement[bool], column.in_(list(ids)))


def _judge_payable(verification_id: int, outcome: str, stale: bool, current: bool,
                   override_id: int | None) -> Payability:
    if stale:
        return Payability(False, "verification_stale", verification_id)
    if not current:  # corrected since: check again first
        return Payability(False, "record_changed_since_check", verification_id)
    if outcome == _VERIFIED:
        return Payability(True, "verified", verification_id)
    if outcome in MISMATCHES and override_id is not None:
        return Payability(True, "mismatch_overridden", verification_id)
    return Payability(False, outcome, verification_id)


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
