"""A bank's word applies only to what was sent to that bank, and final states hold.

The world of ``test_reconciliation`` (six pension payments sent to Vietcombank in one file)
gets a second bank, BIDV, with a payment file of its own (person 5), and a draft batch of
the next month that was never sent (person 6). Return files are signed by either bank.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from datetime import date
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.orm import Session

from bank_adapters.models import Bank, ReceivedReturnFile, ReturnSource, Submission
from disburse.core.signing import public_key_pem
from disburse.payments.models import Batch, Instruction, PaymentFile
from reconciliation import service as return_service
from reconciliation.exceptions import list_exceptions, resolve_exception
from reconciliation.models import InstructionEvent, ReconciliationException
from reconciliation.service import ImportOutcome, ReturnImportReport, import_return_file
from tests.integration.test_reconciliation import (
    AMOUNT,
    MSG_ID,
    World,
    build_world,
    camt054,
    pain002,
)

BIDV_BIN = "970418"
BIDV_MSG_ID = "HN-PEN-202611-0002"
BIDV_PERSON = 5
DRAFT_PERSON = 6


class Banks:
    """The world plus BIDV's key, and ways to send a file signed by either bank."""

    def __init__(self, world: World, bidv_key: Ed25519PrivateKey) -> None:
        self.world = world
        self.bidv_key = bidv_key

    def from_vcb(self, data: bytes, name: str = "vcb.xml") -> ReturnImportReport:
        return self.world.send(data, name=name)

    def from_bidv(self, data: bytes, name: str = "bidv.xml") -> ReturnImportReport:
        w = self.world
        return import_return_file(w.session, w.keyring, data=data, file_name=name,
                                  bank_bin=BIDV_BIN, signature=self.bidv_key.sign(data),
                                  source=ReturnSource.API, actor="bidv",
                                  store_dir=w.store_dir)


def build_banks(session: Session, tmp_path: Path) -> Banks:
    """Six people: 1-4 paid through VCB, 5 through BIDV, 6 in a draft batch never sent."""
    world = build_world(session, tmp_path, size=6)
    bidv_key = Ed25519PrivateKey.generate()
    session.add(Bank(bin=BIDV_BIN, name="BIDV", route="bidv",
                     public_key_pem=public_key_pem(bidv_key.public_key()).decode()))
    bidv_file = PaymentFile(batch_id=world.batch_id, route="bidv", part_no=2, layout="pain001",
                            msg_id=BIDV_MSG_ID, file_name=f"{BIDV_MSG_ID}.xml", sha256="3" * 64,
                            size=1, nb_of_txs=1, ctrl_sum=AMOUNT, batch_hash="1" * 64,
                            key_id="k1")
    draft = Batch(programme="pension", period="2026-12", state="draft", preparer="lan",
                  requested_execution_date=date(2026, 12, 24), count=1, total=AMOUNT,
                  content_hash="4" * 64)
    session.add_all([bidv_file, draft])
    session.flush()
    session.add(Submission(payment_file_id=bidv_file.id, batch_id=world.batch_id,
                           route="bidv", msg_id=BIDV_MSG_ID, state="accepted"))
    session.execute(update(Instruction).where(
        Instruction.id == world.instructions[BIDV_PERSON]).values(
        route="bidv", payment_file_id=bidv_file.id))
    session.execute(update(Instruction).where(
        Instruction.id == world.instructions[DRAFT_PERSON]).values(
        batch_id=draft.id, period="2026-12", payment_file_id=None))
    session.flush()
    return Banks(world, bidv_key)


@pytest.fixture
def banks(session: Session, tmp_path: Path) -> Banks:
    return build_banks(session, tmp_path)


def flags(world: World, n: int) -> list[str]:
    return [f for f in world.person(n).review_flags if f.startswith("account_problem")]


# --- whose word counts ---------------------------------------------------------------------


def test_a_return_signed_by_another_bank_changes_nothing(banks: Banks) -> None:
    w = banks.world
    report = banks.from_bidv(pain002([(1, "RJCT", "AC04", AMOUNT), (2, "ACSC", None, AMOUNT)]))
    assert report.outcome is ImportOutcome.APPLIED
    assert w.state(1) == w.state(2) == "instructed"
    assert w.events(1) == w.events(2) == []
    assert flags(w, 1) == []
    assert w.exception_kinds() == Counter({"record_from_other_bank": 2})
    # the real bank's identical statement is not shadowed by the spoofed one
    banks.from_vcb(pain002([(2, "ACSC", None, AMOUNT)]))
    assert w.state(2) == "paid"


def test_a_camt054_from_another_bank_cannot_return_a_paid_payment(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(1, "ACSC", None, AMOUNT)]))
    banks.from_bidv(camt054([(1, "returned", "AC04", AMOUNT)]))
    assert w.state(1) == "paid"
    assert w.exception_kinds() == Counter({"record_from_other_bank": 1})


