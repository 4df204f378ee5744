"""Applying bank return files on a real database: signatures, states, consequences, queue.

A submitted batch is written straight into the database (people, instructions, a payment
file with its MsgId); the bank's Ed25519 key pair is made here, and its return files are
pain.002 / camt.054 documents written here and signed with it. Each test runs in its own
savepoint (see ``tests/conftest.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from bank_adapters.models import Bank, ReceivedReturnFile, ReturnSource, Submission
from beneficiaries.models import Beneficiary, BeneficiaryHistory, ListImport
from disburse.core.audit import AuditEntry
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, Forbidden, ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.signing import public_key_pem
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, User
from disburse.entry.cli.returns import returns_group
from disburse.entry.context import services
from disburse.payments.models import Batch, Instruction, PaymentFile
from reconciliation.exceptions import close_batch, list_exceptions, resolve_exception
from reconciliation.models import (
    InstructionEvent,
    ReconciliationException,
    RecordDecision,
    ReturnRecordRow,
)
from reconciliation.service import ImportOutcome, ReturnImportReport, import_return_file

BANK_BIN = "970436"
MSG_ID = "HN-PEN-202611-0001"
AMOUNT = 1_500_000
PASSWORD_HASH = PasswordHasher().hash("mật khẩu đủ dài 123")


def e2e(n: int) -> str:
    """The EndToEndId of person ``n``'s instruction."""
    return f"PEN01202611{n:012d}"


def account(n: int) -> str:
    """Person ``n``'s account number (leading zeros kept)."""
    return f"00110{n:08d}"


# --- return files --------------------------------------------------------------------------

Tx = tuple[int, str, str | None, int]  # person, TxSts, reason code, amount


def pain002(txs: list[Tx], *, report_id: str = "VCB-STS-1", msg_id: str = MSG_ID) -> bytes:
    """A pain.002.001.12 status report with one TxInfAndSts per entry."""
    body = "".join(
        f"<TxInfAndSts><OrgnlEndToEndId>{e2e(n)}</OrgnlEndToEndId><TxSts>{sts}</TxSts>"
        + (f"<StsRsnInf><Rsn><Cd>{code}</Cd></Rsn></StsRsnInf>" if code else "")
        + f"<OrgnlTxRef><Amt><InstdAmt Ccy=\"VND\">{amount}</InstdAmt></Amt>"
        f"<CdtrAcct><Id><Othr><Id>{account(n)}</Id></Othr></Id></CdtrAcct></OrgnlTxRef>"
        "</TxInfAndSts>" for n, sts, code, amount in txs)
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"><CstmrPmtStsRpt>'
        f"<GrpHdr><MsgId>{report_id}</MsgId><CreDtTm>2026-11-24T16:05:00+07:00</CreDtTm>"
        f"</GrpHdr><OrgnlGrpInfAndSts><OrgnlMsgId>{msg_id}</OrgnlMsgId>"
        "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>"
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{msg_id}-P1</OrgnlPmtInfId>{body}"
        "</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n").encode()


Entry = tuple[int, str, str | None, int]  # person, "paid" | "returned", reason code, amount


def camt054(entries: list[Entry], *, notification_id: str = "VCB-NTF-1") -> bytes:
    """A camt.054.001.08 notification: DBIT bookings (paid) and RRTN credits (returned)."""
    parts = []
    for index, (n, kind, code, amount) in enumerate(entries):
        returned = kind == "returned"
        ref = f"VCB{notification_id[-4:]}{index:06d}"
        party = (f"<Dbtr><Pty><Nm>NGUOI {n}</Nm></Pty></Dbtr><DbtrAcct><Id><Othr><Id>{account(n)}"
                 "</Id></Othr></Id></DbtrAcct>" if returned else
                 f"<Cdtr><Pty><Nm>NGUOI {n}</Nm></Pty></Cdtr><CdtrAcct><Id><Othr><Id>"
                 f"{account(n)}</Id></Othr></Id></CdtrAcct>")
        sign = "CRDT" if returned else "DBIT"
        parts.append(
            f'<Ntry><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
            "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-25</Dt></BookgDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd>"
            f"<SubFmlyCd>{'RRTN' if returned else 'DMCT'}</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><MsgId>{MSG_ID}</MsgId><EndToEndId>{e2e(n)}</EndToEndId>"
            f'</Refs><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
            f"<RltdPties>{party}</RltdPties>"
            + (f"<RtrInf><Rsn><Cd>{code}</Cd></Rsn></RtrInf>" if returned and code else "")
            + "</TxDtls></NtryDtls></Ntry>")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
        f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>{notification_id}</MsgId>"
        "<CreDtTm>2026-11-25T07:00:00+07:00</CreDtTm></GrpHdr><Ntfctn><Id>N1</Id>"
        "<Acct><Id><Othr><Id>0011000000001</Id></Othr></Id></Acct>"
        f"{''.join(parts)}</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>\n").encode()


