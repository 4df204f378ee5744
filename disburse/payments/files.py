"""Writing a batch's payment files from the database and signing them.

``write_batch_files`` turns an approved batch into one file per route (several parts when the
route's profile limits transactions per file): pain.001.001.09, the bank's CSV layout, or the
post-office cash list. What was approved is what is written: the batch's content hash must
equal the hash the current approval pinned, and every file's NbOfTxs/CtrlSum come from database
aggregates that must add up to the approved count and total (invariants 3 and 4).

Instructions are streamed in ``seq`` order with ``yield_per`` (accounts decrypted one row at a
time), never loaded as a whole. When the routes follow each other in seq order (as a build
orders them), the content hash is taken from the very rows being written, and every file is
written under a temporary name first: only when the hash equals the approval's are the files
moved into place and signed. Otherwise the hash is checked up front, before any file.

Files are deterministic: MsgId ``B<batch>-<route>-P<part>`` and CreDtTm the approval time, so a
re-write gives byte-identical files and only the manifest's signing time changes; a re-write
that differs from the recorded SHA-256 is refused. Checking a file back is ``file_checks``.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import groupby, islice, pairwise
from pathlib import Path
from typing import Any, Final, Literal, cast

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary
from beneficiaries.programmes import get_programme
from beneficiaries.queries import mask
from beneficiaries.reference import load_banks
from disburse.core import signing
from disburse.core.clock import utcnow
from disburse.core.errors import Conflict, DomainError, ValidationFailed
from disburse.core.keyring import Keyring
from disburse.core.private_files import make_private, open_private, private_dir, replace_durably
from disburse.core.signing import SignatureAlg
from disburse.core.signing_keys import load_signing_key
from disburse.payments.approval import check_approved, current_approval, live_approval
from disburse.payments.file_checks import verify_payment_file
from disburse.payments.lifecycle import BatchAction, next_state
from disburse.payments.models import Approval, Batch, Instruction, PaymentFile
from disburse.payments.payment_files import manifest as file_manifest
from disburse.payments.payment_files.cash_list import write_cash_list
from disburse.payments.payment_files.csv_layout import write_bank_csv
from disburse.payments.payment_files.model import FileHeader, PaymentLine, WriteResult
from disburse.payments.payment_files.pain001 import write_pain001
from disburse.payments.payment_files.parse import validate_pain001
from disburse.payments.payment_files.split import derive_msg_id, header_for_part
from disburse.payments.routing import CASH_LAYOUT, Route, RoutingConfig
from disburse.payments.state import (
    DIGEST_COLUMNS,
    DigestBuilder,
    apply_action,
    load_for_update,
    stream_rows,
)

#: Rows fetched per round trip while streaming instructions.
STREAM_CHUNK: Final = 5000
_EXTENSIONS: Final = {"pain001": ".xml", "csv": ".csv", CASH_LAYOUT: ".xlsx"}
_CASH_ACCOUNT: Final = "-"  # cash lines have no account; the list needs a placeholder
_NO_LIMIT: Final = 2**62

_WIDTH: Final = len(DIGEST_COLUMNS)  # the streamed row: the digest's columns, then the rest

class RewriteMismatch(Conflict):
    """A re-written payment file differs from the one recorded when the files were first written.

    The recorded file may already be with the bank, so nothing is replaced.
    """

    code = "payment_file_rewrite_mismatch"
    title = "Re-written payment file differs from the recorded one"
    title_vi = "Tệp chi trả ghi lại khác với tệp đã lưu"


class PaymentFileInvalid(DomainError):
    """A written pain.001 does not validate against the official XSD (a writer bug)."""

    status = 500
    code = "payment_file_invalid"
    title = "Payment file fails its schema"
    title_vi = "Tệp chi trả không đúng lược đồ XSD"


@dataclass(frozen=True, slots=True)
class FilePlan:
    """One file to write: a route's part with its database count, sum and seq range."""

    route: str
    part_no: int
    nb_of_txs: int
    ctrl_sum: int
    first_seq: int
    last_seq: int


