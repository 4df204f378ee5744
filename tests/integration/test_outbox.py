"""The submission outbox on a real database, sending through real file-exchange folders.

The helpers at the top (a signed pain.001, a files_ready batch with payment file rows) are
also used by the e2e tests of the bank adapters.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bank_adapters.choose import AdapterRegistry
from bank_adapters.file_exchange import FileExchangeAdapter
from bank_adapters.models import Submission, SubmissionState
from bank_adapters.outbox import (
    Deliverer,
    DeliveryPolicy,
    deliver_pending,
    enqueue_batch,
    list_submissions,
    outgoing_file,
)
from bank_adapters.post_office import PostOfficeAdapter
from bank_adapters.protocol import (
    BankUnavailable,
    OutgoingFile,
    SubmissionReceipt,
    SubmissionStatus,
    SubmissionTimeout,
)
from disburse.core import audit, signing
from disburse.core.config import Settings
from disburse.core.db import make_engine, make_session_factory
from disburse.core.errors import InvalidTransition
from disburse.core.private_files import file_sha256, write_atomically
from disburse.core.uow import unit_of_work
from disburse.payments.models import Batch, PaymentFile
from disburse.payments.payment_files import manifest as file_manifest
from disburse.payments.payment_files.cash_list import write_cash_list
from disburse.payments.payment_files.model import BankProfile, FileHeader, PaymentLine
from disburse.payments.payment_files.pain001 import write_pain001
from disburse.payments.routing import load_routing
from reconciliation.parsers.post_office import parse_post_office
from tests.conftest import migrate

ROUTE = "vcb"
BANK_BIN = "970436"

# --- helpers shared with tests/e2e --------------------------------------------------------


def payment_lines(msg_id: str, count: int, *, bank_bin: str = "970415",
                  accounts: list[str] | None = None) -> list[PaymentLine]:
    """Return ``count`` pension payments with EndToEndIds derived from ``msg_id``."""
    return [PaymentLine(f"{msg_id[:28]}-{i:04d}", 1_500_000 + i, "Trần Thị Đào",
                        accounts[i] if accounts else f"00{i:08d}", bank_bin, None, "PENS",
                        "pension 2026-11", "79", "26734") for i in range(count)]


def write_signed_pain001(directory: Path, msg_id: str, key: signing.PrivateKey, *,
                         lines: list[PaymentLine] | None = None, batch_id: int = 1,
                         debtor_bin: str = "970436") -> Path:
    """Write ``<msg_id>.xml`` as a pain.001 with its ``.sig`` and manifest; return its path."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = lines or payment_lines(msg_id, 2)
    header = FileHeader(msg_id=msg_id, created_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC),
                        initiating_party_name="SO LAO DONG", initiating_party_id="DISBURSE",
                        debtor_name="QUY BAO HIEM XA HOI", debtor_account="1001000000001",
                        debtor_bin=debtor_bin, debtor_bic=None,
                        requested_execution_date=date(2026, 11, 25), batch_id=str(batch_id),
                        payment_info_id=f"{msg_id[:30]}-P1")
    path = directory / f"{msg_id}.xml"
    total = sum(line.amount for line in lines)
    with path.open("wb") as out:
        result = write_pain001(out, header, lines, profile=BankProfile("b"),
                               nb_of_txs=len(lines), ctrl_sum=total)
    key_id, alg = signing.key_id_for(key.public_key()), signing.alg_for(key)
    signing.sign_file(path, key, key_id=key_id, alg=alg)
    file_manifest.write_manifest(path, sha256=result.sha256, size=result.size, msg_id=msg_id,
                                 nb_of_txs=result.count, ctrl_sum=result.total,
                                 batch_id=str(batch_id), batch_hash="ab" * 32, key_id=key_id,
                                 alg=alg, signed_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    return path


def make_batch(session: Session, files_root: Path, key: signing.PrivateKey,
               routes: list[str], *, state: str = "files_ready",
               lines_per_file: int = 2, line_maker: object = None,
               debtor_bin: str = "970436",
               msg_prefix: str = "") -> tuple[Batch, list[PaymentFile]]:
    """Insert a batch in ``state`` with one signed pain.001 per route written under files_root.

    ``line_maker`` (msg_id -> lines) overrides the default lines of each file.
    """
    batch = Batch(programme="pension", period="2026-11", province_code="79", state=state,
                  preparer="lan", requested_execution_date=date(2026, 11, 25), count=0,
                  total=0, content_hash="ab" * 32)
    session.add(batch)
    session.flush()
    files = []
    for part, route in enumerate(routes, start=1):
        msg_id = f"{msg_prefix}B{batch.id}-{route}-{part}"
        lines = line_maker(msg_id) if callable(line_maker) \
            else payment_lines(msg_id, lines_per_file)
        path = write_signed_pain001(files_root / str(batch.id), msg_id, key, lines=lines,
                                    batch_id=batch.id, debtor_bin=debtor_bin)
        sha, size = file_sha256(path)
        files.append(PaymentFile(batch_id=batch.id, route=route, part_no=part, layout="pain001",
                                 msg_id=msg_id, file_name=path.name, sha256=sha, size=size,
                                 nb_of_txs=len(lines), ctrl_sum=sum(x.amount for x in lines),
                                 batch_hash="ab" * 32,
                                 key_id=signing.key_id_for(key.public_key())))
    session.add_all(files)
    session.flush()
    return batch, files


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def key() -> signing.PrivateKey:
    return signing.generate_ed25519()


@dataclass
class World:
    factory: sessionmaker[Session]
    files_root: Path
    exchange: Path


@pytest.fixture
def world(fresh_database_url: str, tmp_path: Path) -> Iterator[World]:
    engine: Engine = make_engine(fresh_database_url)
    migrate(engine)
    yield World(make_session_factory(engine), tmp_path / "payment_files", tmp_path / "exchange")
    engine.dispose()


def enqueue(world: World, key: signing.PrivateKey, routes: list[str]) -> int:
    with unit_of_work(world.factory) as session:
        batch, _ = make_batch(session, world.files_root, key, routes)
        enqueue_batch(session, batch.id, actor="lan")
        return batch.id


def states(world: World) -> dict[str, str]:
    with unit_of_work(world.factory) as session:
        return {s.msg_id: s.state for s in list_submissions(session)}


class CountingExchange(FileExchangeAdapter):
    """A real file-exchange adapter that counts calls and can lose answers or fail."""

    def __init__(self, root: Path, *, delay: float = 0.0) -> None:
        super().__init__(root, BANK_BIN)
        self.submits: Counter[str] = Counter()
        self.status_calls: Counter[str] = Counter()
        self.lose_answer_of: set[str] = set()  # deliver, then raise a timeout
        self.time_out_before: set[str] = set()  # raise a timeout, deliver nothing
        self.unavailable = False
        self.delay = delay
        self._lock = threading.Lock()

    def submit(self, payment_file: OutgoingFile) -> SubmissionReceipt:
        with self._lock:
            self.submits[payment_file.msg_id] += 1
        time.sleep(self.delay)
        if self.unavailable:
            raise BankUnavailable("connection refused", code="connect")
        if payment_file.msg_id in self.time_out_before:
            self.time_out_before.discard(payment_file.msg_id)
            raise SubmissionTimeout("read timeout before the bank got it", code="timeout")
        receipt = super().submit(payment_file)
        if payment_file.msg_id in self.lose_answer_of:
            self.lose_answer_of.discard(payment_file.msg_id)
            raise SubmissionTimeout("read timeout after the bank got it", code="timeout")
        return receipt

    def status(self, msg_id: str) -> SubmissionStatus:
        self.status_calls[msg_id] += 1
        return super().status(msg_id)


def one_round(**kwargs: Any) -> DeliveryPolicy:
    return DeliveryPolicy(rounds=1, **kwargs)


# --- tests ----------------------------------------------------------------------------------


def test_enqueue_records_pending_rows_before_anything_leaves(world: World, key) -> None:
    batch_id = enqueue(world, key, ["vcb", "bidv"])
    with unit_of_work(world.factory) as session:
        rows = list_submissions(session, batch_id=batch_id)
        batch = session.get_one(Batch, batch_id)
        actions = session.execute(select(audit.AuditEntry.action)
                                  .where(audit.AuditEntry.object_type == "submission")).scalars()
        assert sorted(actions) == ["submission.pending", "submission.pending"]
        assert audit.verify_chain(session).broken is None
    assert batch.state == "submitted"
    assert [(r.route, r.state, r.attempts) for r in rows] == [
        ("bidv", "pending", 0), ("vcb", "pending", 0)]
    assert not world.exchange.exists()  # nothing was delivered by enqueueing


@pytest.mark.parametrize("state", ["approved", "submitted", "draft"])
def test_enqueue_refuses_a_batch_that_is_not_files_ready(world: World, key, state: str) -> None:
    with pytest.raises(InvalidTransition), unit_of_work(world.factory) as session:
        batch, _ = make_batch(session, world.files_root, key, ["vcb"], state=state)
        enqueue_batch(session, batch.id, actor="lan")
    with unit_of_work(world.factory) as session:
        assert list_submissions(session) == []


def test_accepted_path_delivers_file_signature_and_manifest(world: World, key) -> None:
    enqueue(world, key, ["vcb"])
    adapter = CountingExchange(world.exchange)
    report = deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                             sleep=lambda _: None)
    assert report.count(SubmissionState.ACCEPTED) == 1
    with unit_of_work(world.factory) as session:
        row = session.execute(select(Submission)).scalar_one()
        payment_file = session.get_one(PaymentFile, row.payment_file_id)
        source = outgoing_file(payment_file, world.files_root)
    assert (row.state, row.attempts, row.worker) == ("accepted", 1, None)
    assert row.receipt is not None and row.receipt["msg_id"] == row.msg_id
    outbox = world.exchange / "outbox"
    assert file_sha256(outbox / source.path.name)[0] == payment_file.sha256
    assert (outbox / source.signature_path.name).read_bytes() == \
        source.signature_path.read_bytes()
    assert (outbox / source.manifest_path.name).is_file()
    assert not [p for p in outbox.iterdir() if p.name.startswith(".")]  # no temp files left
    assert adapter.submits == Counter({row.msg_id: 1})


