"""Batch building and maker-checker on a real database, from lists imported the real way.

Beneficiaries come in through ``import_list``; the population registry is an in-memory
``StaticPopulationRegistry`` built from the same people (with chosen defects). Each test runs
in its own savepoint (see ``tests/conftest.py``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from beneficiaries.models import Beneficiary
from beneficiaries.registry import CitizenRecord, RegistryStatus, StaticPopulationRegistry
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.verification.models import Verification
from disburse.core import audit
from disburse.core.audit import AuditEntry
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, Forbidden, InvalidTransition, ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.users import Role, User
from disburse.payments import service
from disburse.payments.build import end_to_end_id
from disburse.payments.lifecycle import BatchAction
from disburse.payments.models import Approval, ArrearsCarry, Batch, Instruction
from disburse.payments.preparation import prepare_and_build
from disburse.payments.routing import RoutingConfig, load_routing
from disburse.payments.state import apply_action, batch_digest
from tests.listfiles import Row, list_row, write_csv

TODAY = date(2026, 11, 23)
AMOUNT = 3_500_000
PASSWORD_HASH = PasswordHasher().hash("mật khẩu đủ dài 123")

#: serial -> what is special about the person (None: a plain verified bank customer).
PEOPLE: dict[int, str | None] = {
    1: None, 2: None, 3: "cash", 4: "ewallet", 5: "deceased", 6: "name_mismatch",
    7: "not_found", 8: "unavailable", 9: "suspended", 10: "ended",
}


@dataclass
class World:
    """A session with imported people, a registry that knows them, keys and routing."""

    session: Session
    keyring: Keyring
    registry: StaticPopulationRegistry
    routing: RoutingConfig
    ids: dict[int, int]  # serial -> beneficiary id
    programme: str

    def build(self, period: str, *, actor: str = "lan", province: str | None = None
              ) -> service.BatchSummary:
        """Renew stale checks and build a batch as ``actor``, as the entry points do."""
        return prepare_and_build(
            self.factory(), self.keyring, self.registry, programme=self.programme,
            period=period, province=province, actor=actor, routing=self.routing,
            max_age_days=30, today=TODAY)

    def factory(self) -> sessionmaker[Session]:
        """Sessions in savepoints of this test's connection: their commits stay in the test."""
        return savepoint_factory(self.session)

    def instructions(self, batch_id: int) -> list[Instruction]:
        """The batch's instructions in seq order, read fresh."""
        self.session.expire_all()
        return list(self.session.execute(select(Instruction).where(
            Instruction.batch_id == batch_id).order_by(Instruction.seq)).scalars())

    def of(self, batch_id: int, serial: int) -> Instruction:
        """The instruction of person ``serial`` in the batch."""
        [found] = [i for i in self.instructions(batch_id) if i.beneficiary_id == self.ids[serial]]
        return found

    def batch(self, batch_id: int) -> Batch:
        """The batch, read fresh."""
        self.session.expire_all()
        found = self.session.get(Batch, batch_id)
        assert found is not None
        return found


def savepoint_factory(session: Session) -> sessionmaker[Session]:
    """Sessions that join ``session``'s connection in savepoints of their own."""
    return sessionmaker(bind=session.get_bind(), join_transaction_mode="create_savepoint",
                        expire_on_commit=False, info=dict(session.info))


def _row(serial: int, kind: str | None) -> Row:
    if kind == "cash":
        return list_row(serial, channel="cash", bank_bin="", account_number="",
                        account_holder="")
    if kind == "ewallet":
        return list_row(serial, channel="ewallet", bank_bin="971025",
                        account_number=f"09{serial:08d}", account_holder="")
    return list_row(serial)


def _record(row: Row, kind: str | None) -> CitizenRecord:
    return CitizenRecord(
        citizen_id=row["citizen_id"],
        full_name="Nguyễn Thị Hoa" if kind == "name_mismatch" else row["full_name"],
        date_of_birth=date.fromisoformat(row["date_of_birth"]), gender=row["gender"],
        status=RegistryStatus.DECEASED if kind == "deceased" else RegistryStatus.ALIVE,
        date_of_death=date(2026, 9, 2) if kind == "deceased" else None,
        province_code=row["province_code"], commune_code=row["commune_code"])


