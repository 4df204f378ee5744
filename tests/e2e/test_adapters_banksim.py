"""The HTTP bank adapter and the outbox against the bank simulator, a real process on loopback.

Proves: a file sent twice (a retry after a timeout) is processed once; a dropped response
leaves the submission ``unknown`` and a status query resolves it with no second submission;
a tampered file is refused (FF01); return files come back with a signature that verifies.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from bank_adapters.ewallet import EwalletAdapter, key_signer
from bank_adapters.http_api import HttpApiAdapter, HttpBankConfig
from bank_adapters.models import Submission, SubmissionState
from bank_adapters.outbox import DeliveryPolicy, deliver_pending, enqueue_batch, outgoing_file
from bank_adapters.protocol import (
    OutgoingFile,
    SubmissionRefused,
    SubmissionStatus,
    SubmissionTimeout,
)
from disburse.core import signing
from disburse.core.db import make_engine, make_session_factory
from disburse.core.uow import unit_of_work
from disburse.payments.models import PaymentFile
from tests.conftest import migrate
from tests.e2e.banksim_fixtures import BanksimLauncher, BanksimProcess, write_public_key
from tests.integration.test_outbox import make_batch, payment_lines, write_signed_pain001

pytestmark = pytest.mark.e2e

BANK_BIN = "970418"
BOOK = """bin,account_number,holder_name,status,holder_deceased
970415,0000000000,TRAN THI DAO,open,false
970415,0000000001,TRAN THI DAO,open,false
"""


@pytest.fixture(scope="module")
def service_key() -> signing.PrivateKey:
    return signing.generate_ed25519()


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory,
         service_key: signing.PrivateKey) -> Iterator[BanksimProcess]:
    workdir = tmp_path_factory.mktemp("banksim-adapters")
    accounts = workdir / "accounts.csv"
    accounts.write_text(BOOK, encoding="utf-8")
    launcher = BanksimLauncher(workdir)
    yield launcher.start(accounts=accounts, bank_bin=BANK_BIN,
                         service_public_key=write_public_key(workdir / "svc.pem", service_key))
    launcher.stop_all()


@pytest.fixture
def admin(bank: BanksimProcess) -> Iterator[httpx.Client]:
    """A client for the simulator's fault switches; faults are reset around each test."""
    with bank.client() as http:
        http.delete("/v1/_faults").raise_for_status()
        yield http
        http.delete("/v1/_faults").raise_for_status()


def counters(admin: httpx.Client) -> dict[str, int]:
    body: dict[str, Any] = admin.get("/v1/_faults").json()
    return dict(body["counters"])


def delta(before: dict[str, int], after: dict[str, int],
          *extra: str) -> dict[str, int]:
    names = ("submissions_received", "processed", "replays", *extra)
    return {name: after[name] - before[name] for name in names}


def faults(admin: httpx.Client, **settings: int) -> None:
    admin.post("/v1/_faults", json=settings).raise_for_status()


def adapter_for(bank: BanksimProcess, *, read_timeout: float = 5.0) -> HttpApiAdapter:
    return HttpApiAdapter(HttpBankConfig(base_url=bank.base_url, bank_bin=BANK_BIN,
                                         token=bank.token or "", connect_timeout=2.0,
                                         read_timeout=read_timeout))


@dataclass
class World:
    factory: sessionmaker[Session]
    files_root: Path


@pytest.fixture
def world(fresh_database_url: str, tmp_path: Path) -> Iterator[World]:
    engine: Engine = make_engine(fresh_database_url)
    migrate(engine)
    yield World(make_session_factory(engine), tmp_path / "payment_files")
    engine.dispose()


def enqueue_one(world: World, key: signing.PrivateKey, *, tamper: bool = False) -> str:
    with unit_of_work(world.factory) as session:
        batch, files = make_batch(session, world.files_root, key, ["bidv"],
                                  debtor_bin=BANK_BIN, msg_prefix=uuid.uuid4().hex[:8],
                                  line_maker=lambda m: payment_lines(m, 2))
        enqueue_batch(session, batch.id, actor="lan")
        if tamper:  # one byte changed after signing: the signature no longer holds
            path = outgoing_file(files[0], world.files_root).path
            path.write_bytes(path.read_bytes().replace(b"1500000", b"1500009", 1))
        return files[0].msg_id


def submission(world: World) -> Submission:
    with unit_of_work(world.factory) as session:
        return session.execute(select(Submission)).scalar_one()


def wait_until(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)


def deliver(world: World, adapter: HttpApiAdapter) -> Any:
    return deliver_pending(world.factory, {"bidv": adapter}, files_root=world.files_root,
                           policy=DeliveryPolicy(rounds=1), sleep=lambda _: None)