def test_lost_answer_becomes_unknown_and_status_resolves_it_without_resending(
        world: World, key) -> None:
    enqueue(world, key, ["vcb"])
    adapter = CountingExchange(world.exchange)
    (msg_id,) = states(world)
    adapter.lose_answer_of.add(msg_id)
    deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                    policy=one_round(), sleep=lambda _: None)
    assert states(world) == {msg_id: "unknown"}
    report = deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                             policy=one_round(), sleep=lambda _: None)
    assert states(world) == {msg_id: "accepted"}
    assert adapter.submits[msg_id] == 1  # never sent a second time
    assert adapter.status_calls[msg_id] == 1
    assert (report.submits, report.status_queries) == (0, 1)


def test_timeout_before_arrival_is_resent_with_the_same_msg_id(world: World, key) -> None:
    enqueue(world, key, ["vcb"])
    adapter = CountingExchange(world.exchange)
    (msg_id,) = states(world)
    adapter.time_out_before.add(msg_id)
    sleeps: list[float] = []
    report = deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                             policy=DeliveryPolicy(rounds=3, backoff_base=2.0),
                             sleep=sleeps.append)
    assert states(world) == {msg_id: "accepted"}
    # Round 2 asked the bank first; it did not know the MsgId, so the same MsgId went again.
    assert adapter.status_calls[msg_id] == 1
    assert adapter.submits == Counter({msg_id: 2})
    assert report.states == {msg_id: "accepted"}
    assert len(sleeps) == 1 and 0 <= sleeps[0] <= 2.0
    with unit_of_work(world.factory) as session:
        row = session.execute(select(Submission)).scalar_one()
        trail = session.execute(select(audit.AuditEntry.action)
                                .where(audit.AuditEntry.object_id == msg_id)
                                .order_by(audit.AuditEntry.seq)).scalars().all()
    assert row.attempts == 2
    assert trail == ["submission.pending", "submission.sending", "submission.unknown",
                     "submission.sending", "submission.accepted"]