def add_users(session: Session) -> None:
    """Preparers lan and lan2, approvers minh and hoa, auditor an, admin root.

    ``add_user`` (tested in test_users.py) spends ~0.3 s on each argon2 hash; these users never
    sign in, so they share one hash to keep the file fast.
    """
    session.execute(insert(User), [
        {"name": name, "role": role.value, "bank_bin": None, "password_hash": PASSWORD_HASH,
         "active": True, "created_at": utcnow()}
        for name, role in (("lan", Role.PREPARER), ("lan2", Role.PREPARER),
                           ("minh", Role.APPROVER), ("hoa", Role.APPROVER),
                           ("an", Role.AUDITOR), ("root", Role.ADMIN))])


def make_world(session: Session, tmp_path: Path, programme: str = "pension",
               people: dict[int, str | None] | None = None) -> World:
    """Import ``people`` into ``programme`` and build a registry that knows them."""
    people = PEOPLE if people is None else people
    keyring = Keyring.init(tmp_path / "keys")
    rows = {serial: _row(serial, kind) for serial, kind in people.items()}
    path = write_csv(tmp_path / f"{programme}.csv", list(rows.values()))
    report = import_list(session, keyring, path, programme=programme, actor="lan", today=TODAY,
                         options=ImportOptions())
    assert report.outcome == "applied", [e.message_en for e in report.errors]
    ids = {serial: session.execute(select(Beneficiary.id).where(
        Beneficiary.programme == programme,
        Beneficiary.citizen_id_idx == keyring.blind_index("citizen_id", row["citizen_id"]))
    ).scalar_one() for serial, row in rows.items()}
    for serial, kind in people.items():
        if kind in ("suspended", "ended"):
            session.execute(update(Beneficiary).where(Beneficiary.id == ids[serial])
                            .values(status=kind, status_reason="by the labour office"))
    records = [_record(rows[s], k) for s, k in people.items() if k != "not_found"]
    registry = StaticPopulationRegistry(
        records, unavailable=[rows[s]["citizen_id"] for s, k in people.items()
                              if k == "unavailable"])
    add_users(session)
    return World(session, keyring, registry, load_routing(), ids, programme)


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    """Ten pension beneficiaries with every kind of defect."""
    return make_world(session, tmp_path)


def fail(world: World, batch_id: int, outcomes: dict[int, tuple[str, str]]) -> None:
    """Mark instructions rejected/returned with a reason code (what reconciliation does)."""
    for serial, (state, code) in outcomes.items():
        world.session.execute(update(Instruction).where(
            Instruction.batch_id == batch_id, Instruction.beneficiary_id == world.ids[serial])
            .values(state=state, reason_code=code))


def actions(session: Session, batch_id: int) -> list[str]:
    """The audit actions recorded on the batch, in order."""
    return list(session.execute(select(AuditEntry.action).where(
        AuditEntry.object_type == "batch", AuditEntry.object_id == str(batch_id))
        .order_by(AuditEntry.seq)).scalars())


def ids_of(world: World, serials: Iterable[int]) -> list[int]:
    """Beneficiary ids of the given people."""
    return [world.ids[s] for s in serials]


# --- building ------------------------------------------------------------------------------