def pacs004(returns: list[Entry], *, return_id: str = "VCB-RTR-1") -> bytes:
    """A pacs.004.001.09 payment return: one TxInf per entry (the entry kind is ignored)."""
    body = "".join(
        f"<TxInf><RtrId>{return_id}-{index}</RtrId><OrgnlEndToEndId>{e2e(n)}</OrgnlEndToEndId>"
        f'<RtrdIntrBkSttlmAmt Ccy="VND">{amount}</RtrdIntrBkSttlmAmt>'
        f"<RtrRsnInf><Rsn><Cd>{code}</Cd></Rsn></RtrRsnInf><OrgnlTxRef><CdtrAcct><Id><Othr>"
        f"<Id>{account(n)}</Id></Othr></Id></CdtrAcct></OrgnlTxRef></TxInf>"
        for index, (n, _kind, code, amount) in enumerate(returns))
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pacs.004.001.09"><PmtRtr>'
        f"<GrpHdr><MsgId>{return_id}</MsgId><CreDtTm>2026-11-26T09:00:00+07:00</CreDtTm>"
        f"<NbOfTxs>{len(returns)}</NbOfTxs><IntrBkSttlmDt>2026-11-26</IntrBkSttlmDt>"
        "<SttlmInf><SttlmMtd>CLRG</SttlmMtd></SttlmInf></GrpHdr>"
        f"<OrgnlGrpInf><OrgnlMsgId>{MSG_ID}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09"
        f"</OrgnlMsgNmId></OrgnlGrpInf>{body}</PmtRtr></Document>\n").encode()


# --- the world -----------------------------------------------------------------------------


@dataclass
class World:
    """A submitted batch of ``size`` bank payments, the bank's key and helpers to read back."""

    session: Session
    keyring: Keyring
    bank_key: Ed25519PrivateKey
    store_dir: Path
    batch_id: int
    people: dict[int, int]  # person -> beneficiary id
    instructions: dict[int, int]  # person -> instruction id

    def send(self, data: bytes, *, name: str = "returns.xml", signature: bytes | None = b"",
             actor: str = "nightly") -> ReturnImportReport:
        """Import ``data`` signed by the bank (``signature=b""``), or with the given one."""
        sig = self.bank_key.sign(data) if signature == b"" else signature
        return import_return_file(self.session, self.keyring, data=data, file_name=name,
                                  bank_bin=BANK_BIN, signature=sig, source=ReturnSource.API,
                                  actor=actor, store_dir=self.store_dir)

    def instruction(self, n: int) -> Instruction:
        """Person ``n``'s instruction, read fresh."""
        self.session.expire_all()
        found = self.session.get(Instruction, self.instructions[n])
        assert found is not None
        return found

    def state(self, n: int) -> str:
        """Person ``n``'s instruction state."""
        return self.instruction(n).state

    def states(self) -> dict[int, str]:
        """Every instruction's state by person."""
        return {n: self.state(n) for n in self.instructions}

    def person(self, n: int) -> Beneficiary:
        """Person ``n``'s beneficiary row, read fresh."""
        self.session.expire_all()
        found = self.session.get(Beneficiary, self.people[n])
        assert found is not None
        return found

    def events(self, n: int) -> list[tuple[str, str, str | None]]:
        """Person ``n``'s instruction events, oldest first."""
        return [(e.from_state, e.to_state, e.reason_code) for e in self.session.execute(
            select(InstructionEvent).where(
                InstructionEvent.instruction_id == self.instructions[n])
            .order_by(InstructionEvent.id)).scalars()]

    def exception_kinds(self) -> Counter[str]:
        """The multiset of queued exception kinds."""
        return Counter(self.session.execute(select(ReconciliationException.kind)).scalars())

    def batch_state(self) -> str:
        """The batch's state."""
        self.session.expire_all()
        batch = self.session.get(Batch, self.batch_id)
        assert batch is not None
        return batch.state

    def count(self, model: Any) -> int:
        """Rows in ``model``'s table."""
        return self.session.execute(select(func.count()).select_from(model)).scalar_one()


