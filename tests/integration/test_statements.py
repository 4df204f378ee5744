"""End-of-day statements beside notifications: confirmations, disagreements, sequence gaps.

The world of ``test_reconciliation`` (six payments sent to Vietcombank) receives the same
bookings as camt.054 notifications and as a camt.053 statement, in both orders.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from reconciliation.metrics import MetricsFilter, cashless_report
from reconciliation.models import RecordDecision, ReturnRecordRow
from reconciliation.service import ImportOutcome
from tests.integration.test_reconciliation import (
    AMOUNT,
    MSG_ID,
    World,
    account,
    build_world,
    e2e,
    pacs004,
    pain002,
    world,
)

__all__ = ["world"]  # the fixture: six payments sent to Vietcombank

# (person, "paid" | "returned", bank reference, booking day, amount)
Booking = tuple[int, str, str, int, int]


def _entry(n: int, kind: str, ref: str, day: int, amount: int) -> str:
    returned = kind == "returned"
    sign = "CRDT" if returned else "DBIT"
    party = (f"<Dbtr><Pty><Nm>NGUOI {n}</Nm></Pty></Dbtr><DbtrAcct><Id><Othr><Id>{account(n)}"
             "</Id></Othr></Id></DbtrAcct>" if returned else
             f"<Cdtr><Pty><Nm>NGUOI {n}</Nm></Pty></Cdtr><CdtrAcct><Id><Othr><Id>{account(n)}"
             "</Id></Othr></Id></CdtrAcct>")
    return (f'<Ntry><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-11-{day:02d}</Dt></BookgDt>"
            f"<AcctSvcrRef>{ref}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd>"
            f"<SubFmlyCd>{'RRTN' if returned else 'DMCT'}</SubFmlyCd></Fmly></Domn></BkTxCd>"
            f"<NtryDtls><TxDtls><Refs><MsgId>{MSG_ID}</MsgId><AcctSvcrRef>{ref}</AcctSvcrRef>"
            f'<EndToEndId>{e2e(n)}</EndToEndId></Refs><Amt Ccy="VND">{amount}</Amt>'
            f"<CdtDbtInd>{sign}</CdtDbtInd><RltdPties>{party}</RltdPties>"
            + ("<RtrInf><Rsn><Cd>AC04</Cd></Rsn></RtrInf>" if returned else "")
            + "</TxDtls></NtryDtls></Ntry>")


def notification(bookings: list[Booking], *, msg_id: str = "NTF-1") -> bytes:
    """A camt.054.001.08 notification of the bookings."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.08">'
            f"<BkToCstmrDbtCdtNtfctn><GrpHdr><MsgId>{msg_id}</MsgId>"
            "<CreDtTm>2026-11-25T07:00:00+07:00</CreDtTm></GrpHdr><Ntfctn><Id>N1</Id>"
            "<Acct><Id><Othr><Id>1001000000001</Id></Othr></Id></Acct>"
            f"{''.join(_entry(*b) for b in bookings)}</Ntfctn></BkToCstmrDbtCdtNtfctn>"
            "</Document>\n").encode()


def statement(bookings: list[Booking], *, sequence: int = 1, opening: int = 100_000_000,
              closing: int | None = None) -> bytes:
    """A camt.053.001.08 statement of the funding account with the bookings, balanced."""
    net = sum(-amount if kind == "paid" else amount for _, kind, _, _, amount in bookings)
    close = opening + net if closing is None else closing
    balance = ("<Bal><Tp><CdOrPrtry><Cd>{code}</Cd></CdOrPrtry></Tp>"
               '<Amt Ccy="VND">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
               "<Dt><Dt>2026-11-25</Dt></Dt></Bal>")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>'
            f"<GrpHdr><MsgId>STM-{sequence}</MsgId><CreDtTm>2026-11-25T23:59:00+07:00</CreDtTm>"
            f"</GrpHdr><Stmt><Id>STM-{sequence}</Id><ElctrncSeqNb>{sequence}</ElctrncSeqNb>"
            "<Acct><Id><Othr><Id>1001000000001</Id></Othr></Id></Acct>"
            + balance.format(code="OPBD", amount=opening)
            + balance.format(code="CLBD", amount=close)
            + "".join(_entry(*b) for b in bookings)
            + "</Stmt></BkToCstmrStmt></Document>\n").encode()


PAID = [(n, "paid", f"VCB-REF-{n}", 25, AMOUNT) for n in range(1, 5)]


def decisions(world: World) -> Counter[str]:
    return Counter(world.session.execute(select(ReturnRecordRow.decision)).scalars())


@pytest.mark.parametrize("statement_first", [False, True])
def test_a_statement_confirms_the_notified_bookings_without_exceptions(
        world: World, statement_first: bool) -> None:
    files = [("ntf.xml", notification(PAID)), ("stm.xml", statement(PAID))]
    reports = [world.send(data, name=name)
               for name, data in (reversed(files) if statement_first else files)]
    assert [r.outcome for r in reports] == [ImportOutcome.APPLIED] * 2
    assert reports[1].reconciliation.confirmed == 4
    assert reports[1].reconciliation.exceptions == 0
    assert world.exception_kinds() == Counter()
    assert [world.state(n) for n in range(1, 7)] == ["paid"] * 4 + ["instructed"] * 2
    assert decisions(world) == Counter({RecordDecision.APPLIED.value: 4,
                                        RecordDecision.CONFIRMED.value: 4})