def test_build_pays_the_payable_and_excludes_the_rest_with_reasons(world: World) -> None:
    summary = world.build("2026-11")

    paid = {i.beneficiary_id for i in world.instructions(summary.batch_id)}
    assert paid == set(ids_of(world, [1, 2, 3, 4]))
    ex = summary.exclusions
    expected = {"deceased": [5], "name_mismatch": [6], "not_found": [7],
                "registry_unavailable": [8], "suspended": [9], "ended": [10]}
    assert {reason: entry["beneficiary_ids"] for reason, entry in ex.items()} == {
        reason: ids_of(world, serials) for reason, serials in expected.items()}
    assert all(entry["count"] == 1 for entry in ex.values())
    assert world.batch(summary.batch_id).exclusions == ex
    assert (summary.count, summary.total, summary.state) == (4, 4 * AMOUNT, "draft")
    assert summary.requested_execution_date == TODAY  # the 10th has passed
    # the deceased person was suspended by the re-verification the build ran first
    deceased = world.session.get(Beneficiary, world.ids[5])
    assert deceased is not None and deceased.status == "suspended"
    checked = world.session.execute(select(Verification.beneficiary_id).where(
        Verification.beneficiary_id.in_(list(world.ids.values())))).scalars().all()
    assert set(checked) == set(ids_of(world, range(1, 9)))  # active ones only


def test_routes_banks_amounts_and_order(world: World) -> None:
    summary = world.build("2026-11")
    rows = world.instructions(summary.batch_id)

    assert [r.seq for r in rows] == [1, 2, 3, 4]
    assert [(r.route, r.province_code, r.commune_code, r.beneficiary_id) for r in rows] == sorted(
        (r.route, r.province_code, r.commune_code, r.beneficiary_id) for r in rows)
    assert summary.by_route == [{"route": "momo", "count": 1, "total": AMOUNT},
                                {"route": "post-01", "count": 1, "total": AMOUNT},
                                {"route": "vcb", "count": 2, "total": 2 * AMOUNT}]
    assert {b["bank_bin"]: b["count"] for b in summary.by_bank} == {
        None: 1, "970436": 2, "971025": 1}
    cash = world.of(summary.batch_id, 3)
    assert (cash.channel, cash.bank_bin, cash.account_enc, cash.creditor_name) == (
        "cash", None, None, "Nguyễn Thị Đào")
    bank = world.of(summary.batch_id, 1)
    assert bank.creditor_name == "NGUYEN THI DAO"  # the account holder, not the full name
    assert bank.account_enc is not None
    assert world.keyring.decrypt("account_number", bank.account_enc) == "0011000000001"
    for r in rows:
        assert (r.amount, r.base_amount, r.arrears_amount) == (AMOUNT, AMOUNT, 0)


def test_end_to_end_ids_are_deterministic_and_short(world: World) -> None:
    summary = world.build("2026-11")
    for r in world.instructions(summary.batch_id):
        assert r.end_to_end_id == service.end_to_end_id("pension", "2026-11", r.beneficiary_id)
        assert len(r.end_to_end_id) <= 35


def test_digest_equals_the_stored_content_hash(world: World) -> None:
    summary = world.build("2026-11")
    digest = batch_digest(world.session, summary.batch_id)
    batch = world.batch(summary.batch_id)
    assert (digest.sha256, digest.count, digest.total) == (
        batch.content_hash, batch.count, batch.total) == (
        summary.content_hash, summary.count, summary.total)
    assert actions(world.session, summary.batch_id) == ["batch.create"]


def test_a_second_build_for_the_same_period_pays_nobody_twice(world: World) -> None:
    first = world.build("2026-11")
    with pytest.raises(Conflict) as raised:
        world.build("2026-11")
    assert "nothing to pay for pension 2026-11" in raised.value.detail
    assert raised.value.extra["exclusions"]["already_instructed"] == 4
    # the refused build left nothing behind, not even an empty batch
    assert world.session.execute(select(Batch.id).where(Batch.period == "2026-11")
                                 ).scalars().all() == [first.batch_id]


def test_the_database_refuses_a_second_instruction_whatever_the_code_path(world: World) -> None:
    summary = world.build("2026-11")
    original = world.of(summary.batch_id, 1)
    copy = {c.name: getattr(original, c.name) for c in Instruction.__table__.columns
            if c.name != "id"}
    copy["end_to_end_id"] = "OTHER-E2E-ID"
    with pytest.raises(IntegrityError), world.session.begin_nested():
        world.session.execute(insert(Instruction.__table__), [copy])  # type: ignore[arg-type]


