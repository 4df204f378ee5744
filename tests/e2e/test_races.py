"""Races between real processes on one database (SQLite file, or PostgreSQL when configured).

Each contender is a process of its own, as in production: the web application served by a WSGI
server on a loopback port (two servers on the same database, one request to each), or the
``disburse`` command line. The contenders are released together; the checks read the database
afterwards. The loser of a race gets a business answer (409 problem+json, "duplicate", or a
one-line error and exit status 1), never a 500, a traceback or exit status 2, and the database
holds exactly what the winner did.
"""

from __future__ import annotations

import io
import os
import re
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import Engine, func, insert
from sqlalchemy import select as sql_select
from sqlalchemy.orm import Session, sessionmaker

from bank_adapters import banks
from bank_adapters.models import ReceivedReturnFile
from beneficiaries.models import Beneficiary, ListImport
from beneficiaries.registry import CitizenRecord, RegistryStatus, StaticPopulationRegistry
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.verification.service import VerifyScope, verify
from disburse.core.clock import utcnow
from disburse.core.db import make_engine, make_session_factory
from disburse.core.keyring import Keyring
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, User
from disburse.payments import service
from disburse.payments.models import Approval, Batch, Instruction
from disburse.payments.routing import load_routing
from reconciliation.models import InstructionEvent
from tests.conftest import migrate
from tests.e2e.conftest import REPO_ROOT
from tests.integration.test_reconciliation import BANK_BIN, build_world, pain002
from tests.listfiles import list_row, write_csv

pytestmark = pytest.mark.e2e

PASSWORD = "mật khẩu đủ dài 123"
DISBURSE = str(Path(sys.executable).parent / "disburse")
TODAY = date(2026, 11, 23)
PEOPLE = 12
TIMEOUT = 120
#: What the command line prints for an unexpected error (exit 2); a race must never show it.
INTERNAL = "internal error"
_LISTENING = re.compile(r"disburse app listening on 127\.0\.0\.1:(\d+)")
# The app as an operator would serve it behind a WSGI server, on a free loopback port.
_SERVE = """
from disburse.entry.app import create_app
from disburse.core.serving import serve_forever
serve_forever(create_app(), "127.0.0.1", 0, access_log=False,
              banner=lambda port: f"disburse app listening on 127.0.0.1:{port}")
"""


# --- processes ------------------------------------------------------------------------------


@dataclass
class Site:
    """One service instance: its database, key and data directories, and its processes."""

    url: str
    engine: Engine
    factory: sessionmaker[Session]
    root: Path
    servers: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        """The environment every process of this instance runs with."""
        return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1",
                "DISBURSE_DATABASE_URL": self.url, "DISBURSE_KEY_DIR": str(self.root / "keys"),
                "DISBURSE_DATA_DIR": str(self.root / "var"),
                "DISBURSE_LOG_DIR": str(self.root / "var" / "log")}

    def serve(self) -> str:
        """Start one application server process; return its base URL."""
        log = (self.root / f"app-{len(self.servers)}.log").open("w", encoding="utf-8")
        process = subprocess.Popen([sys.executable, "-c", _SERVE], stdout=subprocess.PIPE,
                                   stderr=log, text=True, env=self.env, cwd=REPO_ROOT)
        log.close()
        self.servers.append(process)
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 30)
        match = _LISTENING.search(process.stdout.readline() if ready else "")
        assert match, (self.root / f"app-{len(self.servers) - 1}.log").read_text()
        return f"http://127.0.0.1:{match.group(1)}"

    def cli(self, *args: str) -> subprocess.Popen[str]:
        """Start ``disburse ARGS`` as a process of its own."""
        return subprocess.Popen([DISBURSE, *args],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env, cwd=REPO_ROOT)

    def count(self, query: Any) -> Any:
        """Run a scalar query in a fresh transaction."""
        with unit_of_work(self.factory) as session:
            return session.execute(query).scalar_one()

    def stop(self) -> None:
        """Stop the servers this site started."""
        for process in self.servers:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def site(fresh_database_url: str, tmp_path: Path) -> Iterator[Site]:
    """A migrated database of its own; the test fills it, the processes share it."""
    engine = make_engine(fresh_database_url)
    migrate(engine)
    instance = Site(fresh_database_url, engine, make_session_factory(engine), tmp_path)
    yield instance
    instance.stop()
    engine.dispose()