def add_users(session: Session) -> None:
    """Preparer lan, auditor an, admin root (one shared hash: they never sign in)."""
    session.execute(insert(User), [
        {"name": name, "role": role.value, "bank_bin": None, "password_hash": PASSWORD_HASH,
         "active": True, "created_at": utcnow()}
        for name, role in (("lan", Role.PREPARER), ("an", Role.AUDITOR), ("root", Role.ADMIN))])


def build_world(session: Session, tmp_path: Path, size: int = 6) -> World:
    """Register the bank, enrol ``size`` people and write their submitted batch."""
    keyring = Keyring.init(tmp_path / "keys")
    bank_key = Ed25519PrivateKey.generate()
    session.add(Bank(bin=BANK_BIN, name="Vietcombank", route="vcb",
                     public_key_pem=public_key_pem(bank_key.public_key()).decode()))
    listing = ListImport(programme="pension", file_name="list.csv", file_sha256="0" * 64,
                         file_size=1, actor="lan", outcome="applied", counts={})
    batch = Batch(programme="pension", period="2026-11", state="submitted", preparer="lan",
                  requested_execution_date=date(2026, 11, 24), count=size,
                  total=size * AMOUNT, content_hash="1" * 64)
    session.add_all([listing, batch])
    session.flush()
    payment_file = PaymentFile(batch_id=batch.id, route="vcb", part_no=1, layout="pain001",
                               msg_id=MSG_ID, file_name=f"{MSG_ID}.xml", sha256="2" * 64,
                               size=1, nb_of_txs=size, ctrl_sum=size * AMOUNT,
                               batch_hash="1" * 64, key_id="k1")
    session.add(payment_file)
    session.flush()
    session.add(Submission(payment_file_id=payment_file.id, batch_id=batch.id, route="vcb",
                           msg_id=MSG_ID, state="accepted"))
    people: dict[int, int] = {}
    instructions: dict[int, int] = {}
    for n in range(1, size + 1):
        idx = keyring.blind_index("account_number", f"{BANK_BIN}:{account(n)}")
        person = Beneficiary(
            programme="pension", citizen_id_enc=keyring.encrypt("citizen_id", f"0011950{n:05d}"),
            citizen_id_idx=keyring.blind_index("citizen_id", f"0011950{n:05d}"),
            full_name=f"Người {n}", date_of_birth=date(1950, 1, n), gender="female",
            province_code="01", commune_code="00004", monthly_amount=AMOUNT, channel="bank",
            bank_bin=BANK_BIN, account_enc=keyring.encrypt("account_number", account(n)),
            account_idx=idx, source_import_id=listing.id, source_row=n + 1,
            last_seen_import_id=listing.id, review_flags=[])
        session.add(person)
        session.flush()
        instruction = Instruction(
            batch_id=batch.id, beneficiary_id=person.id, programme="pension", period="2026-11",
            seq=n, amount=AMOUNT, base_amount=AMOUNT, arrears_amount=0, channel="bank",
            route="vcb", bank_bin=BANK_BIN,
            account_enc=keyring.encrypt("account_number", account(n)), account_idx=idx,
            creditor_name=f"NGUOI {n}", province_code="01", commune_code="00004",
            end_to_end_id=e2e(n), state="instructed", payment_file_id=payment_file.id)
        session.add(instruction)
        session.flush()
        people[n], instructions[n] = person.id, instruction.id
    add_users(session)
    return World(session, keyring, bank_key, tmp_path / "returns", batch.id, people,
                 instructions)


@pytest.fixture
def world(session: Session, tmp_path: Path) -> World:
    """Six people paid 1,500,000 each in one submitted batch."""
    return build_world(session, tmp_path)


# --- tests -------------------------------------------------------------------------------


def test_settlement_marks_paid_with_an_event(world: World) -> None:
    report = world.send(pain002([(1, "ACSC", None, AMOUNT)]))
    assert report.outcome is ImportOutcome.APPLIED
    assert world.state(1) == "paid"
    assert world.instruction(1).channel == "bank"
    assert world.events(1) == [("instructed", "paid", None)]
    assert world.state(2) == "instructed"
    assert report.reconciliation.state_changes == {"instructed->paid": 1}