def test_unknown_preparer_role_and_bad_period_are_refused(world: World) -> None:
    with pytest.raises(Forbidden):
        world.build("2026-11", actor="minh")
    with pytest.raises(ValidationFailed):
        world.build("2026-13")


def test_province_scope(world: World) -> None:
    with pytest.raises(Conflict):
        world.build("2026-11", province="79")  # nobody in Hồ Chí Minh City
    summary = world.build("2026-11", province="01")
    assert summary.count == 4 and summary.province_code == "01"


def test_each_instruction_carries_the_end_to_end_id_of_the_one_rule(world: World) -> None:
    summary = world.build("2026-11")
    instructions = world.instructions(summary.batch_id)
    assert instructions
    for instruction in instructions:
        assert instruction.end_to_end_id == end_to_end_id(
            "pension", "2026-11", instruction.beneficiary_id)


# --- arrears and re-routing ----------------------------------------------------------------


def test_arrears_are_carried_once_and_account_problems_go_to_cash(world: World) -> None:
    october = world.build("2026-10")
    fail(world, october.batch_id, {1: ("rejected", "AC04"), 2: ("returned", "AM04"),
                                   3: ("returned", "MD07")})
    november = world.build("2026-11")

    rerouted = world.of(november.batch_id, 1)
    assert (rerouted.channel, rerouted.rerouted_from, rerouted.route) == ("cash", "bank",
                                                                          "post-01")
    assert (rerouted.bank_bin, rerouted.account_idx) == (None, None)
    assert (rerouted.base_amount, rerouted.arrears_amount, rerouted.amount) == (
        AMOUNT, AMOUNT, 2 * AMOUNT)
    returned = world.of(november.batch_id, 2)
    assert (returned.channel, returned.arrears_amount) == ("bank", AMOUNT)
    assert world.of(november.batch_id, 3).arrears_amount == 0  # MD07 is never paid again
    assert world.of(november.batch_id, 4).arrears_amount == 0
    assert (november.arrears_total, november.rerouted) == (2 * AMOUNT, 1)
    assert november.total == 6 * AMOUNT
    carries = world.session.execute(select(ArrearsCarry.from_instruction_id,
                                           ArrearsCarry.to_instruction_id)).all()
    assert set(carries) == {(world.of(october.batch_id, 1).id, rerouted.id),
                            (world.of(october.batch_id, 2).id, returned.id)}

    december = world.build("2026-12")
    assert all(i.arrears_amount == 0 for i in world.instructions(december.batch_id))
    still_broken = world.of(december.batch_id, 1)  # account unchanged: still paid in cash
    assert (still_broken.channel, still_broken.rerouted_from) == ("cash", "bank")


@pytest.mark.parametrize("code", ["AC07", "AG01", "BE23"])
def test_every_account_problem_code_goes_to_cash_with_its_arrears(world: World,
                                                                  code: str) -> None:
    # account problems beyond the first four (AC01, AC03, AC04, AC06) the builder once knew
    october = world.build("2026-10")
    fail(world, october.batch_id, {1: ("rejected", code)})
    november = world.build("2026-11")
    rerouted = world.of(november.batch_id, 1)
    assert (rerouted.channel, rerouted.rerouted_from, rerouted.route) == ("cash", "bank",
                                                                          "post-01")
    assert (rerouted.arrears_amount, rerouted.amount) == (AMOUNT, 2 * AMOUNT)
    assert (november.arrears_total, november.rerouted) == (AMOUNT, 1)


def test_a_contested_failure_carries_no_arrears_and_reroutes_nobody(world: World) -> None:
    october = world.build("2026-10")
    fail(world, october.batch_id, {1: ("rejected", "AC04"), 2: ("returned", "AM04")})
    # the bank also said person 1 and 2 were paid: held until an auditor resolves it
    world.session.execute(update(Instruction).where(
        Instruction.batch_id == october.batch_id,
        Instruction.beneficiary_id.in_([world.ids[1], world.ids[2]])).values(contested=True))
    november = world.build("2026-11")
    for serial in (1, 2):
        held = world.of(november.batch_id, serial)
        assert (held.channel, held.rerouted_from, held.arrears_amount) == ("bank", None, 0)
    assert november.arrears_total == 0
    assert world.session.execute(select(ArrearsCarry)).first() is None