@dataclass(frozen=True, slots=True)
class _Written:
    plan: FilePlan
    layout: str
    header: FileHeader
    path: Path
    temporary: Path
    result: WriteResult
    alg: SignatureAlg

    @property
    def msg_id(self) -> str:
        """The file's MsgId."""
        return self.header.msg_id


@dataclass
class _Run:
    """What writing one batch's files needs, shared by every part."""

    session: Session
    keyring: Keyring
    batch: Batch
    approval: Approval
    routing: RoutingConfig
    key_dir: Path
    out_dir: Path
    signed_at: datetime
    validate: bool
    recorded: dict[tuple[str, int], PaymentFile]
    #: hashes the rows as they are written, when that is the batch's seq order (else None)
    digest: DigestBuilder | None
    created: list[Path] = field(default_factory=list)
    keys: dict[SignatureAlg, tuple[signing.PrivateKey, str]] = field(default_factory=dict)

    def key(self, alg: SignatureAlg) -> tuple[signing.PrivateKey, str]:
        """Return the signing key for ``alg``, opened once per run."""
        if alg not in self.keys:
            self.keys[alg] = load_signing_key(self.key_dir, self.keyring, alg)
        return self.keys[alg]


def write_batch_files(
    session: Session, keyring: Keyring, batch_id: int, *, out_dir: Path, actor: str,
    routing: RoutingConfig, key_dir: Path, now: datetime | None = None, validate: bool = True,
) -> list[PaymentFile]:
    """Write, sign and record the payment files of an approved batch (or re-write them).

    Args:
        session: the caller's transaction; only flushed.
        keyring: opens the accounts and the signing keys.
        batch_id: the batch, ``approved`` or ``files_ready``.
        out_dir: where the files, their ``.sig`` and ``.manifest.json`` go (created if needed).
        actor: recorded in the audit trail.
        routing: routes with their bank profiles, funding accounts and initiating party.
        key_dir: the key directory holding the signing keys.
        now: the signing time written in the manifests (default: now).
        validate: check each pain.001 against the official XSD before signing it.

    Returns:
        The ``PaymentFile`` rows, ordered by route and part.

    Raises:
        InvalidTransition: the batch is in no state to have files.
        Conflict: no valid approval matches the batch's current content, or the totals do not
            add up to the approved figures (nothing is kept).
        RewriteMismatch: a re-written file differs from the recorded one.
    """
    batch = load_for_update(session, batch_id)
    next_state(batch.state, BatchAction.WRITE_FILES)  # refuse before touching any file
    approval = live_approval(session, batch.id)
    if approval is None:
        raise Conflict(f"batch {batch.id} has no valid approval")
    plans = plan_files(session, batch.id, routing)
    streamed = _in_seq_order(plans)
    if not streamed:  # the rows cannot be hashed as they are written: check the hash first
        _approved_content(session, batch)
    count, total = sum(p.nb_of_txs for p in plans), sum(p.ctrl_sum for p in plans)
    if (count, total) != (approval.count, approval.total):
        _approved_content(session, batch)  # a changed content is reported as such
        _check_totals("the database aggregates per file", count, total, approval)
    recorded = _recorded(session, batch.id)
    if recorded and set(recorded) != {(p.route, p.part_no) for p in plans}:
        raise RewriteMismatch(f"batch {batch.id} has recorded files for "
                              f"{sorted(recorded)}, its content now gives "
                              f"{[(p.route, p.part_no) for p in plans]}")
    private_dir(out_dir)  # files name and pay people: 0700 here, 0600 each (``_publish``)
    run = _Run(session, keyring, batch, approval, routing, key_dir, out_dir,
               now or utcnow(), validate, recorded, DigestBuilder() if streamed else None)
    try:
        written = [w for route, group in groupby(plans, key=lambda p: p.route)
                   for w in _write_route(run, routing.route(route), route, list(group))]
        if run.digest is not None:  # what was written is what was approved, or nothing is
            check_approved(approval, run.digest.result())
        _check_totals("the files written", sum(w.result.count for w in written),
                      sum(w.result.total for w in written), approval)
        for w in written:
            _publish(run, w)
        files = list(recorded.values()) if recorded else _record(run, written)
    except BaseException:
        for path in run.created:
            path.unlink(missing_ok=True)
        raise
    apply_action(session, batch, BatchAction.WRITE_FILES, actor=actor,
                 detail={"files": [f.file_name for f in files], "rewrite": bool(recorded),
                         "batch_hash": approval.batch_hash})
    return sorted(files, key=lambda f: (f.route, f.part_no))


