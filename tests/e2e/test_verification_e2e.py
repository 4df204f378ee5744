"""Verification end to end: synthetic lists imported, checked against a real registry process,
and every injected identity defect caught with the right outcome (from the answer key)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, ListImport
from beneficiaries.registry import HttpPopulationRegistry
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.synth import write_lists, write_population_csv
from beneficiaries.verification import service
from beneficiaries.verification.models import Outcome, Verification
from disburse.core import users
from disburse.core.errors import Conflict, Forbidden
from disburse.core.keyring import Keyring
from tests.e2e.conftest import PopdbLauncher

TODAY = date(2026, 11, 23)
VERIFICATION_EXPECT = {"name_mismatch", "dob_mismatch", "deceased", "not_found"}


@pytest.fixture
def world(tmp_path: Path, session: Session, popdb_launcher: PopdbLauncher):
    population = tmp_path / "population.csv"
    write_population_csv(population, 2500, seed=11, deceased_share=0.03)
    lists = tmp_path / "lists"
    write_lists(population, lists, seed=11)
    key = json.loads((lists / "answer_key.json").read_text(encoding="utf-8"))
    keyring = Keyring.init(tmp_path / "keys")
    for name in key["files"]:
        programme = name.split("_2026")[0]
        import_list(session, keyring, lists / name, programme=programme, actor="lan",
                    today=TODAY, options=ImportOptions(accept_valid=True))
    server = popdb_launcher.start(population)
    registry = HttpPopulationRegistry(server.base_url, server.token, batch_size=300)
    yield session, keyring, registry, key, server
    registry.close()


def _by_file_row(session: Session) -> dict[tuple[str, int], Beneficiary]:
    rows = session.execute(select(Beneficiary, ListImport.file_name)
                           .join(ListImport, ListImport.id == Beneficiary.source_import_id)).all()
    return {(name, b.source_row): b for b, name in rows}


def _latest(session: Session, beneficiary_id: int) -> Verification:
    return session.execute(select(Verification).where(
        Verification.beneficiary_id == beneficiary_id).order_by(Verification.id.desc())
        .limit(1)).scalar_one()


def test_every_identity_defect_is_caught_and_no_clean_row_flagged(world) -> None:
    session, keyring, registry, key, _ = world
    summary = service.verify(session, keyring, registry, scope=service.VerifyScope(),
                             actor="test")
    placed = _by_file_row(session)
    defect_rows = set()
    checked_defects = 0
    for name, info in key["files"].items():
        for defect in info["defects"]:
            defect_rows.add((name, defect["row"]))
            if defect["expect"] not in VERIFICATION_EXPECT:
                continue
            beneficiary = placed[(name, defect["row"])]
            latest = _latest(session, beneficiary.id)
            assert latest.outcome == defect["expect"], defect
            assert len(latest.evidence_digest) == 64
            checked_defects += 1
            if defect["expect"] == "deceased":
                assert latest.date_of_death is not None
                assert beneficiary.status == "suspended" or session.get(
                    Beneficiary, beneficiary.id).status == "suspended"
    assert checked_defects >= 8
    clean = [b for (name, row), b in placed.items() if (name, row) not in defect_rows]
    assert clean, "the synthetic lists must contain clean rows"
    outcomes = {_latest(session, b.id).outcome for b in clean}
    assert outcomes == {Outcome.VERIFIED.value}
    assert summary.checked == len(placed) == sum(summary.outcomes.values())


def test_deceased_never_payable_and_history_kept(world) -> None:
    session, keyring, registry, _, _ = world
    service.verify(session, keyring, registry, scope=service.VerifyScope(), actor="run1")
    service.verify(session, keyring, registry, scope=service.VerifyScope(), actor="run2")
    all_ids = list(session.execute(select(Beneficiary.id)).scalars())
    judged = service.payability(session, all_ids, max_age_days=30)
    suspended = session.execute(select(Beneficiary.id).where(
        Beneficiary.status == "suspended")).scalars().all()
    assert suspended
    for bid in suspended:
        assert not judged[bid].payable
        # suspended people are not re-checked, and their first answer is kept
        assert session.execute(select(Verification).where(
            Verification.beneficiary_id == bid)).scalars().all()[0].outcome == "deceased"
    verified = [bid for bid, p in judged.items() if p.reason == "verified"]
    counts = [len(session.execute(select(Verification.id).where(
        Verification.beneficiary_id == bid)).all()) for bid in verified[:20]]
    assert set(counts) == {2}  # the second run added history, erased nothing


def test_stale_checks_are_not_payable(world) -> None:
    session, keyring, registry, _, _ = world
    service.verify(session, keyring, registry, scope=service.VerifyScope(), actor="t")
    ids = list(session.execute(select(Beneficiary.id)).scalars())
    later = datetime.now(UTC) + timedelta(days=31)
    judged = service.payability(session, ids, max_age_days=30, now=later)
    assert {p.reason for p in judged.values()} <= {"verification_stale", "unverified"}
    assert not any(p.payable for p in judged.values())
    stale = service.verify(session, keyring, registry, actor="t",
                           scope=service.VerifyScope(stale_only=True, max_age_days=30))
    assert stale.checked == 0  # nothing is stale yet at today's clock


def test_registry_down_is_never_verified(world) -> None:
    session, keyring, registry, _, server = world
    server.stop()
    summary = service.verify(session, keyring, registry, scope=service.VerifyScope(),
                             actor="t")
    assert set(summary.outcomes) == {Outcome.REGISTRY_UNAVAILABLE.value}
    ids = list(session.execute(select(Beneficiary.id)).scalars())
    assert not any(p.payable for p in service.payability(session, ids, max_age_days=30).values())


def test_override_needs_an_approver_and_a_mismatch(world) -> None:
    session, keyring, registry, _, _ = world
    service.verify(session, keyring, registry, scope=service.VerifyScope(), actor="t")
    mismatch = session.execute(select(Verification).where(
        Verification.outcome == "name_mismatch").limit(1)).scalar_one()
    verified = session.execute(select(Verification).where(
        Verification.outcome == "verified").limit(1)).scalar_one()
    users.add_user(session, "lan", users.Role.PREPARER, "x" * 12, actor="admin")
    users.add_user(session, "minh", users.Role.APPROVER, "y" * 12, actor="admin")
    with pytest.raises(Forbidden):
        service.override(session, mismatch.id, actor="lan", reason="checked the paper ID card")
    with pytest.raises(Conflict):
        service.override(session, verified.id, actor="minh", reason="checked the paper ID card")
    service.override(session, mismatch.id, actor="minh", reason="checked the paper ID card")
    judged = service.payability(session, [mismatch.beneficiary_id], max_age_days=30)
    assert judged[mismatch.beneficiary_id] == service.Payability(True, "mismatch_overridden",
                                                                 mismatch.id)


def test_a_corrected_record_needs_a_new_check(world) -> None:
    session, keyring, registry, _, _ = world
    service.verify(session, keyring, registry, scope=service.VerifyScope(), actor="t")
    verified = session.execute(select(Verification).where(
        Verification.outcome == "verified").limit(1)).scalar_one()
    beneficiary = session.get(Beneficiary, verified.beneficiary_id)
    assert beneficiary is not None
    beneficiary.version += 1  # what an import update or a staff correction does
    session.flush()
    judged = service.payability(session, [beneficiary.id], max_age_days=30)
    assert judged[beneficiary.id].reason == "record_changed_since_check"
    service.verify(session, keyring, registry, actor="t",
                   scope=service.VerifyScope(beneficiary_ids=[beneficiary.id]))
    assert service.payability(session, [beneficiary.id], max_age_days=30)[beneficiary.id].payable