def test_duplicate_msg_id_with_other_bytes_is_rejected(world: World, key, tmp_path) -> None:
    enqueue(world, key, ["vcb"])
    (msg_id,) = states(world)
    adapter = CountingExchange(world.exchange)
    other = write_signed_pain001(tmp_path / "other", msg_id, key,
                                 lines=payment_lines(msg_id, 3))
    adapter.submit(OutgoingFile(other, signing.signature_path(other),
                                signing.manifest_path(other), msg_id, "vcb"))
    deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                    sleep=lambda _: None)
    with unit_of_work(world.factory) as session:
        row = session.execute(select(Submission)).scalar_one()
    assert row.state == "rejected"
    assert row.last_error is not None and row.last_error.startswith("DUPL")
    # Final: another run does not touch it.
    report = deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                             sleep=lambda _: None)
    assert report.states == {} and adapter.submits[msg_id] == 2


def test_breaker_opens_after_threshold_failures_and_spares_the_bank(world: World, key) -> None:
    enqueue(world, key, ["vcb", "vcb", "vcb", "vcb"])
    adapter = CountingExchange(world.exchange)
    adapter.unavailable = True
    report = deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                             policy=one_round(failure_threshold=2, reset_timeout=3600),
                             sleep=lambda _: None)
    assert sum(adapter.submits.values()) == 2  # the breaker stopped the third call
    assert report.breaker_open == {"vcb"}
    with unit_of_work(world.factory) as session:
        rows = list_submissions(session)
    # Nothing reached the bank: back to pending, same MsgId, to be retried.
    assert [(r.state, r.attempts) for r in rows] == [("pending", 1), ("pending", 1),
                                                      ("pending", 0), ("pending", 0)]
    assert rows[0].last_error is not None and "connection refused" in rows[0].last_error