def test_a_corrected_account_is_used_again(world: World) -> None:
    october = world.build("2026-10")
    fail(world, october.batch_id, {1: ("rejected", "AC01")})
    new_account = "0011999999999"
    world.session.execute(update(Beneficiary).where(Beneficiary.id == world.ids[1]).values(
        account_enc=world.keyring.encrypt("account_number", new_account),
        account_idx=world.keyring.blind_index("account_number", new_account),
        version=Beneficiary.version + 1))
    november = world.build("2026-11")  # the changed record is re-verified first
    paid = world.of(november.batch_id, 1)
    assert (paid.channel, paid.rerouted_from, paid.arrears_amount) == ("bank", None, AMOUNT)
    assert paid.account_enc is not None
    assert world.keyring.decrypt("account_number", paid.account_enc) == new_account


def test_no_cash_programme_excludes_an_account_problem(session: Session,
                                                       tmp_path: Path) -> None:
    world = make_world(session, tmp_path, programme="unemployment", people={1: None, 2: None})
    october = world.build("2026-10")
    fail(world, october.batch_id, {1: ("rejected", "AC06")})
    november = world.build("2026-11")
    assert november.exclusions["account_problem"]["beneficiary_ids"] == [world.ids[1]]
    assert november.count == 1 and november.by_route[0]["route"] == "agribank"


# --- maker-checker -------------------------------------------------------------------------


def submitted(world: World) -> int:
    """A batch built and submitted by ``lan``."""
    summary = world.build("2026-11")
    service.submit_batch(world.session, summary.batch_id, actor="lan")
    return summary.batch_id


@pytest.mark.parametrize(("actor", "message"), [
    ("lan", "prepared batch"), ("an", "this needs approver"), ("root", "this needs approver"),
    ("lan2", "this needs approver")])
def test_only_a_different_approver_may_approve(world: World, actor: str, message: str) -> None:
    batch_id = submitted(world)
    with pytest.raises(Forbidden) as raised:
        service.approve_batch(world.session, batch_id, actor=actor)
    assert message in raised.value.detail
    assert world.batch(batch_id).state == "pending_approval"
    assert service.current_approval(world.session, batch_id) is None


def test_approval_pins_hash_count_and_total(world: World) -> None:
    batch_id = submitted(world)
    approval = service.approve_batch(world.session, batch_id, actor="minh")
    batch = world.batch(batch_id)
    assert batch.state == "approved"
    assert (approval.batch_hash, approval.count, approval.total) == (
        batch.content_hash, 4, 4 * AMOUNT)
    assert service.current_approval(world.session, batch_id) == approval
    with pytest.raises(InvalidTransition):  # a second approver comes too late
        service.approve_batch(world.session, batch_id, actor="hoa")
    summary = service.batch_summary(world.session, batch_id)
    assert summary["approval"]["approver"] == "minh"


def test_only_the_preparer_or_an_admin_submits(world: World) -> None:
    summary = world.build("2026-11")
    with pytest.raises(Forbidden):
        service.submit_batch(world.session, summary.batch_id, actor="lan2")
    with pytest.raises(Forbidden):
        service.submit_batch(world.session, summary.batch_id, actor="minh")
    service.submit_batch(world.session, summary.batch_id, actor="root")
    assert world.batch(summary.batch_id).state == "pending_approval"