def together(*contenders: Callable[[], Any]) -> list[Any]:
    """Run the contenders in threads released at one barrier; return their results."""
    barrier = threading.Barrier(len(contenders))
    results: list[Any] = [None] * len(contenders)

    def run(index: int, work: Callable[[], Any]) -> None:
        barrier.wait(timeout=TIMEOUT)
        try:
            results[index] = work()
        except Exception as error:  # reported as the result: the assertions name it
            results[index] = error

    threads = [threading.Thread(target=run, args=item) for item in enumerate(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=TIMEOUT)
        assert not thread.is_alive(), "a contender hung"
    return results


def finished(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    """Wait for a CLI process; return its exit status, stdout and stderr."""
    out, err = process.communicate(timeout=TIMEOUT)
    return process.returncode, out, err


def post(base: str, path: str, **options: Any) -> httpx.Response:
    """POST to one server of the site."""
    with httpx.Client(base_url=base, timeout=TIMEOUT) as client:
        return client.post(path, **options)


def assert_clean_refusal(response: httpx.Response) -> dict[str, Any]:
    """The loser's answer: a 409 problem document, not a 500."""
    assert response.status_code == 409, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == 409 and body["detail"]
    return body


# --- two approvers --------------------------------------------------------------------------


@pytest.fixture
def pending(site: Site) -> int:
    """A pension batch of PEOPLE people, pending approval, and approvers minh and hoa."""
    keyring = Keyring.init(site.root / "keys")
    rows = [list_row(serial) for serial in range(1, PEOPLE + 1)]
    path = write_csv(site.root / "pension.csv", rows)
    password_hash = PasswordHasher().hash(PASSWORD)
    records = [CitizenRecord(r["citizen_id"], r["full_name"],
                             date.fromisoformat(r["date_of_birth"]), r["gender"],
                             RegistryStatus.ALIVE, None, r["province_code"], r["commune_code"])
               for r in rows]
    registry = StaticPopulationRegistry(records)
    with unit_of_work(site.factory, write=True) as session:
        session.execute(insert(User), [
            {"name": n, "role": r.value, "bank_bin": None, "password_hash": password_hash,
             "active": True, "created_at": utcnow()}
            for n, r in (("lan", Role.PREPARER), ("minh", Role.APPROVER),
                         ("hoa", Role.APPROVER))])
        report = import_list(session, keyring, path, programme="pension", actor="lan",
                             today=TODAY, options=ImportOptions())
        assert report.counts.added == PEOPLE
        verify(session, keyring, registry, scope=VerifyScope(), actor="nightly")
        summary = service.create_batch(session, programme="pension", period="2026-11",
                                       actor="lan", routing=load_routing(), max_age_days=30,
                                       today=TODAY)
        service.submit_batch(session, summary.batch_id, actor="lan")
    return summary.batch_id


def assert_one_approval(site: Site, batch_id: int, winner: str) -> None:
    """Exactly one approval, by ``winner``; the batch is approved; the audit chain holds."""
    assert site.count(sql_select(func.count()).select_from(Approval)
                      .where(Approval.batch_id == batch_id)) == 1
    assert site.count(sql_select(Approval.approver).where(Approval.batch_id == batch_id)) \
        == winner
    assert site.count(sql_select(Batch.state).where(Batch.id == batch_id)) == "approved"
    assert site.count(sql_select(func.count()).select_from(Instruction)
                      .where(Instruction.batch_id == batch_id)) == PEOPLE


def test_two_approvers_over_http_one_wins_the_other_gets_409(site: Site, pending: int) -> None:
    servers = [site.serve(), site.serve()]  # two worker processes on one database

    def approve(base: str, user: str) -> Callable[[], httpx.Response]:
        return lambda: post(base, f"/api/v1/batches/{pending}/approve", json={},
                            auth=(user, PASSWORD))

    results = together(approve(servers[0], "minh"), approve(servers[1], "hoa"))

    assert all(isinstance(r, httpx.Response) for r in results), results
    won = [(user, r) for user, r in zip(("minh", "hoa"), results, strict=True)
           if r.status_code == 200]
    lost = [r for r in results if r.status_code != 200]
    assert len(won) == 1 and len(lost) == 1, [(r.status_code, r.text) for r in results]
    body = assert_clean_refusal(lost[0])
    assert body["code"] in ("invalid_transition", "concurrent_change"), body
    assert won[0][1].json()["state"] == "approved"
    assert_one_approval(site, pending, won[0][0])


def test_two_approvers_on_the_command_line_one_wins_the_other_exits_1(site: Site,
                                                                       pending: int) -> None:
    def approve(user: str) -> Callable[[], tuple[int, str, str]]:
        return lambda: finished(site.cli("batch", "approve", str(pending), "--actor", user))

    results = together(approve("minh"), approve("hoa"))

    codes = sorted(code for code, _, _ in results)
    assert codes == [0, 1], results
    (winner,) = [user for user, (code, _, _) in zip(("minh", "hoa"), results, strict=True)
                 if code == 0]
    (_, _, err), = [r for r in results if r[0] == 1]
    assert err.startswith("Error: ") and INTERNAL not in err and "Traceback" not in err, err
    assert "approv" in err.lower() or "concurrent" in err.lower(), err
    assert_one_approval(site, pending, winner)


# --- bank returns ---------------------------------------------------------------------------


@dataclass
class Returns:
    """A submitted batch of six bank payments (people 1-6) and the bank's means to answer."""

    token: str
    sign: Callable[[bytes], bytes]
    instructions: dict[int, int]


@pytest.fixture
def returns(site: Site) -> Returns:
    """The reconciliation world (bank 970436, six payments sent), plus the bank's API token."""
    with unit_of_work(site.factory, write=True) as session:
        world = build_world(session, site.root)
        token = banks.issue_token(session, BANK_BIN, actor="root")
    return Returns(token, world.bank_key.sign, world.instructions)


def upload(base: str, data: bytes, signature: bytes, token: str,
           name: str = "returns.xml") -> Callable[[], httpx.Response]:
    """A contender that uploads one signed return file to the server at ``base``."""
    files = {"file": (name, io.BytesIO(data), "application/xml"),
             "signature": (f"{name}.sig", io.BytesIO(signature), "application/octet-stream")}
    return lambda: post(base, "/api/v1/bank/returns", files=files,
                        headers={"Authorization": f"Bearer {token}"})


def states(site: Site, world: Returns) -> dict[int, str]:
    """Each person's instruction state."""
    with unit_of_work(site.factory) as session:
        return {n: session.get_one(Instruction, iid).state
                for n, iid in world.instructions.items()}


def events(site: Site) -> int:
    """Instruction events recorded so far."""
    return int(site.count(sql_select(func.count()).select_from(InstructionEvent)))


def settled(people: range, report_id: str) -> bytes:
    """A pain.002 that settles ``people``."""
    return pain002([(n, "ACSC", None, 1_500_000) for n in people], report_id=report_id)


def test_the_same_return_file_twice_at_once_is_applied_once_and_once_duplicate(
        site: Site, returns: Returns) -> None:
    servers = [site.serve(), site.serve()]
    data = settled(range(1, 7), "VCB-STS-SAME")
    signature = returns.sign(data)

    results = together(*(upload(base, data, signature, returns.token) for base in servers))

    assert all(isinstance(r, httpx.Response) for r in results), results
    assert sorted(r.status_code for r in results) == [200, 201], [r.text for r in results]
    outcomes = sorted(r.json()["outcome"] for r in results)
    assert outcomes == ["applied", "duplicate"], outcomes
    assert site.count(sql_select(func.count()).select_from(ReceivedReturnFile)) == 1
    assert states(site, returns) == dict.fromkeys(range(1, 7), "paid")
    assert events(site) == 6  # applied once: one event per payment


def test_two_different_return_files_at_once_are_both_applied(site: Site,
                                                             returns: Returns) -> None:
    servers = [site.serve(), site.serve()]
    first, second = settled(range(1, 4), "VCB-STS-A"), settled(range(4, 7), "VCB-STS-B")

    results = together(upload(servers[0], first, returns.sign(first), returns.token, "a.xml"),
                       upload(servers[1], second, returns.sign(second), returns.token, "b.xml"))

    assert all(isinstance(r, httpx.Response) for r in results), results
    statuses = sorted(r.status_code for r in results)
    assert statuses in ([201, 201], [201, 409]), [r.text for r in results]
    applied = {name for name, r in zip(("a", "b"), results, strict=True) if r.status_code == 201}
    for r in results:
        if r.status_code == 409:
            assert_clean_refusal(r)
    expected = {**({n: "paid" for n in range(1, 4)} if "a" in applied else
                   dict.fromkeys(range(1, 4), "instructed")),
                **({n: "paid" for n in range(4, 7)} if "b" in applied else
                   dict.fromkeys(range(4, 7), "instructed"))}
    assert states(site, returns) == expected
    assert site.count(sql_select(func.count()).select_from(ReceivedReturnFile)) == len(applied)
    assert events(site) == 3 * len(applied)


def test_the_same_return_file_from_two_command_lines_is_applied_once(site: Site,
                                                                     returns: Returns) -> None:
    data = settled(range(1, 7), "VCB-STS-CLI")
    path = site.root / "returns.xml"
    path.write_bytes(data)
    path.with_name("returns.xml.sig").write_bytes(returns.sign(data))

    def take_in() -> tuple[int, str, str]:
        return finished(site.cli("returns", "import", str(path), "--bank", BANK_BIN,
                                 "--actor", "root", "--json"))

    results = together(take_in, take_in)

    assert [code for code, _, _ in results] == [0, 0], results
    outcomes = sorted(re.search(r'"outcome": "(\w+)"', out).group(1)  # type: ignore[union-attr]
                      for _, out, _ in results)
    assert outcomes == ["applied", "duplicate"], results
    assert site.count(sql_select(func.count()).select_from(ReceivedReturnFile)) == 1
    assert states(site, returns) == dict.fromkeys(range(1, 7), "paid")
    assert events(site) == 6


# --- a return file while a list is imported -------------------------------------------------


def test_a_return_import_while_a_list_import_runs(site: Site, returns: Returns) -> None:
    size = 3000
    listing = write_csv(site.root / "big.csv",
                        [list_row(serial) for serial in range(10_001, 10_001 + size)])
    data = settled(range(1, 7), "VCB-STS-DURING")
    path = site.root / "during.xml"
    path.write_bytes(data)
    path.with_name("during.xml.sig").write_bytes(returns.sign(data))
    server = site.serve()
    before = int(site.count(sql_select(func.count()).select_from(Beneficiary)))
    imports = int(site.count(sql_select(func.count()).select_from(ListImport)))

    importing = site.cli("beneficiaries", "import", str(listing), "--program", "pension",
                         "--actor", "lan", "--json")
    time.sleep(1.5)  # the command has started and is reading or writing the list by now
    results = together(upload(server, data, returns.sign(data), returns.token, "during.xml"))
    code, out, err = finished(importing)

    assert code == 0, (out, err)
    assert isinstance(results[0], httpx.Response), results
    response = results[0]
    assert response.status_code in (201, 409), response.text
    if response.status_code == 409:
        assert_clean_refusal(response)
        expected = "instructed"
    else:
        assert response.json()["outcome"] == "applied"
        expected = "paid"
    assert int(site.count(sql_select(func.count()).select_from(Beneficiary))) == before + size
    assert site.count(sql_select(func.count()).select_from(ListImport)) == imports + 1
    assert states(site, returns) == dict.fromkeys(range(1, 7), expected)