def test_stale_sending_claim_of_a_dead_worker_is_resolved_by_status(world: World, key) -> None:
    enqueue(world, key, ["vcb", "vcb"])
    adapter = CountingExchange(world.exchange)
    first, second = states(world)
    with unit_of_work(world.factory) as session:
        rows = list_submissions(session)
        files = {f.id: f for f in session.execute(select(PaymentFile)).scalars()}
        # The first was delivered before the crash; the second never left.
        adapter.submit(outgoing_file(files[rows[0].payment_file_id], world.files_root))
        lease = datetime.now(UTC) + timedelta(hours=1)
        for row in rows:
            row.state, row.worker, row.lease_until = "sending", "localhost-gone:1:x", lease
    # A live claim of another host is honoured while its lease runs...
    report = deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                             sleep=lambda _: None)
    assert report.states == {} and states(world) == {first: "sending", second: "sending"}
    # ... and taken over once the lease is over.
    later = datetime.now(UTC) + timedelta(hours=2)
    deliver_pending(world.factory, {"vcb": adapter}, files_root=world.files_root,
                    now=lambda: later, sleep=lambda _: None)
    assert states(world) == {first: "accepted", second: "accepted"}
    assert adapter.submits == Counter({first: 1, second: 1})
    assert adapter.status_calls == Counter({first: 1, second: 1})