def test_an_edit_after_approval_voids_it(world: World) -> None:
    batch_id = submitted(world)
    old = service.approve_batch(world.session, batch_id, actor="minh")
    target = world.of(batch_id, 2)

    service.edit_instruction(world.session, target.id, actor="lan", amount=3_000_000,
                             reason="amount corrected by decision 12/QĐ")

    batch = world.batch(batch_id)
    assert batch.state == "draft"
    world.session.refresh(old)
    assert old.voided_at is not None and "amount corrected" in (old.void_reason or "")
    assert service.current_approval(world.session, batch_id) is None
    assert (batch.count, batch.total) == (4, 3 * AMOUNT + 3_000_000)
    assert batch.content_hash == batch_digest(world.session, batch_id).sha256 != old.batch_hash
    with pytest.raises(InvalidTransition):  # the void sent it back: it must be resubmitted
        service.approve_batch(world.session, batch_id, actor="hoa")
    service.submit_batch(world.session, batch_id, actor="lan")
    new = service.approve_batch(world.session, batch_id, actor="hoa")
    assert service.current_approval(world.session, batch_id) == new
    assert new.total == 3 * AMOUNT + 3_000_000


def test_removing_an_instruction_after_files_were_written_voids_the_approval(
        world: World) -> None:
    batch_id = submitted(world)
    service.approve_batch(world.session, batch_id, actor="minh")
    apply_action(world.session, world.batch(batch_id), BatchAction.WRITE_FILES, actor="files")
    service.edit_instruction(world.session, world.of(batch_id, 4).id, actor="lan",
                             remove=True, reason="wallet closed by the owner")
    batch = world.batch(batch_id)
    assert (batch.state, batch.count, batch.total) == ("draft", 3, 3 * AMOUNT)
    assert world.session.execute(select(Approval.voided_at).where(
        Approval.batch_id == batch_id)).scalar_one() is not None


def test_an_edit_during_approval_makes_the_approver_refuse(world: World) -> None:
    batch_id = submitted(world)
    service.edit_instruction(world.session, world.of(batch_id, 1).id, actor="lan",
                             amount=4_000_000, reason="late correction")
    with pytest.raises(Conflict) as raised:
        service.approve_batch(world.session, batch_id, actor="minh")
    assert "changed after it was submitted" in raised.value.detail
    service.reject_batch(world.session, batch_id, actor="minh", reason="content changed")
    service.submit_batch(world.session, batch_id, actor="lan")
    assert service.approve_batch(world.session, batch_id, actor="minh").total == (
        3 * AMOUNT + 4_000_000)


def test_an_unvoided_approval_that_no_longer_matches_is_refused(world: World) -> None:
    batch_id = submitted(world)
    service.approve_batch(world.session, batch_id, actor="minh")
    # a change that bypassed the service (e.g. by hand in the database) is still caught
    world.session.execute(update(Instruction).where(Instruction.batch_id == batch_id,
                                                    Instruction.seq == 1)
                          .values(creditor_name="SOMEONE ELSE"))
    with pytest.raises(Conflict) as raised:
        service.current_approval(world.session, batch_id)
    assert "no longer matches approval" in raised.value.detail


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"amount": 1, "reason": "x"}, ValidationFailed),
    ({"reason": "no change asked for"}, ValidationFailed),
    ({"amount": 5, "remove": True, "reason": "both at once"}, ValidationFailed),
    ({"amount": 0, "reason": "zero is not money"}, ValidationFailed),
    ({"amount": 1000, "reason": "not the preparer", "actor": "lan2"}, Forbidden),
])
def test_bad_edits_are_refused(world: World, kwargs: dict[str, Any],
                               error: type[Exception]) -> None:
    summary = world.build("2026-11")
    args = {"actor": "lan", **kwargs}
    with pytest.raises(error):
        service.edit_instruction(world.session, world.of(summary.batch_id, 1).id, **args)


def test_edits_stop_once_submitted_to_the_bank(world: World) -> None:
    batch_id = submitted(world)
    service.approve_batch(world.session, batch_id, actor="minh")
    batch = world.batch(batch_id)
    apply_action(world.session, batch, BatchAction.WRITE_FILES, actor="files")
    apply_action(world.session, batch, BatchAction.SEND, actor="sender")
    with pytest.raises(InvalidTransition):
        service.edit_instruction(world.session, world.of(batch_id, 1).id, actor="lan",
                                 amount=1_000_000, reason="too late now")
    with pytest.raises(InvalidTransition):
        service.cancel_batch(world.session, batch_id, actor="lan", reason="too late now")
    assert len(world.instructions(batch_id)) == 4


