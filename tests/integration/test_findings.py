"""The beneficiaries domain records what banks and the registry find out about a person.

``beneficiaries.findings`` is the one place that flags accounts and suspends the dead; these
tests pin what each finding changes (status, flags, version, history, audit) and what it
leaves alone.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from beneficiaries import findings
from beneficiaries.models import Beneficiary, BeneficiaryHistory
from disburse.core.audit import AuditEntry
from tests.integration.test_batches import make_world


def _history(session: Session, bid: int) -> list[tuple[int, str, str | None]]:
    return list(session.execute(select(
        BeneficiaryHistory.version, BeneficiaryHistory.change, BeneficiaryHistory.reason)
        .where(BeneficiaryHistory.beneficiary_id == bid)
        .order_by(BeneficiaryHistory.id)).tuples())


def _actions(session: Session, bid: int) -> list[str]:
    return list(session.execute(select(AuditEntry.action).where(
        AuditEntry.object_type == "beneficiary", AuditEntry.object_id == str(bid))
        .order_by(AuditEntry.seq)).scalars())


def test_a_flag_is_added_once_and_the_loaded_object_sees_it(session: Session,
                                                             tmp_path: Path) -> None:
    bid = make_world(session, tmp_path, people={1: None}).ids[1]
    person = session.get_one(Beneficiary, bid)  # held by the session before the change
    assert findings.flag_account_problem(session, bid, "AC04", instruction_id=7, actor="rec")
    assert not findings.flag_account_problem(session, bid, "AC04", instruction_id=8,
                                             actor="rec")
    assert person.review_flags == ["account_problem:AC04"] and person.version == 2
    assert _history(session, bid)[-1] == (
        2, "flagged", "bank reports AC04 for payment instruction 7")
    assert _actions(session, bid) == ["beneficiary.flag_account"]


def test_the_registry_replaces_a_bank_suspension_and_a_bank_never_replaces_one(
        session: Session, tmp_path: Path) -> None:
    bid = make_world(session, tmp_path, people={1: None}).ids[1]
    assert findings.suspend_deceased(session, bid, actor="rec",
                                     evidence=findings.bank_reported_death(9))
    assert not findings.suspend_deceased(session, bid, actor="rec",
                                         evidence=findings.bank_reported_death(10))
    assert findings.suspend_deceased(session, bid, actor="nightly",
                                     evidence=findings.registry_death(date(2026, 9, 2)))
    person = session.get_one(Beneficiary, bid)
    assert (person.status, person.version) == ("suspended", 3)
    assert person.status_reason == "deceased per population registry (date of death 2026-09-02)"
    assert [change for _, change, _ in _history(session, bid)][-2:] == ["suspended", "suspended"]
    assert _actions(session, bid) == ["beneficiary.suspend_md07",
                                      "beneficiary.suspend_deceased"]


def test_an_ended_beneficiary_is_not_suspended(session: Session, tmp_path: Path) -> None:
    bid = make_world(session, tmp_path, people={1: "ended"}).ids[1]
    for evidence in (findings.bank_reported_death(1), findings.registry_death(None)):
        assert not findings.suspend_deceased(session, bid, evidence=evidence, actor="rec")
    assert session.get_one(Beneficiary, bid).status == "ended"
    assert _actions(session, bid) == []