def test_two_concurrent_deliverers_send_each_submission_once(world: World, key) -> None:
    routes = ["vcb"] * 8
    enqueue(world, key, routes)
    adapter = CountingExchange(world.exchange, delay=0.05)
    start = threading.Barrier(2)
    reports = []

    def work() -> None:
        deliverer = Deliverer(world.factory, {"vcb": adapter}, files_root=world.files_root,
                              sleep=lambda _: None)
        start.wait()
        reports.append(deliverer.run())

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert set(states(world).values()) == {"accepted"}
    assert len(adapter.submits) == 8 and set(adapter.submits.values()) == {1}
    # Both workers finished and did part of the work (else nothing was raced).
    assert len(reports) == 2 and all(report.states for report in reports)
    assert sum(len(report.states) for report in reports) == 8


# --- post office: folder exchange with a clerk that answers with a paid/unpaid report -------

POST_BIN = "970449"


def post_office_clerk(exchange: Path, service_public: signing.PublicKey,
                      post_key: signing.PrivateKey, outcomes: dict[str, tuple[str, str]],
                      lines: list[PaymentLine]) -> list[str]:
    """Play the post office: check each cash list in the outbox, pay, write a signed report.

    Returns the cash lists it accepted. ``outcomes`` maps EndToEndId -> (status, reason).
    """
    import openpyxl

    taken = []
    for path in sorted((exchange / "outbox").glob("*.xlsx")):
        assert file_manifest.verify_file(path, service_public) == []  # our signature holds
        book = openpyxl.load_workbook(path, read_only=True)
        amounts = sorted(row[3] for sheet in book.worksheets
                         for row in sheet.iter_rows(min_row=6, values_only=True)
                         if isinstance(row[0], int))
        assert amounts == sorted(line.amount for line in lines)
        rows = ["Mã giao dịch,Họ và tên,Số tiền,Trạng thái,Ngày chi trả,Lý do"]
        for line in lines:
            status, reason = outcomes[line.end_to_end_id]
            paid = "25/11/2026" if status == "Đã chi trả" else ""
            amount = f"{line.amount:,}".replace(",", ".")  # 2.000.000, as clerks write it
            rows.append(f"{line.end_to_end_id},{line.creditor_name},{amount},{status},{paid},"
                        f"{reason}")
        report = ("\n".join(rows) + "\n").encode("utf-8")
        name = path.stem + "-report.csv"
        write_atomically(exchange / "inbox" / (name + ".sig"), post_key.sign(report))
        write_atomically(exchange / "inbox" / name, report)
        taken.append(path.name)
    return taken