def test_account_closed_rejects_and_flags_the_account(world: World) -> None:
    before = world.person(2).version
    world.send(pain002([(2, "RJCT", "AC04", AMOUNT)]))
    assert (world.state(2), world.instruction(2).reason_code) == ("rejected", "AC04")
    person = world.person(2)
    assert "account_problem:AC04" in person.review_flags
    assert person.version == before + 1
    history = world.session.execute(select(BeneficiaryHistory).where(
        BeneficiaryHistory.beneficiary_id == person.id)).scalars().all()
    assert [h.change for h in history] == ["flagged"]
    assert person.status == "active"


def test_md07_suspends_the_beneficiary(world: World) -> None:
    world.send(pain002([(3, "RJCT", "MD07", AMOUNT)]))
    person = world.person(3)
    assert (person.status, person.status_reason) == (
        "suspended", "bank reports holder deceased (MD07)")
    assert world.state(3) == "rejected"
    actions = world.session.execute(select(AuditEntry.action).where(
        AuditEntry.object_id == str(person.id))).scalars().all()
    assert "beneficiary.suspend_md07" in actions


@pytest.mark.parametrize("code", ["AM04", "TM01"])
def test_retry_codes_keep_the_instruction_rejected_without_touching_the_person(
        world: World, code: str) -> None:
    world.send(pain002([(4, "RJCT", code, AMOUNT)]))
    assert (world.state(4), world.instruction(4).reason_code) == ("rejected", code)
    person = world.person(4)
    assert (person.status, person.review_flags) == ("active", [])


def test_a_return_after_settlement_is_a_new_event(world: World) -> None:
    world.send(pain002([(1, "ACSC", None, AMOUNT)]))
    world.send(camt054([(1, "returned", "AC04", AMOUNT)]), name="ntf.xml")
    assert world.events(1) == [("instructed", "paid", None), ("paid", "returned", "AC04")]
    assert world.state(1) == "returned"
    assert "account_problem:AC04" in world.person(1).review_flags


def test_a_pacs004_return_after_settlement_is_the_same_return(world: World) -> None:
    world.send(pain002([(1, "ACSC", None, AMOUNT)]))
    report = world.send(pacs004([(1, "returned", "AC04", AMOUNT)]), name="rtr.xml")
    assert report.outcome is ImportOutcome.APPLIED
    assert world.events(1) == [("instructed", "paid", None), ("paid", "returned", "AC04")]
    assert world.state(1) == "returned"
    assert "account_problem:AC04" in world.person(1).review_flags
    assert report.reconciliation.state_changes == {"paid->returned": 1}
    assert world.exception_kinds() == Counter()


@pytest.mark.parametrize("how", ["unsigned", "tampered", "other_key"])
def test_unsigned_or_tampered_files_are_quarantined(world: World, how: str) -> None:
    data = pain002([(1, "ACSC", None, AMOUNT), (2, "RJCT", "AC04", AMOUNT)])
    signature = {"unsigned": None,
                 "tampered": world.bank_key.sign(data.replace(b"AC04", b"AC01")),
                 "other_key": Ed25519PrivateKey.generate().sign(data)}[how]
    report = world.send(data, signature=signature)
    assert report.outcome is ImportOutcome.QUARANTINED
    row = world.session.get(ReceivedReturnFile, report.return_file_id)
    assert row is not None
    assert (row.state, row.signature_valid) == ("quarantined", False)
    assert Path(row.stored_path).read_bytes() == data
    assert Path(row.stored_path).name == report.sha256
    assert world.states() == dict.fromkeys(world.instructions, "instructed")
    assert world.count(ReturnRecordRow) == 0
    assert world.count(InstructionEvent) == 0
    assert world.session.execute(select(AuditEntry.action).where(
        AuditEntry.object_type == "return_file")).scalars().all() == ["returns.quarantine"]


def test_a_quarantined_file_sent_again_with_a_good_signature_is_applied(world: World) -> None:
    data = pain002([(1, "ACSC", None, AMOUNT)])
    first = world.send(data, signature=None)
    second = world.send(data)
    assert second.outcome is ImportOutcome.APPLIED
    assert second.return_file_id == first.return_file_id
    assert world.state(1) == "paid"


def test_the_same_file_twice_changes_nothing(world: World) -> None:
    data = pain002([(1, "ACSC", None, AMOUNT), (2, "RJCT", "AC04", AMOUNT), (99, "ACSC", None,
                                                                              AMOUNT)])
    world.send(data)
    counts = [world.count(m) for m in (ReturnRecordRow, InstructionEvent,
                                       ReconciliationException, ReceivedReturnFile,
                                       AuditEntry, BeneficiaryHistory)]
    again = world.send(data)
    assert again.outcome is ImportOutcome.DUPLICATE
    assert [world.count(m) for m in (ReturnRecordRow, InstructionEvent,
                                     ReconciliationException, ReceivedReturnFile,
                                     AuditEntry, BeneficiaryHistory)] == counts


