"""Writers of the simulated bank's return files: pain.002 status reports and camt.054 notices.

Files are small (one per payment file), so they are built as text from templates; every
text value goes through ``xml.sax.saxutils.escape`` and the tests validate the output against
the official schemas copied in ``schemas/`` (pain.002.001.12 and camt.054.001.08).

* pain.002: one ``TxInfAndSts`` per transaction, ``ACCP`` (with the bank's reference) or
  ``RJCT`` with the reason; ``GrpSts`` ACCP, PART or RJCT. A whole-file rejection (FF01,
  DUPL) carries only ``GrpSts`` RJCT and its reason.
* camt.054: the notification of the paying (disbursement) account. A settled payment is a
  booked debit entry (family ICDT, sub-family DMCT) naming the beneficiary's account; a
  payment returned later is a booked credit entry with sub-family RRTN and ``RtrInf``.

The same inputs give byte-identical files.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final
from xml.sax.saxutils import escape

from disburse.entry.banksim.decide import Decision

SCHEMA_DIR: Final = Path(__file__).parent / "schemas"
PAIN002_SCHEMA: Final = SCHEMA_DIR / "pain.002.001.12.xsd"
CAMT054_SCHEMA: Final = SCHEMA_DIR / "camt.054.001.08.xsd"
PAIN002_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"
CAMT054_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:camt.054.001.08"
ORIGINAL_MESSAGE_NAME: Final = "pain.001.001.09"
_MAX_ADDITIONAL_INFO: Final = 105
_PROLOG: Final = '<?xml version="1.0" encoding="UTF-8"?>\n'


@dataclass(frozen=True, slots=True)
class StatusLine:
    """One transaction of a received file with the bank's decision.

    Attributes:
        end_to_end_id: the EndToEndId from the payment file.
        amount: whole dong.
        creditor_name: the name written in the payment file.
        account: the beneficiary's account or wallet number (``None`` when the file has none).
        decision: accepted, or rejected with a reason.
        bank_reference: the bank's AcctSvcrRef for the transaction.
    """

    end_to_end_id: str
    amount: int
    creditor_name: str
    account: str | None
    decision: Decision
    bank_reference: str


@dataclass(frozen=True, slots=True)
class PaymentBlock:
    """A PmtInf block of the received file and the transactions in it."""

    payment_info_id: str
    lines: tuple[StatusLine, ...]


@dataclass(frozen=True, slots=True)
class ReceivedFile:
    """What the bank knows of an accepted payment file.

    Attributes:
        msg_id: the file's MsgId.
        created_at: the file's CreDtTm as written there, if any.
        debtor_account: the paying account (the account the camt.054 describes).
        blocks: the payment blocks in file order.
    """

    msg_id: str
    created_at: str | None
    debtor_account: str
    blocks: tuple[PaymentBlock, ...]

    @property
    def lines(self) -> list[StatusLine]:
        """Every transaction in file order."""
        return [line for block in self.blocks for line in block.lines]


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat()


def _group_status(lines: Sequence[StatusLine]) -> str:
    accepted = sum(line.decision.accepted for line in lines)
    if accepted == len(lines):
        return "ACCP"
    return "RJCT" if accepted == 0 else "PART"


def _reason_xml(code: str, detail: str | None = None) -> str:
    extra = f"<AddtlInf>{escape(detail[:_MAX_ADDITIONAL_INFO])}</AddtlInf>" if detail else ""
    return f"<StsRsnInf><Rsn><Cd>{escape(code)}</Cd></Rsn>{extra}</StsRsnInf>"


def _account_xml(tag: str, account: str | None) -> str:
    if not account:
        return ""
    return f"<{tag}><Id><Othr><Id>{escape(account)}</Id></Othr></Id></{tag}>"


def _party_xml(tag: str, name: str) -> str:
    return f"<{tag}><Pty><Nm>{escape(name)}</Nm></Pty></{tag}>" if name else ""


def _pain002_header(report_id: str, created_at: datetime, bank_bin: str) -> str:
    return (
        f'{_PROLOG}<Document xmlns="{PAIN002_NAMESPACE}">\n<CstmrPmtStsRpt>\n'
        f"<GrpHdr><MsgId>{escape(report_id)}</MsgId><CreDtTm>{_timestamp(created_at)}</CreDtTm>"
        f"<DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>{bank_bin}</MmbId></ClrSysMmbId>"
        "</FinInstnId></DbtrAgt></GrpHdr>\n"
    )


def _pain002_transaction(line: StatusLine) -> str:
    if line.decision.accepted:
        status = f"<TxSts>ACCP</TxSts><AcctSvcrRef>{escape(line.bank_reference)}</AcctSvcrRef>"
    else:
        status = f"<TxSts>RJCT</TxSts>{_reason_xml(line.decision.reason or 'NARR')}"
    return (
        f"<TxInfAndSts><OrgnlEndToEndId>{escape(line.end_to_end_id)}</OrgnlEndToEndId>{status}"
        f'<OrgnlTxRef><Amt><InstdAmt Ccy="VND">{line.amount}</InstdAmt></Amt>'
        f"{_account_xml('CdtrAcct', line.account)}</OrgnlTxRef></TxInfAndSts>\n"
    )


def _pain002_block(block: PaymentBlock) -> str:
    lines = block.lines
    return (
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{escape(block.payment_info_id)}</OrgnlPmtInfId>"
        f"<OrgnlNbOfTxs>{len(lines)}</OrgnlNbOfTxs>"
        f"<OrgnlCtrlSum>{sum(line.amount for line in lines)}</OrgnlCtrlSum>"
        f"<PmtInfSts>{_group_status(lines)}</PmtInfSts>\n"
        + "".join(_pain002_transaction(line) for line in lines)
        + "</OrgnlPmtInfAndSts>\n"
    )


def write_pain002_status(
    received: ReceivedFile, *, report_id: str, created_at: datetime, bank_bin: str
) -> bytes:
    """Return the status report of an accepted file, one status per transaction.

    Args:
        received: the file and the bank's decisions.
        report_id: the report's own MsgId (at most 35 characters).
        created_at: when the report was made (timezone-aware).
        bank_bin: the simulated bank's BIN, named as the debtor agent.
    """
    lines = received.lines
    created = (f"<OrgnlCreDtTm>{escape(received.created_at)}</OrgnlCreDtTm>"
               if received.created_at else "")
    text = (
        _pain002_header(report_id, created_at, bank_bin)
        + f"<OrgnlGrpInfAndSts><OrgnlMsgId>{escape(received.msg_id)}</OrgnlMsgId>"
        f"<OrgnlMsgNmId>{ORIGINAL_MESSAGE_NAME}</OrgnlMsgNmId>{created}"
        f"<OrgnlNbOfTxs>{len(lines)}</OrgnlNbOfTxs>"
        f"<OrgnlCtrlSum>{sum(line.amount for line in lines)}</OrgnlCtrlSum>"
        f"<GrpSts>{_group_status(lines)}</GrpSts></OrgnlGrpInfAndSts>\n"
        + "".join(_pain002_block(block) for block in received.blocks)
        + "</CstmrPmtStsRpt>\n</Document>\n"
    )
    return text.encode("utf-8")


def write_pain002_rejection(
    msg_id: str, reason: str, detail: str, *, report_id: str, created_at: datetime,
    bank_bin: str,
) -> bytes:
    """Return a whole-file rejection: ``GrpSts`` RJCT with ``reason`` (FF01, DUPL).

    Args:
        msg_id: the MsgId the rejected file was submitted under.
        reason: the ISO status reason code.
        detail: a short explanation (cut to 105 characters).
        report_id: the report's own MsgId.
        created_at: when the report was made.
        bank_bin: the simulated bank's BIN.
    """
    text = (
        _pain002_header(report_id, created_at, bank_bin)
        + f"<OrgnlGrpInfAndSts><OrgnlMsgId>{escape(msg_id)}</OrgnlMsgId>"
        f"<OrgnlMsgNmId>{ORIGINAL_MESSAGE_NAME}</OrgnlMsgNmId><GrpSts>RJCT</GrpSts>"
        f"{_reason_xml(reason, detail)}</OrgnlGrpInfAndSts>\n"
        "</CstmrPmtStsRpt>\n</Document>\n"
    )
    return text.encode("utf-8")


def _camt054(notification_id: str, created_at: datetime, account: str, entries: str) -> bytes:
    stamp = _timestamp(created_at)
    text = (
        f'{_PROLOG}<Document xmlns="{CAMT054_NAMESPACE}">\n<BkToCstmrDbtCdtNtfctn>\n'
        f"<GrpHdr><MsgId>{escape(notification_id)}</MsgId><CreDtTm>{stamp}</CreDtTm></GrpHdr>\n"
        f"<Ntfctn><Id>{escape(notification_id)}</Id><CreDtTm>{stamp}</CreDtTm>"
        f"{_account_xml('Acct', account)}\n{entries}</Ntfctn>\n"
        "</BkToCstmrDbtCdtNtfctn>\n</Document>\n"
    )
    return text.encode("utf-8")


def _entry_head(amount: int, sign: str, booked: date, reference: str, sub_family: str) -> str:
    day = booked.isoformat()
    return (
        f'<Ntry><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
        f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>"
        f"<AcctSvcrRef>{escape(reference)}</AcctSvcrRef>"
        f"<BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>ICDT</Cd><SubFmlyCd>{sub_family}</SubFmlyCd>"
        "</Fmly></Domn></BkTxCd>"
    )


def _refs(msg_id: str, reference: str, end_to_end_id: str) -> str:
    return (f"<Refs><MsgId>{escape(msg_id)}</MsgId><AcctSvcrRef>{escape(reference)}"
            f"</AcctSvcrRef><EndToEndId>{escape(end_to_end_id)}</EndToEndId></Refs>")


def _booked_entry(msg_id: str, line: StatusLine, booked: date) -> str:
    return (
        _entry_head(line.amount, "DBIT", booked, line.bank_reference, "DMCT")
        + "<NtryDtls><TxDtls>"
        + _refs(msg_id, line.bank_reference, line.end_to_end_id)
        + f'<Amt Ccy="VND">{line.amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd>'
        f"<RltdPties>{_party_xml('Cdtr', line.creditor_name)}"
        f"{_account_xml('CdtrAcct', line.account)}</RltdPties>"
        "</TxDtls></NtryDtls></Ntry>\n"
    )


def write_camt054_booked(
    received: ReceivedFile, *, notification_id: str, created_at: datetime, booking_date: date
) -> bytes | None:
    """Return the notification of the accepted transactions of a file, booked as settled.

    Args:
        received: the file and the bank's decisions.
        notification_id: the notification's MsgId and Ntfctn Id.
        created_at: when the notification was made.
        booking_date: the business date the payments were booked on.

    Returns:
        The file, or ``None`` when no transaction was accepted (nothing to notify).
    """
    accepted = [line for line in received.lines if line.decision.accepted]
    if not accepted:
        return None
    entries = "".join(_booked_entry(received.msg_id, line, booking_date) for line in accepted)
    return _camt054(notification_id, created_at, received.debtor_account, entries)


def write_camt054_return(
    msg_id: str, line: StatusLine, reason: str, *, debtor_account: str, return_reference: str,
    notification_id: str, created_at: datetime, booking_date: date,
) -> bytes:
    """Return the notification of a settled payment that came back (credit, RRTN, RtrInf).

    Args:
        msg_id: the MsgId of the file the payment was in.
        line: the payment (its amount, account, EndToEndId).
        reason: the ISO return reason code, e.g. AC04.
        debtor_account: the disbursement account the money returns to.
        return_reference: the bank's reference for the return entry.
        notification_id: the notification's MsgId and Ntfctn Id.
        created_at: when the notification was made.
        booking_date: the business date the return was booked on.
    """
    entry = (
        _entry_head(line.amount, "CRDT", booking_date, return_reference, "RRTN")
        + "<NtryDtls><TxDtls>"
        + _refs(msg_id, return_reference, line.end_to_end_id)
        + f'<Amt Ccy="VND">{line.amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        f"<RltdPties>{_party_xml('Dbtr', line.creditor_name)}"
        f"{_account_xml('DbtrAcct', line.account)}{_account_xml('CdtrAcct', debtor_account)}"
        f"</RltdPties><RtrInf><Rsn><Cd>{escape(reason)}</Cd></Rsn>"
        f"<AddtlInf>payment {escape(line.bank_reference)} returned</AddtlInf></RtrInf>"
        "</TxDtls></NtryDtls></Ntry>\n"
    )
    return _camt054(notification_id, created_at, debtor_account, entry)
