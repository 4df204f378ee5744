"""Parse, verify and match a 1,000,000-entry pain.002 and camt.054 against 1M instructions.

Run: ``python -m benchmarks.bench_reconcile [--count 1000000] [--service-count N]
[--no-service] [--keep] [--profile]``

Inputs (generated once and cached under ``benchmarks/out/``, not measured): for ``--count``
instructions (person ``n`` = 1..N, EndToEndId ``PENS202611-<n>``, one payment file), a
pain.002.001.12 status report with one ``TxInfAndSts`` per instruction (1 in 100 ``RJCT``
with AC04, AM04 or AC01, the rest ``ACCP``) and a camt.054.001.08 notification with one
``TxDtls`` per entry: a booked debit for every accepted payment plus, for 1 in 100, a later
credit returning it (sub-family RRTN, ``RtrInf`` AC04), so N entries in all. The XML is the
simulated bank's layout (``disburse.entry.banksim.returns``) written by a streaming template;
:func:`check_templates` proves the template byte-identical to the simulator's writers on a
small case before any file is generated. Each file has a detached Ed25519 signature from a
fixed benchmark key.

Measured, each in a child process of its own so that its peak RSS is its own:

1. ``parse``: ``parse_pain002`` / ``parse_camt054`` over the file stream (the size limit is
   raised to fit; whether the default limit would refuse the file is reported);
   baseline: bare ``lxml.etree.iterparse`` of the same file, keeping (EndToEndId, status)
   tuples, with ``elem.clear()`` and the earlier siblings deleted.
2. ``verify``: ``check_signature`` (Ed25519 over the exact bytes, as the service does);
   baseline: ``hashlib.sha256`` of the same bytes. Reading the file is not measured.
3. ``match``: ``iter_match_returns`` (``match_returns`` one decision at a time: the same
   decisions in the same order, counted as they come) of the parsed records against N
   ``InstructionView``s (parse and view building not measured, but in the peak RSS);
   baseline: a dict join on EndToEndId with the amount check.
4. ``service``: ``import_return_file`` (signature, raw copy, parse, store, match, apply,
   consequences, batch settlement) and the commit, on a SQLite database holding N submitted
   instructions, the pain.002 first and then the camt.054. ``--service-count`` runs it at a
   smaller size (its own files and database); ``--profile`` runs it under cProfile instead.

The targets (under 60 s and under 1 GiB for parse + verify + match of a file) are printed
as met or not; timings are never asserted.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import pstats
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lxml import etree  # type: ignore[import-untyped]  # no stubs installed
from sqlalchemy import insert

from bank_adapters.models import Bank, ReturnSource, Submission
from benchmarks.common import (
    OUT_DIR,
    BenchmarkError,
    StepResult,
    Stopwatch,
    audit_with_keyring,
    git_commit,
    machine,
    mib,
    peak_rss_bytes,
    run_child,
)
from beneficiaries.models import LOCALITY_VERSION_2025, Beneficiary, ListImport
from disburse.core.db import make_engine, make_session_factory
from disburse.core.keyring import Keyring
from disburse.core.signing import load_public_key_pem, public_key_pem
from disburse.core.uow import unit_of_work
from disburse.entry.banksim.decide import Decision, Outcome
from disburse.entry.banksim.returns import (
    CAMT054_NAMESPACE,
    PAIN002_NAMESPACE,
    PaymentBlock,
    ReceivedFile,
    StatusLine,
    write_camt054_booked,
    write_camt054_return,
    write_pain002_status,
)
from disburse.payments.models import Batch, Instruction, PaymentFile
from reconciliation.matching import InstructionState, InstructionView, iter_match_returns
from reconciliation.parsers import DEFAULT_MAX_BYTES
from reconciliation.parsers.camt import parse_camt054
from reconciliation.parsers.pain002 import parse_pain002
from reconciliation.parsers.xml_safety import XmlLimits
from reconciliation.records import ParseResult, ReturnRecord
from reconciliation.service import check_signature, import_return_file

MODULE = "benchmarks.bench_reconcile"
TARGET_SECONDS = 60.0
TARGET_PEAK_MIB = 1024.0
KINDS = ("pain002", "camt054")
BANK_BIN = "970436"
BINS = ("970436", "970415", "970418", "970405", "970422")
NAMES = ("Nguyễn Văn An", "Trần Thị Đào", "Lê Hữu Phúc", "Phạm Ngọc Lan", "Đặng Quốc Sơn")
MSG_ID = "VCB-PEN-202611-0001"
PMT_INF_ID = "VCB-PEN-202611-0001-B1"
DEBTOR_ACCOUNT = "0011000999999"
REJECT_SLOT, RETURN_SLOT = 37, 53
REJECT_REASONS = ("AC04", "AM04", "AC01")
RETURN_REASON = "AC04"
CREATED_AT = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
BOOKED = date(2026, 11, 25)
REQUESTED = date(2026, 11, 24)
INSERT_CHUNK = 20_000
#: A fixed key, so cached files and their signatures stay valid across runs.
BANK_KEY = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"bench-reconcile").digest())


# --- the synthetic answer key ---------------------------------------------------------------


def e2e(n: int) -> str:
    """The EndToEndId of instruction ``n``."""
    return f"PENS202611-{n:010d}"


def account(n: int) -> str:
    """Person ``n``'s account number (leading zeros kept)."""
    return f"{n:012d}"