def test_a_statement_alone_books_the_payments(world: World) -> None:
    world.send(statement(PAID), name="stm.xml")
    assert [world.state(n) for n in range(1, 5)] == ["paid"] * 4
    assert world.exception_kinds() == Counter()


def test_a_statement_that_disagrees_with_the_notification_is_one_exception(
        world: World) -> None:
    world.send(notification(PAID), name="ntf.xml")
    moved = [(1, "paid", "VCB-REF-1", 26, AMOUNT), *PAID[1:]]  # booked a day later
    report = world.send(statement(moved), name="stm.xml")
    assert report.reconciliation.confirmed == 3
    assert world.exception_kinds() == Counter({"statement_mismatch": 1})
    assert world.state(1) == "paid"


def test_a_return_is_the_same_whether_notified_or_in_the_statement(world: World) -> None:
    world.send(notification(PAID), name="ntf.xml")
    returned = [(1, "returned", "VCB-RET-1", 27, AMOUNT)]
    world.send(statement([*PAID, *returned]), name="stm.xml")
    assert world.state(1) == "returned"
    assert world.exception_kinds() == Counter()


def test_a_gap_in_the_statement_sequence_is_reported_once(world: World) -> None:
    world.send(statement(PAID[:1], sequence=1), name="s1.xml")
    world.send(statement(PAID[1:2], sequence=3, opening=98_500_000), name="s3.xml")
    assert world.exception_kinds() == Counter({"statement_sequence_gap": 1})
    world.send(statement(PAID[2:3], sequence=2, opening=98_500_000), name="s2.xml")
    world.send(statement(PAID[3:4], sequence=4, opening=97_000_000), name="s4.xml")
    assert world.exception_kinds() == Counter({"statement_sequence_gap": 1})


def test_an_unbalanced_statement_is_queued(world: World) -> None:
    world.send(statement(PAID, closing=1), name="stm.xml")
    assert world.exception_kinds() == Counter({"parse_error": 1})
    assert [world.state(n) for n in range(1, 5)] == ["paid"] * 4


# --- one month, whichever messages the bank uses ---------------------------------------------

# Persons 1-4 paid, 5 rejected (AC04) in the status report, 6 paid and then returned (AC06).
STATUS = pain002([(n, "ACSC", None, AMOUNT) for n in (1, 2, 3, 4, 6)]
                 + [(5, "RJCT", "AC04", AMOUNT)])
BOOKED = [(n, "paid", f"VCB-REF-{n}", 25, AMOUNT) for n in (1, 2, 3, 4, 6)]
RETURN = [(6, "returned", "VCB-RET-6", 27, AMOUNT)]
MONTHS: dict[str, list[tuple[str, bytes]]] = {
    "camt054": [("sts.xml", STATUS), ("ntf.xml", notification(BOOKED)),
                ("ret.xml", notification(RETURN, msg_id="NTF-2"))],
    "camt053": [("sts.xml", STATUS), ("stm.xml", statement([*BOOKED, *RETURN]))],
    "pacs004": [("sts.xml", STATUS), ("ntf.xml", notification(BOOKED)),
                ("rtr.xml", pacs004([(6, "returned", "AC06", AMOUNT)]))],
    "all": [("sts.xml", STATUS), ("ntf.xml", notification(BOOKED)),
            ("ret.xml", notification(RETURN, msg_id="NTF-2")),
            ("rtr.xml", pacs004([(6, "returned", "AC06", AMOUNT)])),
            ("stm.xml", statement([*BOOKED, *RETURN]))],
}
EXPECTED_STATES = ["paid"] * 4 + ["rejected", "returned"]


def month_outcome(world: World) -> dict[str, object]:
    report = cashless_report(world.session, MetricsFilter(period="2026-11"))
    return {"states": [world.state(n) for n in range(1, 7)],
            "exceptions": world.exception_kinds(), "cashless": report.total.to_dict()}


@pytest.mark.parametrize("kind", sorted(MONTHS))
@pytest.mark.parametrize("order", ["bank", "reversed", "shuffled"])
def test_the_month_reconciles_alike_whatever_messages_the_bank_uses(
        session: Session, tmp_path: Path, kind: str, order: str) -> None:
    files = list(MONTHS[kind])
    if order == "reversed":
        files.reverse()
    elif order == "shuffled":
        random.Random(f"{kind}-2026-11").shuffle(files)
    reference = _reference_month(session, tmp_path)
    world = build_world(session, tmp_path)
    for name, data in files:
        assert world.send(data, name=name).outcome is ImportOutcome.APPLIED
    outcome = month_outcome(world)
    assert outcome["states"] == EXPECTED_STATES
    assert outcome["exceptions"] == Counter()  # the bank caused nothing to look at
    assert outcome["cashless"] == reference
    assert isinstance(reference, dict)
    assert (reference["paid_count"], reference["rejected_count"],
            reference["returned_count"], reference["open_count"]) == (4, 1, 1, 0)


def _reference_month(session: Session, tmp_path: Path) -> object:
    """The figures of the camt.054 month in bank order, in a savepoint of its own."""
    savepoint = session.begin_nested()
    try:
        world = build_world(session, tmp_path / "reference")
        for name, data in MONTHS["camt054"]:
            world.send(data, name=name)
        return month_outcome(world)["cashless"]
    finally:
        savepoint.rollback()
        session.expire_all()