def test_post_office_exports_the_signed_cash_list_and_imports_its_report(
        world: World, key, tmp_path: Path) -> None:
    msg_id = "CASH-2026-11-79"
    lines = [PaymentLine(f"{msg_id}-{i}", 2_000_000 + i, name, "-", POST_BIN, None, "BENE",
                         "social_protection 2026-11", "79", commune, citizen_id_masked="079****1")
             for i, (name, commune) in enumerate([("Nguyễn Văn An", "26734"),
                                                  ("Lê Thị Bình", "26734"),
                                                  ("Trần Văn Cường", "26737")])]
    with unit_of_work(world.factory) as session:
        batch, _ = make_batch(session, world.files_root, key, [])
        directory = world.files_root / str(batch.id)
        directory.mkdir(parents=True)
        path = directory / f"{msg_id}.xlsx"
        header = FileHeader(msg_id=msg_id, created_at=datetime(2026, 11, 20, tzinfo=UTC),
                            initiating_party_name="SO LAO DONG", initiating_party_id="D",
                            debtor_name="NGAN SACH", debtor_account="2001", debtor_bin=POST_BIN,
                            debtor_bic=None, requested_execution_date=date(2026, 11, 25),
                            batch_id=str(batch.id), payment_info_id=f"{msg_id}-P1")
        result = write_cash_list(path, header, lines, title="Danh sách chi trả")
        key_id, alg = signing.key_id_for(key.public_key()), signing.alg_for(key)
        signing.sign_file(path, key, key_id=key_id, alg=alg)
        file_manifest.write_manifest(path, sha256=result.sha256, size=result.size, msg_id=msg_id,
                                     nb_of_txs=result.count, ctrl_sum=result.total,
                                     batch_id=str(batch.id), batch_hash="ab" * 32, key_id=key_id,
                                     alg=alg, signed_at=datetime(2026, 11, 20, tzinfo=UTC))
        session.add(PaymentFile(batch_id=batch.id, route="post-79", part_no=1,
                                layout="cash_list", msg_id=msg_id, file_name=path.name,
                                sha256=result.sha256, size=result.size, nb_of_txs=result.count,
                                ctrl_sum=result.total, batch_hash="ab" * 32, key_id=key_id))
        session.flush()
        enqueue_batch(session, batch.id, actor="lan")
    adapter = PostOfficeAdapter(world.exchange, POST_BIN)
    registry = AdapterRegistry(load_routing(), Settings(data_dir=tmp_path / "unused"), {})
    assert isinstance(registry("post-79"), PostOfficeAdapter)  # chosen by transport
    deliver_pending(world.factory, {"post-79": adapter}, files_root=world.files_root,
                    sleep=lambda _: None)
    assert states(world) == {msg_id: "accepted"}

    post_key = signing.generate_ed25519()
    outcomes = {lines[0].end_to_end_id: ("Đã chi trả", ""),
                lines[1].end_to_end_id: ("Chưa chi trả", "Đã mất"),
                lines[2].end_to_end_id: ("Chưa chi trả", "Vắng mặt")}
    assert post_office_clerk(world.exchange, key.public_key(), post_key, outcomes,
                             lines) == [path.name]
    (report,) = adapter.fetch_returns()
    assert report.signature is not None and report.bank_bin == POST_BIN
    post_key.public_key().verify(report.signature, report.data)
    records, errors = parse_post_office(report.data, filename=report.name)
    assert errors == []
    assert [(r.end_to_end_id, r.status.value, r.reason_code, r.amount) for r in records] == [
        (lines[0].end_to_end_id, "settled", None, 2_000_000),
        (lines[1].end_to_end_id, "rejected", "MD07", 2_000_001),
        (lines[2].end_to_end_id, "pending", None, 2_000_002)]
    adapter.ack_return(report.name)
    assert adapter.fetch_returns() == []
    assert (world.exchange / "archive" / report.name).read_bytes() == report.data


def test_cli_batch_send_then_outbox_list_and_deliver(app, run_cli, key) -> None:
    from flask.cli import AppGroup

    from disburse.core.keyring import Keyring
    from disburse.core.signing_keys import ensure_signing_keys, load_signing_key
    from disburse.core.users import Role, add_user
    from disburse.entry.cli.bank import batch_send, outbox_group
    from disburse.entry.cli.main import cli
    from disburse.entry.context import services
    from disburse.payments.storage import payment_files_root

    # Until the lead wires them into disburse/entry/cli/main.py (see the report).
    batch_group = cli.commands.get("batch") or AppGroup("batch")
    if "send" not in getattr(batch_group, "commands", {}):
        batch_group.add_command(batch_send)  # type: ignore[attr-defined]
    cli.add_command(batch_group)
    if "outbox" not in cli.commands:
        cli.add_command(outbox_group)
    svc = services(app)
    keyring = Keyring.init(svc.settings.key_dir)  # the audit trail is keyed with the keyring
    ensure_signing_keys(svc.settings.key_dir, keyring)  # the files are the service's own
    service_key = load_signing_key(svc.settings.key_dir, keyring)[0]
    with unit_of_work(svc.session_factory) as session:
        add_user(session, "lan", Role.PREPARER, "correct horse battery", actor="admin")
        batch, files = make_batch(session, payment_files_root(svc.settings.data_dir),
                                  service_key, ["vcb", "vcb"])
    sent = run_cli("batch", "send", str(batch.id), "--actor", "lan")
    assert sent.exit_code == 0, sent.output
    assert "2 submission(s) recorded" in sent.output
    assert f"{files[0].msg_id}\taccepted" in sent.output
    outbox = svc.settings.data_dir / "exchange" / "970436" / "outbox"
    assert sorted(p.name for p in outbox.glob("*.xml")) == sorted(f.file_name for f in files)
    again = run_cli("batch", "send", str(batch.id), "--actor", "lan")
    assert again.exit_code == 1 and "cannot send a batch that is submitted" in again.output
    listed = run_cli("outbox", "list", "--json")
    assert [(r["msg_id"], r["state"], r["attempts"]) for r in json.loads(listed.output)] == [
        (files[0].msg_id, "accepted", 1), (files[1].msg_id, "accepted", 1)]
    delivered = run_cli("outbox", "deliver")
    assert delivered.exit_code == 0 and "0 submission(s)" in delivered.output