def test_retry_after_a_timeout_is_processed_once(world, bank, admin, service_key) -> None:
    msg_id = enqueue_one(world, service_key)
    before = counters(admin)
    with unit_of_work(world.factory) as session:
        outgoing = outgoing_file(session.execute(select(PaymentFile)).scalar_one(),
                                 world.files_root)
    impatient = adapter_for(bank, read_timeout=0.4)
    faults(admin, latency_ms=1500)
    with pytest.raises(SubmissionTimeout):
        impatient.submit(outgoing)
    faults(admin, latency_ms=0)
    # The bank got it after all.
    wait_until(lambda: counters(admin)["processed"] == before["processed"] + 1)
    receipt = impatient.submit(outgoing)  # the retry: same MsgId, same bytes
    assert receipt.replayed and receipt.msg_id == msg_id
    assert delta(before, counters(admin)) == {"submissions_received": 2, "processed": 1,
                                              "replays": 1}


def test_outbox_timeout_becomes_unknown_then_status_resolves_it(
        world, bank, admin, service_key) -> None:
    msg_id = enqueue_one(world, service_key)
    before = counters(admin)
    faults(admin, latency_ms=1500)
    deliver(world, adapter_for(bank, read_timeout=0.4))
    assert submission(world).state == "unknown"
    faults(admin, latency_ms=0)
    wait_until(lambda: counters(admin)["processed"] == before["processed"] + 1)
    report = deliver(world, adapter_for(bank))
    row = submission(world)
    assert (row.state, row.attempts, report.submits) == ("accepted", 2, 0)
    assert row.receipt is not None and row.receipt["resolved_by"] == "status"
    assert delta(before, counters(admin)) == {"submissions_received": 1, "processed": 1,
                                              "replays": 0}
    assert adapter_for(bank).status(msg_id) is SubmissionStatus.ACCEPTED


def test_dropped_response_is_unknown_then_resolved_without_a_second_submission(
        world, bank, admin, service_key) -> None:
    enqueue_one(world, service_key)
    before = counters(admin)
    faults(admin, drop_next=1)
    adapter = adapter_for(bank)
    first = deliver(world, adapter)
    assert first.submits >= 1
    if submission(world).state == "unknown":
        # the usual path: the answer was lost after the bank processed the file
        second = deliver(world, adapter)
        assert submission(world).state == "accepted"
        assert (second.submits, second.status_queries) == (0, 1)
    else:
        # on a loaded machine the drop can surface as a connection error, which the adapter
        # retries under the same MsgId: the bank then answers with the original receipt
        assert submission(world).state == "accepted"
    changes = delta(before, counters(admin), "dropped")
    assert changes["processed"] == 1  # never processed twice, whichever path was taken
    assert changes["dropped"] == 1
    assert changes["submissions_received"] == changes["replays"] + 1


def test_tampered_file_is_refused_with_ff01(world, bank, admin, service_key) -> None:
    msg_id = enqueue_one(world, service_key, tamper=True)
    before = counters(admin)
    adapter = adapter_for(bank)
    deliver(world, adapter)
    row = submission(world)
    assert row.state == "rejected"
    assert row.last_error is not None and row.last_error.startswith("FF01")
    assert adapter.status(msg_id) is SubmissionStatus.REJECTED
    assert delta(before, counters(admin))["processed"] == 0


def test_same_msg_id_with_other_bytes_is_refused_dupl(world, bank, admin, service_key,
                                                       tmp_path) -> None:
    msg_id = enqueue_one(world, service_key)
    adapter = adapter_for(bank)
    deliver(world, adapter)
    assert submission(world).state == "accepted"
    other = write_signed_pain001(tmp_path / "other", msg_id, service_key,
                                 lines=payment_lines(msg_id, 3), debtor_bin=BANK_BIN)
    with pytest.raises(SubmissionRefused) as refused:
        adapter.submit(OutgoingFile(other, signing.signature_path(other),
                                    signing.manifest_path(other), msg_id, "bidv"))
    assert refused.value.code == "DUPL"


def test_returns_come_back_signed_by_the_bank(world, bank, admin, service_key) -> None:
    enqueue_one(world, service_key)
    adapter = adapter_for(bank)
    deliver(world, adapter)
    bank_key = signing.load_public_key_pem(httpx.get(f"{bank.base_url}/v1/public-key").content)
    returns = adapter.fetch_returns()
    assert returns, "the bank answers every accepted file with a pain.002"
    for found in returns:
        assert found.bank_bin == BANK_BIN and found.signature is not None
        bank_key.verify(found.signature, found.data)  # raises if it does not hold
        adapter.ack_return(found.name)
    assert {r.name for r in adapter.fetch_returns()}.isdisjoint({r.name for r in returns})
    assert adapter.health()