def _in_seq_order(plans: list[FilePlan]) -> bool:
    """Tell whether writing the parts in turn streams the batch in seq order.

    Parts come route by route, each in seq order; their concatenation is the batch's seq order
    (the order its hash is taken in) when each part starts after the previous one ended.
    """
    return all(before.last_seq < after.first_seq for before, after in pairwise(plans))


def _approved_content(session: Session, batch: Batch) -> Approval:
    """Return the batch's live approval, checked against its current content.

    Raises:
        Conflict: there is no live approval, or the content no longer matches it.
    """
    approval = current_approval(session, batch.id)
    if approval is None:
        raise Conflict(f"batch {batch.id} has no valid approval")
    return approval


def plan_files(session: Session, batch_id: int, routing: RoutingConfig) -> list[FilePlan]:
    """Return the files a batch needs: per route, parts of at most ``max_tx_per_file``.

    Counts, sums and seq ranges are database aggregates over the instructions, numbered by
    ``row_number()`` in seq order, so each part's header is known before it is written.
    """
    routes = session.execute(select(Instruction.route).where(Instruction.batch_id == batch_id)
                             .distinct().order_by(Instruction.route)).scalars().all()
    plans: list[FilePlan] = []
    for route in routes:
        limit = routing.route(route).profile.max_tx_per_file or _NO_LIMIT
        number = func.row_number().over(order_by=Instruction.seq)
        numbered = (select(Instruction.seq, Instruction.amount,
                           ((number - 1) // limit).label("part"))
                    .where(Instruction.batch_id == batch_id, Instruction.route == route)
                    .subquery())
        rows = session.execute(
            select(numbered.c.part, func.count(), func.sum(numbered.c.amount),
                   func.min(numbered.c.seq), func.max(numbered.c.seq))
            .group_by(numbered.c.part).order_by(numbered.c.part)).all()
        plans += [FilePlan(route, int(part) + 1, int(count), int(total), int(first), int(last))
                  for part, count, total, first, last in rows]
    return plans


def _check_totals(what: str, count: int, total: int, approval: Approval) -> None:
    if (count, total) != (approval.count, approval.total):
        raise Conflict(f"{what} hold {count} instructions, {total} dong; approval "
                       f"{approval.id} is for {approval.count}, {approval.total} dong")


def _recorded(session: Session, batch_id: int) -> dict[tuple[str, int], PaymentFile]:
    rows = session.execute(select(PaymentFile).where(PaymentFile.batch_id == batch_id)).scalars()
    return {(row.route, row.part_no): row for row in rows}


# --- one route ------------------------------------------------------------------------------


def _write_route(run: _Run, route: Route, name: str, plans: list[FilePlan]) -> list[_Written]:
    """Write a route's parts from one stream of its instructions, in seq order."""
    lines = _route_lines(run, route, name)
    base = _header(run, name)
    written = [_write_part(run, route, header_for_part(base, plan.part_no), plan,
                           islice(lines, plan.nb_of_txs)) for plan in plans]
    extra = next(lines, None)  # also ends the generator, closing its cursor
    if extra is not None:
        raise Conflict(f"route {name} streamed more instructions than planned "
                       f"(first extra: {extra.end_to_end_id})")
    return written


def msg_id_base(batch_id: int, route: str) -> str:
    """Return the MsgId base of a batch's route; parts add ``-P001`` (see ``derive_msg_id``)."""
    return f"B{batch_id:08d}-{route}"


def msg_id_for(batch_id: int, route: str, part_no: int) -> str:
    """Return the deterministic MsgId of one part: ``B00000042-vcb-P001`` (at most 35)."""
    return derive_msg_id(msg_id_base(batch_id, route), part_no)


def _header(run: _Run, route: str) -> FileHeader:
    funding = run.routing.funding_for(run.batch.programme)
    bank = load_banks().get(funding.bin)
    purpose = get_programme(run.batch.programme).purpose_code
    return FileHeader(
        msg_id=msg_id_base(run.batch.id, route),
        created_at=run.approval.at,  # not now: a re-write must give the same bytes
        initiating_party_name=run.routing.initiating_name,
        initiating_party_id=run.routing.initiating_id,
        debtor_name=funding.debtor_name, debtor_account=funding.account, debtor_bin=funding.bin,
        debtor_bic=bank.bic if bank else None,
        requested_execution_date=run.batch.requested_execution_date,
        batch_id=str(run.batch.id), payment_info_id=f"PI{run.batch.id:08d}-{route}",
        category_purpose="PENS" if purpose == "PENS" else "SSBE",
    )


def _route_lines(run: _Run, route: Route, name: str) -> Iterator[PaymentLine]:
    """Stream the route's instructions as checked ``PaymentLine`` objects, in seq order.

    Each row holds the digest's columns first: ``run.digest`` hashes them as they stream.
    """
    cash = route.layout == CASH_LAYOUT
    query = select(*DIGEST_COLUMNS, Instruction.account_enc)
    if cash:  # the post office checks the recipient's card: join for the (masked) CCCD
        query = query.add_columns(Beneficiary.citizen_id_enc, Beneficiary.phone_enc).join(
            Beneficiary, Beneficiary.id == Instruction.beneficiary_id)
    query = (query.where(Instruction.batch_id == run.batch.id, Instruction.route == name)
             .order_by(Instruction.seq))
    programme = get_programme(run.batch.programme)
    purpose = cast(Literal["PENS", "BENE"], programme.purpose_code)
    remittance = f"{programme.code} {run.batch.period}"
    bics = {code: bank.bic for code, bank in load_banks().items()}
    digest = run.digest
    if run.session.autoflush:  # as session.execute would: unflushed edits must be written
        run.session.flush()
    # rows from the connection, unpacked as tuples: the ORM's per-row loading would cost more
    # than the XML itself
    decrypt = run.keyring.decrypt
    for rows in stream_rows(run.session.connection(), query, STREAM_CHUNK):
        if digest is not None:
            digest.add([row[:_WIDTH] for row in rows])
        for row in rows:
            (_, e2e, _, amount, _, _, _, _, bank_bin, _, name, province, commune,
             account_enc) = row[:_WIDTH + 1] if cash else row
            bin_code = route.bin if cash else (bank_bin or route.bin)
            try:
                yield PaymentLine(
                    end_to_end_id=e2e, amount=int(amount),
                    creditor_name=unicodedata.normalize("NFC", name),
                    creditor_account=_CASH_ACCOUNT if cash or account_enc is None
                    else decrypt("account_number", account_enc),
                    creditor_bin=bin_code, creditor_bic=None if cash else bics.get(bin_code),
                    purpose=purpose, remittance=remittance, province_code=province,
                    commune_code=commune,
                    citizen_id_masked=mask(decrypt("citizen_id", row[_WIDTH + 1]))
                    if cash else None,
                    phone=decrypt("phone", row[_WIDTH + 2])
                    if cash and row[_WIDTH + 2] else None)
            except ValueError as error:
                raise ValidationFailed(f"instruction {e2e} cannot be written: "
                                       f"{error}") from None


# --- one file -------------------------------------------------------------------------------


def _write_part(run: _Run, route: Route, header: FileHeader, plan: FilePlan,
                lines: Iterator[PaymentLine]) -> _Written:
    """Write one file to a temporary name and check it (``_publish`` moves it and signs it)."""
    final = run.out_dir / (header.msg_id + _EXTENSIONS[route.layout])
    temporary = final.with_name(final.name + ".tmp")
    run.created += [p for p in (final, signing.signature_path(final),
                                signing.manifest_path(final)) if not p.exists()]
    run.created.append(temporary)
    result = _write_layout(route, header, plan, lines, temporary, _title(run))
    if (result.count, result.total) != (plan.nb_of_txs, plan.ctrl_sum):
        raise Conflict(f"{final.name}: wrote {result.count} lines, {result.total} dong; "
                       f"the database has {plan.nb_of_txs}, {plan.ctrl_sum} dong")
    if run.validate and route.layout == "pain001":
        errors = validate_pain001(temporary)
        if errors:
            raise PaymentFileInvalid(f"{final.name} fails the pain.001.001.09 XSD: {errors[:3]}")
    _check_rewrite(run, plan, final, result)
    return _Written(plan, route.layout, header, final, temporary, result,
                    route.profile.signature_alg)


def _publish(run: _Run, written: _Written) -> None:
    """Move a checked file into place, sign it and write its manifest."""
    replace_durably(written.temporary, written.path)
    plan, alg = written.plan, written.alg
    private_key, key_id = run.key(alg)
    signing.sign_file(written.path, private_key, key_id=key_id, alg=alg)
    file_manifest.write_manifest(
        written.path, sha256=written.result.sha256, size=written.result.size,
        msg_id=written.msg_id, nb_of_txs=plan.nb_of_txs, ctrl_sum=plan.ctrl_sum,
        batch_id=str(run.batch.id), batch_hash=run.approval.batch_hash, key_id=key_id,
        alg=alg, signed_at=run.signed_at)
    make_private(written.path, signing.signature_path(written.path),
                 signing.manifest_path(written.path))


def _title(run: _Run) -> str:
    year, month = run.batch.period.split("-")
    name = get_programme(run.batch.programme).name_vi
    return f"Danh sách chi trả {name[0].lower() + name[1:]} tháng {month}/{year}"


def _write_layout(route: Route, header: FileHeader, plan: FilePlan,
                  lines: Iterator[PaymentLine], path: Path, title: str) -> WriteResult:
    if route.layout == CASH_LAYOUT:
        return write_cash_list(path, header, lines, title=title)
    writer = _STREAM_WRITERS[route.layout]
    with open_private(path) as handle:
        result = writer(handle, header, lines, profile=route.profile,
                        nb_of_txs=plan.nb_of_txs, ctrl_sum=plan.ctrl_sum)
        handle.flush()
        os.fsync(handle.fileno())
    return result


_STREAM_WRITERS: Final[dict[str, Callable[..., WriteResult]]] = {
    "pain001": write_pain001, "csv": write_bank_csv,
}


def _check_rewrite(run: _Run, plan: FilePlan, final: Path, result: WriteResult) -> None:
    recorded = run.recorded.get((plan.route, plan.part_no))
    if recorded is not None and (recorded.sha256, recorded.size) != (result.sha256, result.size):
        raise RewriteMismatch(
            f"{final.name}: the re-written file has SHA-256 {result.sha256} ({result.size} "
            f"bytes) but {recorded.sha256} ({recorded.size} bytes) was recorded; the recorded "
            "file is kept")


def _record(run: _Run, written: list[_Written]) -> list[PaymentFile]:
    """Insert the ``PaymentFile`` rows and link each instruction to its file."""
    files = []
    for w in written:
        row = PaymentFile(
            batch_id=run.batch.id, route=w.plan.route, part_no=w.plan.part_no, layout=w.layout,
            msg_id=w.msg_id, file_name=w.path.name, sha256=w.result.sha256, size=w.result.size,
            nb_of_txs=w.plan.nb_of_txs, ctrl_sum=w.plan.ctrl_sum,
            batch_hash=run.approval.batch_hash, key_id=run.key(w.alg)[1])
        run.session.add(row)
        run.session.flush()
        linked = run.session.execute(
            update(Instruction)
            .where(Instruction.batch_id == run.batch.id, Instruction.route == w.plan.route,
                   Instruction.seq >= w.plan.first_seq, Instruction.seq <= w.plan.last_seq)
            .values(payment_file_id=row.id).execution_options(synchronize_session=False))
        if cast(Any, linked).rowcount != w.plan.nb_of_txs:
            raise Conflict(f"{w.path.name}: linked {cast(Any, linked).rowcount} instructions, "
                           f"expected {w.plan.nb_of_txs}")
        files.append(row)
    return files


__all__ = [
    "FilePlan",
    "PaymentFileInvalid",
    "RewriteMismatch",
    "msg_id_for",
    "plan_files",
    "verify_payment_file",
    "write_batch_files",
]