def test_each_bank_moves_only_its_own_payments(banks: Banks) -> None:
    w = banks.world
    banks.from_bidv(pain002([(BIDV_PERSON, "ACSC", None, AMOUNT)], msg_id=BIDV_MSG_ID))
    banks.from_vcb(pain002([(BIDV_PERSON, "RJCT", "AC01", AMOUNT)], report_id="VCB-2"))
    assert w.state(BIDV_PERSON) == "paid"
    assert flags(w, BIDV_PERSON) == []
    assert w.exception_kinds() == Counter({"record_from_other_bank": 1})


def test_records_for_a_draft_batch_change_nothing(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(DRAFT_PERSON, "ACSC", None, AMOUNT)]))
    assert w.state(DRAFT_PERSON) == "instructed"
    assert w.exception_kinds() == Counter({"record_for_unsent_instruction": 1})
    # and it stays refused when a later file touches the same EndToEndId again
    banks.from_vcb(pain002([(DRAFT_PERSON, "PDNG", None, AMOUNT)], report_id="VCB-2"))
    assert w.state(DRAFT_PERSON) == "instructed"
    assert w.events(DRAFT_PERSON) == []


def test_a_record_naming_another_payment_file_is_refused(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(1, "ACSC", None, AMOUNT)], msg_id="HN-PEN-202611-9999"))
    assert w.state(1) == "instructed"
    assert w.exception_kinds() == Counter({"msg_id_mismatch": 1})


def test_a_whole_file_status_from_another_bank_is_refused(banks: Banks) -> None:
    w = banks.world
    data = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"><CstmrPmtStsRpt>'
        "<GrpHdr><MsgId>R1</MsgId><CreDtTm>2026-11-24T16:05:00+07:00</CreDtTm></GrpHdr>"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{MSG_ID}</OrgnlMsgId>"
        "<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId><GrpSts>ACCP</GrpSts>"
        "</OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>\n").encode()
    banks.from_bidv(data)
    assert set(w.states().values()) == {"instructed"}
    assert w.exception_kinds() == Counter({"record_from_other_bank": 1})


# --- final states hold ---------------------------------------------------------------------


def test_a_rejection_after_settlement_keeps_paid_and_holds_the_person(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(1, "ACSC", None, AMOUNT)]))
    banks.from_vcb(pain002([(1, "RJCT", "AC04", AMOUNT)], report_id="VCB-2"), name="b.xml")
    assert w.state(1) == "paid"
    assert w.instruction(1).contested
    assert flags(w, 1) == ["account_problem:AC04"]  # noted for staff; no money follows it
    [item] = list_exceptions(w.session)["items"]
    assert item["kind"] == "settled_after_rejection"
    resolve_exception(w.session, item["id"], actor="an", note="bank confirmed the credit")
    assert not w.instruction(1).contested
    assert w.state(1) == "paid"


def test_settled_and_rejected_in_one_file_is_paid_and_contested(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(1, "RJCT", "AC04", AMOUNT), (1, "ACSC", None, AMOUNT)]))
    assert w.state(1) == "paid"
    assert w.instruction(1).contested


def test_a_return_after_a_rejection_holds_the_arrears_until_resolved(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(1, "RJCT", "AC04", AMOUNT)]))
    banks.from_vcb(camt054([(1, "returned", "AC04", AMOUNT)]), name="ntf.xml")
    assert w.state(1) == "rejected"
    assert w.instruction(1).contested
    [item] = list_exceptions(w.session)["items"]
    resolve_exception(w.session, item["id"], actor="an", note="no money moved")
    assert not w.instruction(1).contested


def test_only_an_explicit_return_takes_paid_away(banks: Banks) -> None:
    w = banks.world
    banks.from_vcb(pain002([(1, "ACSC", None, AMOUNT)]))
    banks.from_vcb(camt054([(1, "returned", "AC04", AMOUNT)]), name="ntf.xml")
    assert w.state(1) == "returned"
    assert not w.instruction(1).contested
    assert [e[1] for e in w.events(1)] == ["paid", "returned"]


# --- bounded files -------------------------------------------------------------------------


def test_a_file_with_more_records_than_payments_sent_is_refused_whole(banks: Banks) -> None:
    w = banks.world
    # four payments were sent to VCB in one file: at most 3 * 4 + 2 + 16 = 30 records
    lines = [(1 + n % 4, "RJCT", f"AC{n:02d}", AMOUNT) for n in range(31)]
    report = banks.from_vcb(pain002(lines))
    assert report.outcome is ImportOutcome.REFUSED
    assert "31 records" in report.message and "at most 30" in report.message
    assert w.count(ReconciliationException) == 0
    assert w.count(InstructionEvent) == 0
    assert set(w.states().values()) == {"instructed"}
    row = w.session.get(ReceivedReturnFile, report.return_file_id)
    assert row is not None and row.state == "quarantined" and row.signature_valid and row.reason
    # the same file again is a duplicate, not a second chance
    assert banks.from_vcb(pain002(lines)).outcome is ImportOutcome.DUPLICATE