def test_unreachable_bank_leaves_the_submission_pending(world, service_key) -> None:
    enqueue_one(world, service_key)
    closed = HttpApiAdapter(HttpBankConfig(base_url="http://127.0.0.1:9", bank_bin=BANK_BIN,
                                           connect_timeout=0.5, read_timeout=0.5))
    deliver(world, closed)
    row = submission(world)
    assert (row.state, row.attempts) == ("pending", 1)
    assert not closed.health()


# --- e-wallet: the simulator started at an e-wallet provider's BIN ---------------------------

WALLET_BIN = "971025"
WALLETS = ["0912345678", "0912345679", "0912345680"]
WALLET_BOOK = "bin,account_number,holder_name,status,holder_deceased\n" + "".join(
    f"{WALLET_BIN},{w},TRAN THI DAO,open,false\n" for w in WALLETS)


@pytest.fixture(scope="module")
def wallet(tmp_path_factory: pytest.TempPathFactory,
           service_key: signing.PrivateKey) -> Iterator[BanksimProcess]:
    workdir = tmp_path_factory.mktemp("banksim-wallet")
    accounts = workdir / "accounts.csv"
    accounts.write_text(WALLET_BOOK, encoding="utf-8")
    launcher = BanksimLauncher(workdir)
    yield launcher.start(accounts=accounts, bank_bin=WALLET_BIN,
                         service_public_key=write_public_key(workdir / "svc.pem", service_key))
    launcher.stop_all()


def wallet_batch(world: World, key: signing.PrivateKey) -> list[str]:
    """Enqueue one momo file paying the three wallets; return its EndToEndIds."""
    with unit_of_work(world.factory) as session:
        batch, files = make_batch(
            session, world.files_root, key, ["momo"], debtor_bin=WALLET_BIN,
            msg_prefix=uuid.uuid4().hex[:8],
            line_maker=lambda m: payment_lines(m, 3, bank_bin=WALLET_BIN, accounts=WALLETS))
        enqueue_batch(session, batch.id, actor="lan")
        return [f"{files[0].msg_id[:28]}-{i:04d}" for i in range(3)]


def ewallet_adapter(wallet: BanksimProcess, key: signing.PrivateKey,
                    state_dir: Path) -> EwalletAdapter:
    api = HttpApiAdapter(HttpBankConfig(base_url=wallet.base_url, bank_bin=WALLET_BIN,
                                        token=wallet.token or "", read_timeout=5.0))
    return EwalletAdapter(api, state_dir, key_signer(key))


def test_ewallet_submits_each_transaction_under_its_end_to_end_id(
        world, wallet, service_key, tmp_path) -> None:
    e2e_ids = wallet_batch(world, service_key)
    adapter = ewallet_adapter(wallet, service_key, tmp_path / "ewallet")
    with wallet.client() as admin:
        before = counters(admin)
        report = deliver_pending(world.factory, {"momo": adapter}, files_root=world.files_root,
                                 policy=DeliveryPolicy(rounds=1), sleep=lambda _: None)
        after = counters(admin)
    assert report.count(SubmissionState.ACCEPTED) == 1
    assert delta(before, after) == {"submissions_received": 3, "processed": 3, "replays": 0}
    row = submission(world)
    assert sorted(row.receipt["detail"]["accepted"]) == sorted(e2e_ids)  # type: ignore[index]
    for e2e in e2e_ids:  # the provider knows every transaction by its EndToEndId
        assert adapter.api.status(e2e) is SubmissionStatus.ACCEPTED
    assert adapter.status(row.msg_id) is SubmissionStatus.ACCEPTED


def test_ewallet_retry_after_a_dropped_answer_credits_each_wallet_once(
        world, wallet, service_key, tmp_path) -> None:
    wallet_batch(world, service_key)
    adapter = ewallet_adapter(wallet, service_key, tmp_path / "ewallet")
    with wallet.client() as admin:
        admin.delete("/v1/_faults").raise_for_status()
        before = counters(admin)
        faults(admin, drop_next=1)  # the first transaction is credited, its answer lost
        deliver_pending(world.factory, {"momo": adapter}, files_root=world.files_root,
                        policy=DeliveryPolicy(rounds=1), sleep=lambda _: None)
        assert submission(world).state == "unknown"
        deliver_pending(world.factory, {"momo": adapter}, files_root=world.files_root,
                        policy=DeliveryPolicy(rounds=1), sleep=lambda _: None)
        after = counters(admin)
        admin.delete("/v1/_faults").raise_for_status()
    assert submission(world).state == "accepted"
    # Status found the file partly unknown, so all went again under the same keys: the
    # credited one answered as a replay, the others were processed once.
    assert delta(before, after) == {"submissions_received": 4, "processed": 3, "replays": 1}