@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
def test_losing_a_race_to_import_the_same_file_is_a_duplicate(
        world: World, monkeypatch: pytest.MonkeyPatch, signed: bool) -> None:
    """Two imports of one new file at once: the second one's lookup saw no row, its insert
    then meets the first one's committed row. It must answer duplicate, not fail."""
    import reconciliation.service as service

    data = pain002([(1, "ACSC", None, AMOUNT)])
    first = world.send(data, signature=b"" if signed else None)
    counts = [world.count(m) for m in (ReturnRecordRow, InstructionEvent, ReceivedReturnFile,
                                       AuditEntry)]
    lookup, calls = service._existing_file, []

    def stale_then_fresh(*args: Any) -> Any:
        calls.append(args)
        return None if len(calls) == 1 else lookup(*args)
    monkeypatch.setattr(service, "_existing_file", stale_then_fresh)

    again = world.send(data, signature=b"" if signed else None)

    assert len(calls) == 2
    assert again.outcome is ImportOutcome.DUPLICATE
    assert again.return_file_id == first.return_file_id
    assert [world.count(m) for m in (ReturnRecordRow, InstructionEvent, ReceivedReturnFile,
                                     AuditEntry)] == counts


def test_the_same_record_in_two_files_is_applied_once_and_flagged(world: World) -> None:
    world.send(camt054([(1, "paid", None, AMOUNT)], notification_id="NTF-0001"))
    report = world.send(camt054([(1, "paid", None, AMOUNT), (2, "paid", None, AMOUNT)],
                                notification_id="NTF-0001"), name="again.xml")
    assert report.outcome is ImportOutcome.APPLIED
    assert report.reconciliation.duplicates == 1
    assert world.events(1) == [("instructed", "paid", None)]
    assert world.state(2) == "paid"
    assert world.exception_kinds() == Counter({"duplicate_record": 1})
    assert world.count(ReturnRecordRow) == 2


def test_unknown_end_to_end_id_and_amount_mismatch_are_queued(world: World) -> None:
    world.send(pain002([(77, "ACSC", None, AMOUNT), (2, "ACSC", None, AMOUNT + 1)]))
    assert world.exception_kinds() == Counter({"unknown_end_to_end_id": 1,
                                               "amount_mismatch": 1})
    assert world.state(2) == "instructed"
    listing = list_exceptions(world.session, kind="amount_mismatch")
    assert listing["total"] == 1
    assert listing["items"][0]["candidate_ids"] == [world.instructions[2]]
    assert listing["items"][0]["end_to_end_id"] == e2e(2)


@pytest.mark.parametrize("first_rejected", [False, True])
def test_a_settlement_and_a_rejection_leave_the_payment_paid_and_held(
        world: World, first_rejected: bool) -> None:
    files = [pain002([(1, "ACSC", None, AMOUNT)]),
             pain002([(1, "RJCT", "AC01", AMOUNT)], report_id="VCB-STS-2")]
    for index, data in enumerate(reversed(files) if first_rejected else files):
        world.send(data, name=f"{index}.xml")
    assert world.state(1) == "paid"  # the bank confirmed the money: paid is final
    assert world.instruction(1).contested
    assert world.exception_kinds() == Counter({"settled_after_rejection": 1})
    assert world.events(1)[-1][1] == "paid"
    # what the bank said about the account is noted for staff either way
    assert "account_problem:AC01" in world.person(1).review_flags


def test_batch_moves_to_partially_settled_then_settled_then_closed(world: World) -> None:
    world.send(pain002([(1, "ACSC", None, AMOUNT), (2, "ACSC", None, AMOUNT + 5)]))
    assert world.batch_state() == "partially_settled"
    world.send(camt054([(n, "paid", None, AMOUNT) for n in range(2, 7)]), name="ntf.xml")
    assert world.batch_state() == "settled"
    with pytest.raises(Conflict):  # the amount mismatch on person 2 is still open
        close_batch(world.session, world.batch_id, actor="an")
    [open_item] = list_exceptions(world.session)["items"]
    resolve_exception(world.session, open_item["id"], actor="an",
                      note="bank confirmed the booking of 1,500,000")
    assert close_batch(world.session, world.batch_id, actor="an") == "closed"