def amount(n: int) -> int:
    """Instruction ``n``'s amount in dong."""
    return 3_000_000 + (n % 1000) * 1000


def line(n: int) -> StatusLine:
    """The bank's view of instruction ``n``: accepted, or rejected 1 in 100."""
    decision = (Decision(Outcome.REJECTED, REJECT_REASONS[(n // 100) % 3])
                if n % 100 == REJECT_SLOT else Decision(Outcome.ACCEPTED))
    return StatusLine(e2e(n), amount(n), f"{NAMES[n % 5]} {n}", account(n), decision,
                      f"VCB{n:012d}")


def is_returned(n: int) -> bool:
    """Whether instruction ``n`` is paid and then returned in the camt.054."""
    return n % 100 == RETURN_SLOT


# --- streaming writers in the simulator's layout (generation, not measured) ----------------


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _acct(tag: str, value: str) -> str:
    return f"<{tag}><Id><Othr><Id>{_esc(value)}</Id></Othr></Id></{tag}>"


def _status_xml(status: StatusLine) -> str:
    if status.decision.accepted:
        verdict = f"<TxSts>ACCP</TxSts><AcctSvcrRef>{status.bank_reference}</AcctSvcrRef>"
    else:
        verdict = (f"<TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>{status.decision.reason}</Cd>"
                   "</Rsn></StsRsnInf>")
    return (f"<TxInfAndSts><OrgnlEndToEndId>{status.end_to_end_id}</OrgnlEndToEndId>{verdict}"
            f'<OrgnlTxRef><Amt><InstdAmt Ccy="VND">{status.amount}</InstdAmt></Amt>'
            f"{_acct('CdtrAcct', status.account or '')}</OrgnlTxRef></TxInfAndSts>\n")


def write_pain002(out: IO[str], count: int) -> None:
    """Write the status report of instructions 1..count, one block, streaming."""
    accepted = sum(1 for n in range(1, count + 1) if n % 100 != REJECT_SLOT)
    status = "ACCP" if accepted == count else "RJCT" if accepted == 0 else "PART"
    total = sum(amount(n) for n in range(1, count + 1))
    stamp = CREATED_AT.isoformat()
    out.write(
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{PAIN002_NAMESPACE}">\n'
        f"<CstmrPmtStsRpt>\n<GrpHdr><MsgId>VCB-STS-{count}</MsgId><CreDtTm>{stamp}</CreDtTm>"
        f"<DbtrAgt><FinInstnId><ClrSysMmbId><MmbId>{BANK_BIN}</MmbId></ClrSysMmbId>"
        "</FinInstnId></DbtrAgt></GrpHdr>\n"
        f"<OrgnlGrpInfAndSts><OrgnlMsgId>{MSG_ID}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09"
        f"</OrgnlMsgNmId><OrgnlNbOfTxs>{count}</OrgnlNbOfTxs><OrgnlCtrlSum>{total}"
        f"</OrgnlCtrlSum><GrpSts>{status}</GrpSts></OrgnlGrpInfAndSts>\n"
        f"<OrgnlPmtInfAndSts><OrgnlPmtInfId>{PMT_INF_ID}</OrgnlPmtInfId><OrgnlNbOfTxs>{count}"
        f"</OrgnlNbOfTxs><OrgnlCtrlSum>{total}</OrgnlCtrlSum><PmtInfSts>{status}</PmtInfSts>\n")
    for n in range(1, count + 1):
        out.write(_status_xml(line(n)))
    out.write("</OrgnlPmtInfAndSts>\n</CstmrPmtStsRpt>\n</Document>\n")


def _entry_head(value: int, sign: str, reference: str, sub_family: str) -> str:
    day = BOOKED.isoformat()
    return (f'<Ntry><Amt Ccy="VND">{value}</Amt><CdtDbtInd>{sign}</CdtDbtInd>'
            f"<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt>"
            f"</ValDt><AcctSvcrRef>{reference}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly>"
            f"<Cd>ICDT</Cd><SubFmlyCd>{sub_family}</SubFmlyCd></Fmly></Domn></BkTxCd>")


def _refs(reference: str, end_to_end_id: str) -> str:
    return (f"<Refs><MsgId>{MSG_ID}</MsgId><AcctSvcrRef>{reference}</AcctSvcrRef>"
            f"<EndToEndId>{end_to_end_id}</EndToEndId></Refs>")


def booked_entry(status: StatusLine) -> str:
    """A settled payment: a booked debit naming the beneficiary's account."""
    return (_entry_head(status.amount, "DBIT", status.bank_reference, "DMCT")
            + "<NtryDtls><TxDtls>" + _refs(status.bank_reference, status.end_to_end_id)
            + f'<Amt Ccy="VND">{status.amount}</Amt><CdtDbtInd>DBIT</CdtDbtInd><RltdPties>'
            f"<Cdtr><Pty><Nm>{_esc(status.creditor_name)}</Nm></Pty></Cdtr>"
            f"{_acct('CdtrAcct', status.account or '')}</RltdPties></TxDtls></NtryDtls></Ntry>\n")


def return_entry(status: StatusLine, reference: str) -> str:
    """A payment coming back: a booked credit, sub-family RRTN, with ``RtrInf``."""
    return (_entry_head(status.amount, "CRDT", reference, "RRTN")
            + "<NtryDtls><TxDtls>" + _refs(reference, status.end_to_end_id)
            + f'<Amt Ccy="VND">{status.amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><RltdPties>'
            f"<Dbtr><Pty><Nm>{_esc(status.creditor_name)}</Nm></Pty></Dbtr>"
            f"{_acct('DbtrAcct', status.account or '')}{_acct('CdtrAcct', DEBTOR_ACCOUNT)}"
            f"</RltdPties><RtrInf><Rsn><Cd>{RETURN_REASON}</Cd></Rsn><AddtlInf>payment "
            f"{status.bank_reference} returned</AddtlInf></RtrInf></TxDtls></NtryDtls></Ntry>\n")


def _camt_open(notification_id: str) -> str:
    stamp = CREATED_AT.isoformat()
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<Document xmlns="{CAMT054_NAMESPACE}">\n'
            f"<BkToCstmrDbtCdtNtfctn>\n<GrpHdr><MsgId>{notification_id}</MsgId><CreDtTm>"
            f"{stamp}</CreDtTm></GrpHdr>\n<Ntfctn><Id>{notification_id}</Id><CreDtTm>{stamp}"
            f"</CreDtTm>{_acct('Acct', DEBTOR_ACCOUNT)}\n")


_CAMT_CLOSE = "</Ntfctn>\n</BkToCstmrDbtCdtNtfctn>\n</Document>\n"


def camt_entries(count: int) -> Iterator[str]:
    """The camt.054 entries: every accepted payment booked, then the returns."""
    for n in range(1, count + 1):
        status = line(n)
        if status.decision.accepted:
            yield booked_entry(status)
    for n in range(1, count + 1):
        if is_returned(n) and line(n).decision.accepted:
            yield return_entry(line(n), f"RTN{n:012d}")


def write_camt054(out: IO[str], count: int) -> None:
    """Write the notification of instructions 1..count, streaming."""
    out.write(_camt_open(f"VCB-NTF-{count}"))
    for entry in camt_entries(count):
        out.write(entry)
    out.write(_CAMT_CLOSE)


def check_templates() -> None:
    """Prove the streaming template byte-identical to the simulator's writers (small case).

    Raises:
        BenchmarkError: the template drifted from ``disburse.entry.banksim.returns``.
    """
    import io

    count = 160  # covers accepted, rejected (37, 137) and returned (53, 153) instructions
    lines = tuple(line(n) for n in range(1, count + 1))
    received = ReceivedFile(MSG_ID, None, DEBTOR_ACCOUNT, (PaymentBlock(PMT_INF_ID, lines),))
    ours = io.StringIO()
    write_pain002(ours, count)
    theirs = write_pain002_status(received, report_id=f"VCB-STS-{count}",
                                  created_at=CREATED_AT, bank_bin=BANK_BIN)
    booked = write_camt054_booked(received, notification_id="N1", created_at=CREATED_AT,
                                  booking_date=BOOKED)
    ours_booked = (_camt_open("N1") + "".join(booked_entry(s) for s in lines
                                              if s.decision.accepted) + _CAMT_CLOSE)
    returned = write_camt054_return(MSG_ID, line(53), RETURN_REASON,
                                    debtor_account=DEBTOR_ACCOUNT,
                                    return_reference=f"RTN{53:012d}", notification_id="N2",
                                    created_at=CREATED_AT, booking_date=BOOKED)
    ours_returned = _camt_open("N2") + return_entry(line(53), f"RTN{53:012d}") + _CAMT_CLOSE
    for name, mine, sim in (("pain.002", ours.getvalue(), theirs),
                            ("camt.054 booked", ours_booked, booked),
                            ("camt.054 return", ours_returned, returned)):
        if sim is None or mine.encode("utf-8") != sim:
            raise BenchmarkError(f"the {name} template differs from the simulator's writer")


def file_path(kind: str, count: int) -> Path:
    """The cache path of a generated return file."""
    return OUT_DIR / f"recon_{kind}_{count}.xml"


def signature_file(path: Path) -> Path:
    """The detached signature next to ``path``."""
    return path.with_name(path.name + ".sig")


def ensure_files(count: int) -> tuple[dict[str, Path], float | None]:
    """Generate (or reuse) both files and their signatures; return paths and seconds taken."""
    paths = {kind: file_path(kind, count) for kind in KINDS}
    if all(p.exists() and signature_file(p).exists() for p in paths.values()):
        return paths, None
    check_templates()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    with Stopwatch() as watch:
        for kind, path in paths.items():
            partial = path.with_suffix(".partial")
            with partial.open("w", encoding="utf-8", newline="\n",
                              buffering=4 * 1024 * 1024) as out:
                (write_pain002 if kind == "pain002" else write_camt054)(out, count)
            signature_file(path).write_bytes(BANK_KEY.sign(partial.read_bytes()))
            partial.replace(path)
    return paths, watch.seconds


# --- database set-up (not measured) ---------------------------------------------------------


def _migrate(url: str) -> None:
    from alembic import command

    from disburse.entry.migrate import alembic_config

    engine = make_engine(url)
    config = alembic_config(url)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    engine.dispose()


def _people(keyring: Keyring, start: int, stop: int, import_id: int,
            now: datetime) -> list[dict[str, Any]]:
    rows = []
    for n in range(start, stop):
        bank_bin = BANK_BIN if n % 2 else BINS[n % 5]
        rows.append({
            "id": n, "programme": "pension",
            "citizen_id_enc": keyring.encrypt("citizen_id", f"079{n:09d}"),
            "citizen_id_idx": f"{n:064x}", "full_name": f"{NAMES[n % 5]} {n}",
            "date_of_birth": date(1955, 1, 1), "gender": "male", "province_code": "79",
            "commune_code": f"{26734 + n % 40}", "locality_version": LOCALITY_VERSION_2025,
            "monthly_amount": amount(n), "channel": "bank", "bank_bin": bank_bin,
            "account_enc": keyring.encrypt("account_number", account(n)),
            "account_idx": keyring.blind_index("account_number", f"{bank_bin}:{account(n)}"),
            "status": "active", "review_flags": [], "source_import_id": import_id,
            "source_row": n + 1, "last_seen_import_id": import_id, "created_at": now,
            "updated_at": now, "version": 1})
    return rows


def _instructions(people: list[dict[str, Any]], batch_id: int, file_id: int
                  ) -> list[dict[str, Any]]:
    return [{
        "id": p["id"], "batch_id": batch_id, "beneficiary_id": p["id"], "programme": "pension",
        "period": "2026-11", "seq": p["id"], "amount": p["monthly_amount"],
        "base_amount": p["monthly_amount"], "arrears_amount": 0, "channel": "bank",
        "route": "vcb", "bank_bin": p["bank_bin"], "account_enc": p["account_enc"],
        "account_idx": p["account_idx"], "creditor_name": p["full_name"],
        "province_code": "79", "commune_code": p["commune_code"],
        "end_to_end_id": e2e(p["id"]), "state": "instructed", "payment_file_id": file_id,
        "created_at": p["created_at"]} for p in people]


def build_database(workdir: Path, count: int) -> tuple[str, Path, float]:
    """A migrated SQLite file with the bank and ``count`` submitted instructions.

    Returns:
        The URL, the keyring directory and the seconds the bulk inserts took.
    """
    url = f"sqlite:///{workdir / 'reconcile.sqlite3'}"
    _migrate(url)
    key_dir = workdir / "keys"
    keyring = Keyring.init(key_dir)
    audit_with_keyring(key_dir)
    engine = make_engine(url)
    now = datetime.now(UTC)
    total = sum(amount(n) for n in range(1, count + 1))
    with Stopwatch() as watch, engine.begin() as connection:
        connection.execute(insert(Bank).values(
            bin=BANK_BIN, name="Vietcombank", route="vcb", profile={}, created_at=now,
            public_key_pem=public_key_pem(BANK_KEY.public_key()).decode()))
        import_id = connection.execute(insert(ListImport).values(
            programme="pension", file_name="bench.csv", file_sha256="0" * 64, file_size=0,
            actor="benchmark", at=now, accept_valid=True, end_missing=False,
            outcome="applied", counts={}).returning(ListImport.id)).scalar_one()
        batch_id = connection.execute(insert(Batch).values(
            programme="pension", period="2026-11", province_code="79", state="submitted",
            preparer="lan", requested_execution_date=REQUESTED, count=count, total=total,
            content_hash="1" * 64, exclusions={}, created_at=now, updated_at=now,
            version=1).returning(Batch.id)).scalar_one()
        file_id = connection.execute(insert(PaymentFile).values(
            batch_id=batch_id, route="vcb", part_no=1, layout="pain001", msg_id=MSG_ID,
            file_name=f"{MSG_ID}.xml", sha256="2" * 64, size=1, nb_of_txs=count,
            ctrl_sum=total, batch_hash="1" * 64, key_id="k1", created_at=now,
        ).returning(PaymentFile.id)).scalar_one()
        # the bank's returns apply only to what was submitted to it
        connection.execute(insert(Submission).values(
            payment_file_id=file_id, batch_id=batch_id, route="vcb", msg_id=MSG_ID,
            state="accepted", attempts=1, created_at=now, updated_at=now))
        for start in range(1, count + 1, INSERT_CHUNK):
            people = _people(keyring, start, min(start + INSERT_CHUNK, count + 1), import_id,
                             now)
            connection.execute(insert(Beneficiary), people)
            connection.execute(insert(Instruction), _instructions(people, batch_id, file_id))
    engine.dispose()
    return url, key_dir, watch.seconds


# --- child steps ----------------------------------------------------------------------------


def own_peak_rss_mib() -> float:
    """This process's own peak RSS in MiB (see ``common.peak_rss_bytes``)."""
    return mib(peak_rss_bytes())


def _finish(name: str, watch: Stopwatch, rows: int, **detail: Any) -> StepResult:
    return StepResult(name, watch.seconds, watch.cpu_seconds, rows, own_peak_rss_mib(),
                      detail)


def parse_file(kind: str, path: Path) -> ParseResult:
    """Parse with the project parser, the size limit raised to fit the file."""
    limits = XmlLimits(max_bytes=max(DEFAULT_MAX_BYTES, path.stat().st_size))
    parser = parse_pain002 if kind == "pain002" else parse_camt054
    with path.open("rb") as stream:
        return parser(stream, filename=path.name, limits=limits)


def step_parse(kind: str, path: Path) -> StepResult:
    """Measure the project parser over the file stream."""
    with Stopwatch() as watch:
        records, errors = parse_file(kind, path)
    size = path.stat().st_size
    return _finish(f"parse {kind}", watch, len(records), errors=len(errors),
                   size_mib=round(mib(size), 1),
                   over_default_limit=size > DEFAULT_MAX_BYTES)


def _baseline_pain002(path: Path) -> list[tuple[str, str]]:
    ns = f"{{{PAIN002_NAMESPACE}}}"
    found: list[tuple[str, str]] = []
    for _event, elem in etree.iterparse(str(path), events=("end",), tag=f"{ns}TxInfAndSts"):
        found.append((elem.findtext(f"{ns}OrgnlEndToEndId"), elem.findtext(f"{ns}TxSts")))
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return found


def _baseline_camt054(path: Path) -> list[tuple[str, str]]:
    ns = f"{{{CAMT054_NAMESPACE}}}"
    e2e_path = f"{ns}NtryDtls/{ns}TxDtls/{ns}Refs/{ns}EndToEndId"
    return_path = f"{ns}NtryDtls/{ns}TxDtls/{ns}RtrInf"
    found: list[tuple[str, str]] = []
    for _event, elem in etree.iterparse(str(path), events=("end",), tag=f"{ns}Ntry"):
        status = "RTRN" if elem.find(return_path) is not None else elem.findtext(
            f"{ns}Sts/{ns}Cd")
        found.append((elem.findtext(e2e_path), status))
        elem.clear()
        while elem.getprevious() is not None:
            del elem.getparent()[0]
    return found


def step_baseline_parse(kind: str, path: Path) -> StepResult:
    """Bare lxml iterparse of the same file, keeping (EndToEndId, status) pairs."""
    with Stopwatch() as watch:
        found = (_baseline_pain002 if kind == "pain002" else _baseline_camt054)(path)
    return _finish(f"baseline iterparse {kind}", watch, len(found))


def step_verify(kind: str, path: Path, baseline: bool) -> StepResult:
    """Ed25519 over the file's bytes as the service checks it, or SHA-256 of the bytes."""
    data = path.read_bytes()
    signature = signature_file(path).read_bytes()
    key = load_public_key_pem(public_key_pem(BANK_KEY.public_key()))
    with Stopwatch() as watch:
        verdict = (hashlib.sha256(data).hexdigest() if baseline
                   else check_signature(data, signature, key).value)
    name = f"baseline sha256 {kind}" if baseline else f"verify {kind} (Ed25519)"
    # Records/s means entries/s here: the file holds ``count`` entries.
    count = int(path.stem.rsplit("_", 1)[1])
    return _finish(name, watch, count, verdict=verdict, size_mib=round(mib(len(data)), 1))


def views(count: int) -> list[InstructionView]:
    """The instructions as matching sees them, all still ``instructed``."""
    return [InstructionView(n, e2e(n), MSG_ID, amount(n), account(n),
                            BANK_BIN if n % 2 else BINS[n % 5], InstructionState.INSTRUCTED,
                            None, REQUESTED) for n in range(1, count + 1)]


def _dict_join(records: list[ReturnRecord], instructions: list[InstructionView]
               ) -> dict[str, int]:
    by_e2e = {v.end_to_end_id: v for v in instructions}
    matched: list[tuple[int, str]] = []
    counts = {"unknown": 0, "amount_mismatch": 0}
    for record in records:
        view = by_e2e.get(record.end_to_end_id or "")
        if view is None:
            counts["unknown"] += 1
        elif record.amount is not None and record.amount != view.amount:
            counts["amount_mismatch"] += 1
        else:
            matched.append((view.instruction_id, record.status.value))
    return {**counts, "matched": len(matched)}


def step_match(kind: str, path: Path, count: int, baseline: bool) -> StepResult:
    """``iter_match_returns`` (or a dict join) of the parsed records against ``count`` views."""
    records, _errors = parse_file(kind, path)
    instructions = views(count)
    with Stopwatch() as watch:
        if baseline:
            summary: dict[str, Any] = _dict_join(records, instructions)
        else:
            # The same decisions as match_returns, in the same order, counted as they come
            # rather than held in a list of a million.
            summary = {}
            for decision in iter_match_returns(records, instructions):
                label = getattr(decision, "kind", None)
                key = label.value if label is not None else "apply"
                summary[key] = summary.get(key, 0) + 1
    name = f"baseline dict join {kind}" if baseline else f"match {kind}"
    return _finish(name, watch, len(records), outcome=summary)


def run_service(url: str, key_dir: Path, store_dir: Path, path: Path
                ) -> tuple[Stopwatch, dict[str, Any]]:
    """Import one file through ``import_return_file`` in one unit of work, commit included."""
    data = path.read_bytes()
    signature = signature_file(path).read_bytes()
    keyring = Keyring.load(key_dir)
    audit_with_keyring(key_dir)
    factory = make_session_factory(make_engine(url))
    with Stopwatch() as watch, unit_of_work(factory) as session:
        report = import_return_file(session, keyring, data=data, file_name=path.name,
                                    bank_bin=BANK_BIN, signature=signature,
                                    source=ReturnSource.CLI, actor="benchmark",
                                    store_dir=store_dir)
    outcome = report.reconciliation
    return watch, {"outcome": report.outcome.value, "signature": report.signature.value,
                   "records": outcome.records, "stored": outcome.stored,
                   "parse_errors": outcome.parse_errors, "events": outcome.events,
                   "exceptions": outcome.exception_kinds, "batches": outcome.batches}


def step_service(kind: str, url: str, key_dir: Path, store_dir: Path, path: Path
                 ) -> StepResult:
    """Measure the full service path for one file."""
    watch, summary = run_service(url, key_dir, store_dir, path)
    return _finish(f"service {kind} (SQLite)", watch, summary["records"], summary=summary)


def run_step(args: argparse.Namespace) -> None:
    """Child mode: run one step and save its result to ``args.result``."""
    kind, path = args.kind, Path(args.file)
    step = args.step
    if step == "parse":
        result = step_parse(kind, path)
    elif step == "baseline-parse":
        result = step_baseline_parse(kind, path)
    elif step in ("verify", "baseline-verify"):
        result = step_verify(kind, path, step == "baseline-verify")
    elif step in ("match", "baseline-match"):
        result = step_match(kind, path, args.count, step == "baseline-match")
    else:
        result = step_service(kind, args.url, Path(args.key_dir), Path(args.store_dir), path)
    result.save(Path(args.result))


# --- the parent: orchestrate, print, record -----------------------------------------------


def _child(step: str, kind: str, args: argparse.Namespace, extra: list[str],
           workdir: Path) -> StepResult | None:
    print(f"  running {step} {kind} ...", flush=True)
    try:
        return run_child(MODULE, ["--step", step, "--kind", kind, *extra], workdir=workdir,
                         timeout=args.timeout)
    except BenchmarkError as error:
        print(f"  {step} {kind} FAILED: {error}", file=sys.stderr, flush=True)
        return None


Pair = tuple[StepResult | None, StepResult | None]


def print_table(pairs: dict[str, dict[str, Pair]], service: dict[str, StepResult | None]
                ) -> None:
    """Print every step with throughput, CPU, peak RSS and its ratio to its baseline."""
    print(f"\n{'step':<34}{'seconds':>9}{'CPU s':>8}{'records/s':>12}{'peak MiB':>10}"
          f"{'ratio':>7}")
    for kind, steps in pairs.items():
        for project, baseline in steps.values():
            for result in (baseline, project):
                if result is None:
                    continue
                ratio = (f"{project.seconds / baseline.seconds:.1f}"
                         if result is project and project and baseline and baseline.seconds
                         else "")
                print(f"{result.name:<34}{result.seconds:>9.2f}{result.cpu_seconds:>8.2f}"
                      f"{result.rows_per_second:>12,.0f}{result.peak_rss_mib:>10.0f}"
                      f"{ratio:>7}")
        chain = [project for project, _ in steps.values() if project is not None]
        if len(chain) == len(steps):
            seconds = sum(r.seconds for r in chain)
            peak = max(r.peak_rss_mib for r in chain)
            met = ("met" if seconds < TARGET_SECONDS else "NOT met",
                   "met" if peak < TARGET_PEAK_MIB else "NOT met")
            print(f"{'  = parse+verify+match ' + kind:<34}{seconds:>9.2f}"
                  f"{sum(r.cpu_seconds for r in chain):>8.2f}{'':>12}{peak:>10.0f}"
                  f"   time < {TARGET_SECONDS:.0f} s: {met[0]}; "
                  f"memory < {TARGET_PEAK_MIB:.0f} MiB: {met[1]}")
    for result in service.values():
        if result is None:
            continue
        print(f"{result.name:<34}{result.seconds:>9.2f}{result.cpu_seconds:>8.2f}"
              f"{result.rows_per_second:>12,.0f}{result.peak_rss_mib:>10.0f}")
        print(f"    {result.detail['summary']}")


def _record(args: argparse.Namespace, setup: dict[str, Any],
            results: list[StepResult]) -> Path:
    document = {"count": args.count, "service_count": args.service_count,
                "commit": git_commit(), "setup": setup, "machine_at_end": machine(),
                "steps": [{**vars(r), "rows_per_second": r.rows_per_second} for r in results]}
    target = OUT_DIR / f"reconcile-{args.count}-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
    target.write_text(json.dumps(document, indent=1, default=str), encoding="utf-8")
    return target


def profile(args: argparse.Namespace) -> None:
    """Import both files through the service in this process under cProfile; print hotspots."""
    count = args.service_count
    paths, _ = ensure_files(count)
    workdir = Path(tempfile.mkdtemp(prefix="disburse-bench-reconcile."))
    try:
        url, key_dir, _seconds = build_database(workdir, count)
        # CPU time, not wall time: other work on a shared machine must not skew the shares.
        profiler = cProfile.Profile(time.process_time)
        for kind in KINDS:
            profiler.enable()
            watch, summary = run_service(url, key_dir, workdir / "returns", paths[kind])
            profiler.disable()
            print(f"profiled service {kind}: {watch.seconds:.1f} s wall, "
                  f"{watch.cpu_seconds:.1f} s CPU (with profiler overhead), {summary}")
        stats_path = OUT_DIR / f"profile-reconcile-{count}.pstats"
        profiler.dump_stats(stats_path)
        stats = pstats.Stats(profiler).strip_dirs()
        stats.sort_stats("tottime").print_stats(30)
        stats.sort_stats("cumulative").print_stats(45)
        print(f"stats saved to {stats_path}")
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure_files(args: argparse.Namespace, paths: dict[str, Path], workdir: Path
                   ) -> dict[str, dict[str, Pair]]:
    pairs: dict[str, dict[str, Pair]] = {}
    for kind in KINDS:
        common = ["--file", str(paths[kind]), "--count", str(args.count)]
        pairs[kind] = {
            step: (_child(step, kind, args, common, workdir),
                   _child(f"baseline-{step}", kind, args, common, workdir))
            for step in ("parse", "verify", "match")}
    return pairs


def _measure_service(args: argparse.Namespace, workdir: Path, setup: dict[str, Any]
                     ) -> dict[str, StepResult | None]:
    paths, generated = ensure_files(args.service_count)
    url, key_dir, seconds = build_database(workdir, args.service_count)
    setup["service_files_generated_seconds"] = generated
    setup["service_insert_seconds"] = seconds
    print(f"database: {args.service_count:,} submitted instructions inserted in "
          f"{seconds:.1f} s (not measured)", flush=True)
    extra = ["--url", url, "--key-dir", str(key_dir), "--store-dir", str(workdir / "returns")]
    # In arrival order: the status report first, then the booking notification.
    return {kind: _child("service", kind, args, ["--file", str(paths[kind]), *extra], workdir)
            for kind in KINDS}


def run_all(args: argparse.Namespace) -> None:
    """Parent mode: generate (cached), measure each step in a child, print, record."""
    paths, generated = ensure_files(args.count)
    made = f"generated in {generated:.1f} s" if generated is not None else "cached"
    sizes = {kind: f"{mib(p.stat().st_size):.0f} MiB" for kind, p in paths.items()}
    print(f"files: {sizes} ({args.count:,} entries each, {made}); machine: {machine()}",
          flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="disburse-bench-reconcile."))
    setup: dict[str, Any] = {"generated_seconds": generated, "machine_at_start": machine()}
    try:
        pairs = _measure_files(args, paths, workdir)
        service = {} if args.no_service else _measure_service(args, workdir, setup)
        print_table(pairs, service)
        results = [r for steps in pairs.values() for pair in steps.values() for r in pair
                   if r is not None] + [r for r in service.values() if r is not None]
        print(f"machine at the end: {machine()}")
        print(f"\nrecorded in {_record(args, setup, results)}")
    finally:
        if args.keep:
            print(f"kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse the command line (the ``--step`` family is for the child processes)."""
    parser = argparse.ArgumentParser(prog=f"python -m {MODULE}",
                                     description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--service-count", type=int, default=None,
                        help="instructions for the service step (default: --count)")
    parser.add_argument("--no-service", action="store_true", help="skip the service step")
    parser.add_argument("--timeout", type=float, default=3600.0, help="per step, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--profile", action="store_true",
                        help="profile the service path in-process with cProfile instead")
    child = parser.add_argument_group("child process (internal)")
    child.add_argument("--step", choices=("parse", "baseline-parse", "verify",
                                          "baseline-verify", "match", "baseline-match",
                                          "service"))
    child.add_argument("--kind", choices=KINDS)
    child.add_argument("--file")
    child.add_argument("--url")
    child.add_argument("--key-dir")
    child.add_argument("--store-dir")
    child.add_argument("--result")
    args = parser.parse_args(argv)
    if args.service_count is None:
        args.service_count = args.count
    return args


def main(argv: list[str] | None = None) -> None:
    """Entry point: parent mode by default, one step with ``--step``."""
    args = parse_args(argv)
    if args.step:
        run_step(args)
    elif args.profile:
        profile(args)
    else:
        run_all(args)


if __name__ == "__main__":
    main()
