"""Crash tests: the deliverer is a real child process killed with SIGKILL at exact points.

(a) after recording ``sending`` but before the HTTP call; (b) after the bank accepted the file
but before the receipt was recorded. The child blocks at the point named by
``DISBURSE_OUTBOX_PAUSE_AT`` (it writes ``<point>.reached`` first), so the kill is
deterministic. After a restart every file is processed by the bank exactly once and every
submission ends ``accepted``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from bank_adapters.models import Submission
from bank_adapters.outbox import PAUSE_AT_ENV, PAUSE_DIR_ENV, enqueue_batch
from disburse.core import signing
from disburse.core.db import make_engine, make_session_factory
from disburse.core.uow import unit_of_work
from tests.conftest import migrate
from tests.e2e.banksim_fixtures import REPO_ROOT, BanksimLauncher, BanksimProcess, write_public_key
from tests.integration.test_outbox import make_batch

pytestmark = pytest.mark.e2e

BANK_BIN = "970418"
FILES = 3
BOOK = "bin,account_number,holder_name,status,holder_deceased\n"
CHILD = """
import sys
from pathlib import Path
from bank_adapters.http_api import HttpApiAdapter, HttpBankConfig
from bank_adapters.outbox import deliver_pending
from disburse.core import audit
from disburse.core.db import make_engine, make_session_factory

# the parent's test key (tests/conftest.py): this child writes to the same audit chain
audit.set_default_key_source(audit.fixed_key_source(b"disburse test audit chain key 32"))
url, files_root, base_url, token = sys.argv[1:5]
adapter = HttpApiAdapter(HttpBankConfig(base_url=base_url, bank_bin="970418", token=token))
report = deliver_pending(make_session_factory(make_engine(url)), {"bidv": adapter},
                         files_root=Path(files_root), sleep=lambda _: None)
print(sorted(report.states.values()))
"""


@pytest.fixture(scope="module")
def service_key() -> signing.PrivateKey:
    return signing.generate_ed25519()


@pytest.fixture(scope="module")
def bank(tmp_path_factory: pytest.TempPathFactory,
         service_key: signing.PrivateKey) -> Iterator[BanksimProcess]:
    workdir = tmp_path_factory.mktemp("banksim-crash")
    accounts = workdir / "accounts.csv"
    accounts.write_text(BOOK, encoding="utf-8")
    launcher = BanksimLauncher(workdir)
    yield launcher.start(accounts=accounts, bank_bin=BANK_BIN,
                         service_public_key=write_public_key(workdir / "svc.pem", service_key))
    launcher.stop_all()


def counters(bank: BanksimProcess) -> dict[str, int]:
    with bank.client() as http:
        return dict(http.get("/v1/_faults").json()["counters"])


def start_child(url: str, files_root: Path, bank: BanksimProcess,
                env_extra: dict[str, str]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **env_extra}
    return subprocess.Popen([sys.executable, "-c", CHILD, url, str(files_root), bank.base_url,
                             bank.token or ""], env=env, cwd=REPO_ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def wait_for(path: Path, child: subprocess.Popen[str], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if child.poll() is not None:
            raise AssertionError(f"child ended early: {child.communicate()}")
        assert time.monotonic() < deadline, f"{path.name} never appeared"
        time.sleep(0.02)


@pytest.mark.parametrize(("point", "processed_at_kill"), [
    ("after_claim", 0),  # recorded `sending`, nothing sent yet
    ("after_submit", 1),  # the bank accepted the first file, the receipt is not recorded
])
def test_sigkill_then_restart_submits_every_file_exactly_once(
        point: str, processed_at_kill: int, bank: BanksimProcess, service_key,
        fresh_database_url: str, tmp_path: Path) -> None:
    engine = make_engine(fresh_database_url)
    migrate(engine)
    factory = make_session_factory(engine)
    files_root = tmp_path / "payment_files"
    with unit_of_work(factory) as session:
        batch, _ = make_batch(session, files_root, service_key, ["bidv"] * FILES,
                              debtor_bin=BANK_BIN, msg_prefix=uuid.uuid4().hex[:8])
        enqueue_batch(session, batch.id, actor="lan")
    before = counters(bank)

    child = start_child(fresh_database_url, files_root, bank,
                        {PAUSE_AT_ENV: point, PAUSE_DIR_ENV: str(tmp_path)})
    wait_for(tmp_path / f"{point}.reached", child)
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=10)
    assert child.returncode == -signal.SIGKILL
    with unit_of_work(factory) as session:
        crashed = [s.state for s in session.execute(select(Submission)
                                                    .order_by(Submission.id)).scalars()]
    assert crashed == ["sending", "pending", "pending"]
    at_kill = counters(bank)
    assert at_kill["processed"] - before["processed"] == processed_at_kill

    restart = start_child(fresh_database_url, files_root, bank, {})
    out, err = restart.communicate(timeout=60)
    assert restart.returncode == 0, err
    assert out.strip() == str(["accepted"] * FILES)
    with unit_of_work(factory) as session:
        rows = session.execute(select(Submission).order_by(Submission.id)).scalars().all()
    assert [r.state for r in rows] == ["accepted"] * FILES
    assert [r.attempts for r in rows] == [2, 1, 1]
    after = counters(bank)
    # Every file processed exactly once; nothing was ever sent twice.
    assert after["processed"] - before["processed"] == FILES
    assert after["submissions_received"] - before["submissions_received"] == FILES
    assert after["replays"] - before["replays"] == 0
    with httpx.Client(base_url=bank.base_url,
                      headers={"Authorization": f"Bearer {bank.token}"}) as http:
        for row in rows:
            status = http.get(f"/v1/payment-files/{row.msg_id}/status").json()["status"]
            assert status == "accepted"
    engine.dispose()