def test_a_file_with_no_record_is_refused(banks: Banks) -> None:
    report = banks.from_vcb(b"<?xml version='1.0'?><Unknown/>", name="odd.xml")
    assert report.outcome is ImportOutcome.REFUSED
    assert banks.world.count(ReconciliationException) == 0


def test_unsigned_files_past_the_quarantine_quota_keep_no_bytes(
        banks: Banks, monkeypatch: pytest.MonkeyPatch) -> None:
    w = banks.world
    size = len(pain002([(1, "ACSC", None, AMOUNT)], report_id="U0"))
    monkeypatch.setattr(return_service, "QUARANTINE_QUOTA", 2 * size + 10)
    kept = []
    for n in range(4):
        data = pain002([(1, "ACSC", None, AMOUNT + n)], report_id=f"U{n}")
        report = w.send(data, name=f"u{n}.xml", signature=None)
        assert report.outcome is ImportOutcome.QUARANTINED
        row = w.session.get(ReceivedReturnFile, report.return_file_id)
        assert row is not None
        kept.append(bool(row.stored_path) and Path(row.stored_path).is_file())
    assert kept == [True, True, False, False]
    on_disk = sum(p.stat().st_size for p in w.store_dir.rglob("*") if p.is_file())
    assert on_disk <= 2 * size + 10
    # a quarantined file whose bytes were not kept is released by the signed copy
    last = pain002([(1, "ACSC", None, AMOUNT + 3)], report_id="U3")
    assert w.send(last, name="u3.xml").outcome is ImportOutcome.APPLIED


# --- random sequences ----------------------------------------------------------------------

PEOPLE = (1, 2, BIDV_PERSON, DRAFT_PERSON)
line = st.tuples(st.sampled_from(PEOPLE), st.sampled_from(["ACSC", "RJCT", "ACTC", "PDNG",
                                                            "RETURN"]),
                 st.sampled_from(["vcb", "bidv"]), st.sampled_from(["AC04", "AM04", "MD07"]))


def _file(lines: list[tuple[int, str, str, str]], index: int) -> bytes:
    statuses = [(n, sts, code if sts == "RJCT" else None, AMOUNT)
                for n, sts, _, code in lines if sts != "RETURN"]
    returns = [(n, "returned", code, AMOUNT) for n, sts, _, code in lines if sts == "RETURN"]
    if returns:
        return camt054(returns, notification_id=f"NTF-{index:04d}")
    return pain002(statuses, report_id=f"STS-{index}")


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(sequence=st.lists(st.lists(line, min_size=1, max_size=3), min_size=1, max_size=5))
def test_no_random_sequence_pays_twice_or_moves_what_it_may_not(
        session: Session, sequence: list[list[tuple[int, str, str, str]]]) -> None:
    savepoint = session.begin_nested()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            banks = build_banks(session, Path(tmp))
            w = banks.world
            said: dict[int, set[str]] = {n: set() for n in PEOPLE}
            accused: dict[int, bool] = dict.fromkeys(PEOPLE, False)
            was_paid: set[int] = set()
            for index, lines in enumerate(sequence):
                # one bank signs each file: the bank of its first line
                bank = lines[0][2]
                lines = [(n, sts, bank, code) for n, sts, _, code in lines]
                if any(sts == "RETURN" for _, sts, _, _ in lines):
                    lines = [x for x in lines if x[1] == "RETURN"]
                data = _file(lines, index)
                if bank == "vcb":
                    banks.from_vcb(data, name=f"{index}.xml")
                else:
                    banks.from_bidv(data.replace(MSG_ID.encode(), BIDV_MSG_ID.encode()),
                                    name=f"{index}.xml")
                own = {1: "vcb", 2: "vcb", BIDV_PERSON: "bidv"}
                for n, sts, _, code in lines:
                    if own.get(n) == bank:
                        said[n].add(sts)
                        accused[n] |= sts in {"RJCT", "RETURN"} and code == "AC04"
                for n in PEOPLE:
                    state = w.state(n)
                    # paid is final except through an explicit return of the money
                    if n in was_paid:
                        assert state in {"paid", "returned"}
                    if state == "paid":
                        was_paid.add(n)
            for n in PEOPLE:
                instruction = w.instruction(n)
                if n == DRAFT_PERSON:
                    assert instruction.state == "instructed" and w.events(n) == []
                    continue
                words = said[n]
                if "ACSC" in words and "RETURN" not in words:
                    assert instruction.state == "paid"  # no arrears can come from it
                if instruction.state in {"rejected", "returned"} and not instruction.contested:
                    # a failure that pays arrears: the bank never also said it paid,
                    # unless it then returned the money
                    assert "ACSC" not in words or "RETURN" in words
                if not words:
                    assert w.events(n) == []
                # nobody's account is flagged but by their own bank saying so
                if not accused[n]:
                    assert flags(w, n) == []
    finally:
        savepoint.rollback()
        session.expire_all()