@pytest.mark.parametrize("reason", ["", "   ", "no"])
def test_reject_needs_a_reason(world: World, reason: str) -> None:
    batch_id = submitted(world)
    with pytest.raises(ValidationFailed):
        service.reject_batch(world.session, batch_id, actor="minh", reason=reason)
    assert world.batch(batch_id).state == "pending_approval"


def test_reject_returns_to_draft_with_the_reason(world: World) -> None:
    batch_id = submitted(world)
    with pytest.raises(Forbidden):
        service.reject_batch(world.session, batch_id, actor="lan", reason="looks fine to me")
    service.reject_batch(world.session, batch_id, actor="minh", reason="check commune 00004")
    batch = world.batch(batch_id)
    assert (batch.state, batch.reason) == ("draft", "check commune 00004")


def test_cancel_frees_the_slots_so_the_period_can_be_rebuilt(world: World) -> None:
    batch_id = submitted(world)
    before = {i.beneficiary_id: i.end_to_end_id for i in world.instructions(batch_id)}
    service.cancel_batch(world.session, batch_id, actor="lan", reason="wrong rate table")
    batch = world.batch(batch_id)
    assert (batch.state, batch.count, batch.reason) == ("cancelled", 4, "wrong rate table")
    assert world.instructions(batch_id) == []
    entry = world.session.execute(select(AuditEntry).where(
        AuditEntry.action == "batch.cancel")).scalar_one()
    assert (entry.detail["count"], entry.detail["total"], entry.detail["hash"]) == (
        4, 4 * AMOUNT, batch.content_hash)
    rebuilt = world.build("2026-11")
    assert {i.beneficiary_id: i.end_to_end_id
            for i in world.instructions(rebuilt.batch_id)} == before
    with pytest.raises(InvalidTransition):
        service.cancel_batch(world.session, batch_id, actor="lan", reason="cancel twice")


def test_cancel_frees_carried_arrears(world: World) -> None:
    october = world.build("2026-10")
    fail(world, october.batch_id, {2: ("returned", "AM04")})
    november = world.build("2026-11")
    service.cancel_batch(world.session, november.batch_id, actor="lan", reason="start again")
    again = world.build("2026-11")
    assert world.of(again.batch_id, 2).arrears_amount == AMOUNT


def test_the_whole_flow_is_audited_and_the_chain_holds(world: World) -> None:
    batch_id = submitted(world)
    service.reject_batch(world.session, batch_id, actor="minh", reason="recheck amounts")
    service.submit_batch(world.session, batch_id, actor="lan")
    service.approve_batch(world.session, batch_id, actor="minh")
    service.edit_instruction(world.session, world.of(batch_id, 1).id, actor="lan",
                             amount=3_400_000, reason="deduction for overpayment")
    service.submit_batch(world.session, batch_id, actor="lan")
    service.approve_batch(world.session, batch_id, actor="hoa")

    assert actions(world.session, batch_id) == [
        "batch.create", "batch.submit", "batch.reject", "batch.submit", "batch.approve",
        "batch.edit_instruction", "batch.void_approval", "batch.submit", "batch.approve"]
    approve = world.session.execute(select(AuditEntry).where(
        AuditEntry.action == "batch.approve").order_by(AuditEntry.seq.desc()).limit(1)
    ).scalar_one()
    assert approve.actor == "hoa"
    assert approve.detail["hash"] == world.batch(batch_id).content_hash
    report = audit.verify_chain(world.session)
    assert report.broken is None and report.checked > 9


def test_list_and_show(world: World) -> None:
    first = world.build("2026-10")
    second = world.build("2026-11")
    rows = service.list_batches(world.session, programme="pension")
    assert [r["id"] for r in rows][:2] == [second.batch_id, first.batch_id]
    shown = service.batch_summary(world.session, second.batch_id)
    assert shown["count"] == 4 and shown["excluded"] == 6
    assert shown["allowed_actions"] == ["submit", "cancel"]