def _service_batch(app, routes: list[str], where: Path) -> tuple[Any, list[PaymentFile]]:
    """A files_ready batch whose files the service's own key signed, written under ``where``."""
    from disburse.core.keyring import Keyring
    from disburse.core.signing_keys import ensure_signing_keys, load_signing_key
    from disburse.core.users import Role, add_user
    from disburse.entry.context import services

    svc = services(app)
    keyring = Keyring.init(svc.settings.key_dir)
    ensure_signing_keys(svc.settings.key_dir, keyring)
    with unit_of_work(svc.session_factory) as session:
        add_user(session, "lan", Role.PREPARER, "correct horse battery", actor="admin")
        return make_batch(session, where, load_signing_key(svc.settings.key_dir, keyring)[0],
                          routes)


def test_batch_send_refuses_a_stored_file_that_is_not_the_signed_one(app, run_cli) -> None:
    from disburse.entry.context import services
    from disburse.payments.storage import payment_files_root

    root = payment_files_root(services(app).settings.data_dir)
    batch, files = _service_batch(app, ["vcb"], root)
    stored = root / str(batch.id) / files[0].file_name
    stored.write_bytes(stored.read_bytes().replace(b"1500000", b"1500009"))
    refused = run_cli("batch", "send", str(batch.id), "--actor", "lan")
    assert refused.exit_code == 1
    assert "SHA-256 differs" in refused.output and "batch files" in refused.output
    listed = run_cli("outbox", "list", "--json")
    assert json.loads(listed.output) == []  # nothing recorded, nothing sent
    stored.unlink()
    missing = run_cli("batch", "send", str(batch.id), "--actor", "lan")
    assert missing.exit_code == 1 and f"{stored} is missing" in missing.output


def test_batch_send_takes_checked_files_from_files_dir(app, run_cli, tmp_path: Path) -> None:
    from disburse.entry.context import services
    from disburse.payments.storage import payment_files_root

    elsewhere = tmp_path / "elsewhere"
    batch, files = _service_batch(app, ["vcb"], elsewhere)
    written = elsewhere / str(batch.id) / files[0].file_name
    sent = run_cli("batch", "send", str(batch.id), "--actor", "lan", "--files-dir",
                   str(written.parent))
    assert sent.exit_code == 0, sent.output
    stored = payment_files_root(services(app).settings.data_dir) / str(batch.id) / written.name
    assert stored.read_bytes() == written.read_bytes()
    for suffix in (".sig", ".manifest.json"):
        assert (stored.parent / (written.name + suffix)).read_bytes() == \
            (written.parent / (written.name + suffix)).read_bytes()
    assert f"{files[0].msg_id}\taccepted" in sent.output
