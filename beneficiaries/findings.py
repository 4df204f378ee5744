"""What other parts of the service find out about a beneficiary, written into the registry.

A bank may answer that an account cannot take money (AC01, AC03, AC04, AC06) or that its
holder died (MD07); the population registry may record a death. Reconciliation and verification
report such findings here instead of editing ``Beneficiary`` rows themselves, so that every
change is made one way: the row is locked, its version bumped, a history row and an audit
entry are written. Services only flush; the caller owns the transaction.

Rows are changed with Core statements (no ORM object per beneficiary: a verification run may
suspend thousands); an ORM copy the session already holds is expired so that it reads the new
values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from sqlalchemy import Row, select, update
from sqlalchemy.orm import Session

from beneficiaries import bulk
from beneficiaries.models import Beneficiary, BeneficiaryStatus
from disburse.core import audit
from disburse.core.clock import utcnow

#: A flag in ``review_flags``: the account needs correcting (``account_problem:AC04``).
ACCOUNT_FLAG_PREFIX: Final = "account_problem:"
#: The status reason of a suspension on a bank's word; verification runs re-check these.
MD07_REASON: Final = "bank reports holder deceased (MD07)"
#: ``LIKE`` pattern that finds the suspensions made on a bank's word (see ``MD07_REASON``).
BANK_DEATH_LIKE: Final = "%(MD07)%"
_ACTIVE: Final = BeneficiaryStatus.ACTIVE.value
_SUSPENDED: Final = BeneficiaryStatus.SUSPENDED.value
_ACTOR_LENGTH: Final = 64
_REASON_LENGTH: Final = 300


@dataclass(frozen=True)
class DeathEvidence:
    """Why a beneficiary is believed dead: the reason, and the audit entry it leaves."""

    reason: str
    audit_action: str
    detail: dict[str, Any] = field(default_factory=dict)
    #: Statuses this evidence suspends from: the registry's word also replaces a suspension
    #: on a bank's word (its reason changes); a bank's word only stops an active person.
    suspends: frozenset[str] = frozenset({_ACTIVE})


def registry_death(date_of_death: date | None) -> DeathEvidence:
    """Evidence of a death recorded by the population registry."""
    return DeathEvidence(f"deceased per population registry (date of death {date_of_death})",
                         "beneficiary.suspend_deceased", {"date_of_death": str(date_of_death)},
                         frozenset({_ACTIVE, _SUSPENDED}))


def bank_reported_death(instruction_id: int) -> DeathEvidence:
    """Evidence of a death reported by a bank (MD07) for a payment instruction."""
    return DeathEvidence(MD07_REASON, "beneficiary.suspend_md07",
                         {"reason_code": "MD07", "instruction_id": instruction_id})


def flag_account_problem(session: Session, beneficiary_id: int, code: str, *,
                         instruction_id: int, actor: str) -> bool:
    """Flag the beneficiary's account for correction after a bank refused it with ``code``.

    Adds ``account_problem:<code>`` to ``review_flags`` once; flagging the same code again
    changes nothing.

    Args:
        session: The caller's session.
        beneficiary_id: Whose account.
        code: The ISO status reason (AC01, AC03, AC04, AC06).
        instruction_id: The payment instruction the bank answered about.
        actor: Who records the finding.

    Returns:
        Whether the beneficiary changed.
    """
    person = _lock(session, beneficiary_id)
    flag = f"{ACCOUNT_FLAG_PREFIX}{code}"
    before = list(person.review_flags or [])
    if flag in before:
        return False
    after = [*before, flag]
    _change(session, person, {"review_flags": after}, "flagged",
            {"review_flags": {"from": before, "to": after}},
            f"bank reports {code} for payment instruction {instruction_id}", actor)
    audit.record(session, actor=actor, action="beneficiary.flag_account",
                 object_type="beneficiary", object_id=beneficiary_id,
                 detail={"reason_code": code, "instruction_id": instruction_id})
    return True


def suspend_deceased(session: Session, beneficiary_id: int, *, evidence: DeathEvidence,
                     actor: str) -> bool:
    """Suspend a beneficiary believed dead, so that nobody pays them until it is resolved.

    Args:
        session: The caller's session.
        beneficiary_id: Who.
        evidence: Where the news comes from (``registry_death`` or ``bank_reported_death``).
        actor: Who records the finding.

    Returns:
        Whether the beneficiary changed (not when their status is one the evidence leaves
        alone, e.g. an ended beneficiary, or one already suspended for a bank's MD07).
    """
    person = _lock(session, beneficiary_id)
    if person.status not in evidence.suspends:
        return False
    _change(session, person, {"status": _SUSPENDED, "status_reason": evidence.reason},
            "suspended", {"status": {"from": person.status, "to": _SUSPENDED}},
            evidence.reason, actor)
    audit.record(session, actor=actor, action=evidence.audit_action,
                 object_type="beneficiary", object_id=beneficiary_id, detail=evidence.detail)
    return True


def _lock(session: Session, beneficiary_id: int) -> Row[Any]:
    b = Beneficiary
    return session.execute(select(b.id, b.status, b.version, b.review_flags)
                           .where(b.id == beneficiary_id).with_for_update()).one()


def _change(session: Session, person: Row[Any], values: dict[str, Any], change: str,
            changed: dict[str, Any], reason: str, actor: str) -> None:
    """Write ``values`` with the next version, and the history row of the change."""
    now = utcnow()
    version = person.version + 1
    # Core UPDATE: no evaluation against every object the session holds
    session.execute(update(bulk.BENEFICIARIES).where(bulk.BENEFICIARIES.c.id == person.id)
                    .values(**values, version=version, updated_at=now))
    bulk.insert_history(session, [{
        "beneficiary_id": person.id, "version": version, "change": change,
        "changed": changed, "actor": actor[:_ACTOR_LENGTH], "import_id": None,
        "reason": reason[:_REASON_LENGTH], "at": now}])
    held = session.identity_map.get(Session.identity_key(Beneficiary, person.id))
    if held is not None:
        session.expire(held)