def test_resolving_needs_an_auditor_and_a_note_and_is_audited(world: World) -> None:
    world.send(pain002([(77, "ACSC", None, AMOUNT)]))
    [item] = list_exceptions(world.session)["items"]
    with pytest.raises(Forbidden):
        resolve_exception(world.session, item["id"], actor="lan", note="looks fine")
    with pytest.raises(ValidationFailed):
        resolve_exception(world.session, item["id"], actor="an", note="   ")
    done = resolve_exception(world.session, item["id"], actor="an",
                             note="payment of another department")
    assert (done["state"], done["resolved_by"]) == ("resolved", "an")
    assert list_exceptions(world.session)["total"] == 0
    with pytest.raises(Conflict):
        resolve_exception(world.session, item["id"], actor="root", note="again")
    entry = world.session.execute(select(AuditEntry).where(
        AuditEntry.action == "reconciliation.resolve_exception")).scalar_one()
    assert (entry.actor, entry.detail["note"]) == ("an", "payment of another department")


def test_every_record_is_matched_or_queued(world: World) -> None:
    good = pain002([(1, "ACSC", None, AMOUNT), (2, "RJCT", "AC04", AMOUNT),
                    (2, "RJCT", "AC04", AMOUNT), (3, "ACSC", None, 999),
                    (88, "RJCT", "AC01", AMOUNT), (4, "XXXX", None, AMOUNT)])
    report = world.send(good)
    r = report.reconciliation
    assert r.parse_errors >= 1
    rows = world.session.execute(select(ReturnRecordRow)).scalars().all()
    assert r.records == len(rows) + r.duplicates
    queued = {e.return_record_id for e in world.session.execute(
        select(ReconciliationException)).scalars()}
    for row in rows:
        if row.decision == RecordDecision.APPLIED.value:
            assert row.matched_instruction_id is not None
        else:
            assert row.id in queued
    kinds = world.exception_kinds()
    assert kinds["parse_error"] == r.parse_errors
    assert kinds["duplicate_record"] == 1
    assert sum(kinds.values()) == r.exceptions


def test_an_unregistered_bank_is_refused(world: World, tmp_path: Path) -> None:
    from disburse.core.errors import NotFound
    with pytest.raises(NotFound):
        import_return_file(world.session, world.keyring, data=b"<x/>", file_name="x.xml",
                           bank_bin="999999", signature=None, source=ReturnSource.CLI,
                           actor="cli", store_dir=tmp_path / "r")


def test_cli_imports_lists_and_resolves(app: Flask, tmp_path: Path) -> None:
    svc = services(app)
    Keyring.init(svc.settings.key_dir)
    bank_key = Ed25519PrivateKey.generate()
    with unit_of_work(svc.session_factory) as session:
        session.add(Bank(bin=BANK_BIN, name="Vietcombank", route="vcb",
                         public_key_pem=public_key_pem(bank_key.public_key()).decode()))
        add_users(session)
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(returns_group, list(args),
                             obj=ScriptInfo(create_app=lambda: app))

    unsigned = tmp_path / "unsigned.xml"
    unsigned.write_bytes(pain002([(5, "ACSC", None, AMOUNT)], report_id="X"))
    quarantined = invoke("import", str(unsigned), "--json")
    assert quarantined.exit_code == 1
    assert json.loads(quarantined.output)["outcome"] == "quarantined"

    signed = tmp_path / "status.xml"
    signed.write_bytes(pain002([(77, "ACSC", None, AMOUNT)]))
    (tmp_path / "status.xml.sig").write_bytes(bank_key.sign(signed.read_bytes()))
    applied = invoke("import", str(signed), "--bank", BANK_BIN)
    assert applied.exit_code == 0, applied.output
    assert "applied" in applied.output and "unknown_end_to_end_id: 1" in applied.output
    assert (svc.settings.data_dir / "returns" / BANK_BIN).is_dir()

    listing = json.loads(invoke("exceptions", "--json").output)
    [item] = listing["items"]
    assert item["kind"] == "unknown_end_to_end_id"
    refused = invoke("resolve", str(item["id"]), "--actor", "lan", "--note", "ok")
    assert refused.exit_code != 0
    done = invoke("resolve", str(item["id"]), "--actor", "an", "--note", "not ours")
    assert done.exit_code == 0, done.output
    assert json.loads(invoke("exceptions", "--json").output)["total"] == 0
