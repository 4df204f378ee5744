"""The nightly scheduler's step runner on a real database, real files and a real lock.

The bank is the file-exchange route ``vcb`` (folders under the data directory); the
population registry is the in-memory ``StaticPopulationRegistry``, up or down. Proves: a
failing step (or batch) is recorded and the other steps still do their work; a second run
right after the first changes nothing; a run is refused while another holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import subprocess
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select as sql_select

from bank_adapters import banks
from bank_adapters.file_exchange import exchange_root
from bank_adapters.models import ReceivedReturnFile, Submission
from beneficiaries.registry.memory import StaticPopulationRegistry
from beneficiaries.registry.models import CitizenRecord, RegistryStatus
from beneficiaries.verification.models import Verification
from disburse.core import audit, signing
from disburse.core.private_files import write_atomically
from disburse.core.uow import unit_of_work
from disburse.entry.cli.main import cli
from disburse.entry.cli.scheduler import scheduler
from disburse.entry.context import Services, services
from disburse.entry.scheduler import (
    EXIT_BUSY,
    NightlyRun,
    StepOutcome,
    run_nightly,
    run_steps,
    scheduler_lock,
)
from disburse.payments.models import Batch
from disburse.payments.storage import payment_files_root
from tests.conftest import CliRun
from tests.integration.test_outbox import make_batch
from tests.listfiles import cccd, list_row, write_csv

# Until the lead registers the group in ``disburse.entry.cli.main._register``.
if "scheduler" not in cli.commands:
    cli.add_command(scheduler)

VCB = "970436"
PASSWORD = "mật khẩu đủ dài 123"
# A whole-file status for a MsgId never sent here: one record, queued for an auditor.
RETURN_XML = (b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12">'
              b"<CstmrPmtStsRpt><GrpHdr><MsgId>R1</MsgId>"
              b"<CreDtTm>2026-11-24T16:05:00+07:00</CreDtTm></GrpHdr><OrgnlGrpInfAndSts>"
              b"<OrgnlMsgId>NOT-OURS-1</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId>"
              b"<GrpSts>ACCP</GrpSts></OrgnlGrpInfAndSts></CstmrPmtStsRpt></Document>\n")


@dataclass
class World:
    svc: Services
    bank_key: signing.PrivateKey
    ready_batch: int  # files_ready: the run enqueues and delivers it
    broken_batch: int  # "approved" without any approval: writing its files must fail


def ok(result: Any) -> Any:
    assert result.exit_code == 0, (result.output, result.exception)
    return result


@pytest.fixture
def world(app: Flask, run_cli: CliRun, tmp_path: Path) -> World:
    """Keys, the vcb bank, two beneficiaries never verified, two batches, a return waiting."""
    svc = services(app)
    ok(run_cli("keys", "init"))
    ok(run_cli("users", "add", "lan", "--role", "preparer", "--password-stdin",
               input=PASSWORD + "\n"))
    path = write_csv(tmp_path / "pension.csv", [list_row(1), list_row(2)])
    ok(run_cli("beneficiaries", "import", str(path), "--program", "pension", "--actor", "lan"))
    bank_key = signing.generate_ed25519()
    service_key = signing.generate_ed25519()
    with unit_of_work(svc.session_factory) as session:
        banks.add_bank(session, bank_bin=VCB, name="VCB", route="vcb", actor="admin",
                       public_key_pem=signing.public_key_pem(bank_key.public_key()).decode())
        root = payment_files_root(svc.settings.data_dir)
        ready, _ = make_batch(session, root, service_key, ["vcb"], msg_prefix="R")
        broken, _ = make_batch(session, root, service_key, [], state="approved")
        ids = (ready.id, broken.id)
    inbox = exchange_root(svc.settings.data_dir, VCB) / "inbox"
    inbox.mkdir(parents=True)
    write_atomically(inbox / "status-1.xml.sig", bank_key.sign(RETURN_XML))
    write_atomically(inbox / "status-1.xml", RETURN_XML)
    return World(svc, bank_key, *ids)


def registry(*, up: bool) -> StaticPopulationRegistry:
    people = [CitizenRecord(cccd(n), "Nguyễn Thị Đào", date(1958, 3, 15), "female",
                            RegistryStatus.ALIVE, None, "01", "00004") for n in (1, 2)]
    return StaticPopulationRegistry(people, up=up)


def count(svc: Services, model: Any) -> int:
    with unit_of_work(svc.session_factory) as session:
        return int(session.execute(sql_select(func.count()).select_from(model)).scalar_one())


def batch_state(svc: Services, batch_id: int) -> str:
    with unit_of_work(svc.session_factory) as session:
        return session.get_one(Batch, batch_id).state


def snapshot(svc: Services) -> dict[str, Any]:
    """What a run could change: rows of every kind it writes, states, and the bank's folders."""
    exchange = exchange_root(svc.settings.data_dir, VCB)
    with unit_of_work(svc.session_factory) as session:
        states = dict(session.execute(sql_select(Batch.id, Batch.state)).tuples().all())
        subs = dict(session.execute(sql_select(Submission.msg_id, Submission.state)
                                    ).tuples().all())
    return {"audit": count(svc, audit.AuditEntry), "verifications": count(svc, Verification),
            "returns": count(svc, ReceivedReturnFile), "batches": states, "submissions": subs,
            "files": sorted(str(p.relative_to(exchange)) for p in exchange.rglob("*")
                            if p.is_file())}


# --- the runner alone ---------------------------------------------------------------------


def test_runner_records_a_raising_step_and_runs_the_rest() -> None:
    ran: list[str] = []

    def good(name: str) -> Any:
        def step() -> StepOutcome:
            ran.append(name)
            return StepOutcome({"done": 1}, changed=1)
        return step

    def broken() -> StepOutcome:
        ran.append("broken")
        raise RuntimeError("disk full")

    report = run_steps([("a", good("a")), ("b", broken), ("c", good("c"))])
    assert ran == ["a", "broken", "c"]
    assert [(s.name, s.ok) for s in report.steps] == [("a", True), ("b", False), ("c", True)]
    assert report.steps[1].problems == ["RuntimeError: disk full"]
    assert (report.ok, report.changed) == (False, 2)


# --- the nightly steps --------------------------------------------------------------------


def test_a_failing_step_is_recorded_and_the_others_still_run(world: World) -> None:
    svc = world.svc
    report = run_nightly(svc, registry_factory=lambda: registry(up=False))
    steps = {s.name: s for s in report.steps}
    assert [s.name for s in report.steps] == ["reverify", "batches", "deliver", "fetch_returns",
                                              "audit_checkpoint"]
    assert not report.ok
    # The registry was down for everyone: the step failed and kept nothing.
    assert not steps["reverify"].ok
    assert steps["reverify"].counts["checked"] == 2
    assert "could not be reached for 2 of 2" in steps["reverify"].problems[0]
    assert count(svc, Verification) == 0
    # One batch failed on its own; the other was still enqueued.
    assert not steps["batches"].ok
    assert len(steps["batches"].problems) == 1
    assert steps["batches"].problems[0].startswith(f"batch {world.broken_batch}: ")
    assert steps["batches"].counts["enqueued"] == 1
    assert batch_state(svc, world.broken_batch) == "approved"
    assert batch_state(svc, world.ready_batch) == "submitted"
    # Delivery and the fetch were not held back by the failures before them.
    assert steps["deliver"].ok and steps["deliver"].counts["accepted"] == 1
    outbox = exchange_root(svc.settings.data_dir, VCB) / "outbox"
    assert (outbox / f"RB{world.ready_batch}-vcb-1.xml").is_file()
    assert steps["fetch_returns"].ok
    assert (steps["fetch_returns"].counts["applied"], steps["fetch_returns"].counts["files"]) \
        == (1, 1)
    with unit_of_work(svc.session_factory) as session:
        (row,) = session.execute(sql_select(ReceivedReturnFile)).scalars()
        assert (row.state, row.source, row.signature_valid) == ("received", "fetch", True)
    # Acknowledged only after it was stored: it moved from the inbox to the archive.
    exchange = exchange_root(svc.settings.data_dir, VCB)
    assert not (exchange / "inbox" / "status-1.xml").exists()
    assert (exchange / "archive" / "status-1.xml").read_bytes() == RETURN_XML


def test_cli_exit_status_is_1_when_a_step_failed(world: World, run_cli: CliRun) -> None:
    # The configured registry (nothing listens on it) cannot be reached.
    result = run_cli("scheduler", "run", "--once", "--json")
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)
    assert body["ok"] is False
    assert {s["name"]: s["ok"] for s in body["steps"]} == {
        "reverify": False, "batches": False, "deliver": True, "fetch_returns": True,
        "audit_checkpoint": True}


def test_a_quarantined_return_is_taken_in_through_the_same_path(world: World) -> None:
    inbox = exchange_root(world.svc.settings.data_dir, VCB) / "inbox"
    tampered = RETURN_XML.replace(b"NOT-OURS", b"NOT-OURZ")
    write_atomically(inbox / "status-2.xml.sig", world.bank_key.sign(RETURN_XML))
    write_atomically(inbox / "status-2.xml", tampered)
    report = run_nightly(world.svc, registry_factory=lambda: registry(up=True))
    fetch = {s.name: s for s in report.steps}["fetch_returns"]
    assert (fetch.counts["applied"], fetch.counts["quarantined"]) == (1, 1)
    with unit_of_work(world.svc.session_factory) as session:
        states = dict(session.execute(sql_select(ReceivedReturnFile.file_name,
                                                 ReceivedReturnFile.state)).tuples().all())
    assert states == {"status-1.xml": "received", "status-2.xml": "quarantined"}


def test_second_run_right_after_changes_nothing(world: World) -> None:
    svc = world.svc
    with unit_of_work(svc.session_factory) as session:  # a batch that can be advanced
        session.get_one(Batch, world.broken_batch).state = "cancelled"
    first = run_nightly(svc, registry_factory=lambda: registry(up=True))
    assert first.ok, [s.problems for s in first.steps]
    assert {s.name: s.changed for s in first.steps} == {
        "reverify": 2, "batches": 1, "deliver": 1, "fetch_returns": 1, "audit_checkpoint": 0}
    before = snapshot(svc)
    second = run_nightly(svc, registry_factory=lambda: registry(up=True))
    assert second.ok
    assert second.changed == 0
    assert {s.name: s.changed for s in second.steps} == {
        "reverify": 0, "batches": 0, "deliver": 0, "fetch_returns": 0, "audit_checkpoint": 0}
    assert second.steps[0].counts["checked"] == 0
    assert snapshot(svc) == before  # not even an audit entry


def test_outbox_fetch_returns_takes_the_same_intake_path(world: World,
                                                        run_cli: CliRun) -> None:
    result = run_cli("outbox", "fetch-returns", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["counts"]["applied"] == 1
    assert [(f["bank_bin"], f["name"], f["outcome"]) for f in body["files"]] == [
        (VCB, "status-1.xml", "applied")]
    store = world.svc.settings.data_dir / "returns" / VCB
    sha = hashlib.sha256(RETURN_XML).hexdigest()
    assert (store / sha).read_bytes() == RETURN_XML
    world.bank_key.public_key().verify((store / f"{sha}.sig").read_bytes(), RETURN_XML)
    again = json.loads(run_cli("outbox", "fetch-returns", "--json").stdout)
    assert again["counts"]["files"] == 0  # acknowledged: the bank no longer offers it


# --- the lock -----------------------------------------------------------------------------

_HOLDER = """
import sys
from pathlib import Path
from disburse.entry.scheduler import scheduler_lock
with scheduler_lock(Path(sys.argv[1])):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def test_a_run_is_refused_while_another_process_holds_the_lock(world: World,
                                                               run_cli: CliRun) -> None:
    data_dir = world.svc.settings.data_dir
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(data_dir)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                              env=env)
    try:
        assert holder.stdout is not None
        ready, _, _ = select.select([holder.stdout], [], [], 20)
        assert ready and holder.stdout.readline().strip() == "locked"
        before = snapshot(world.svc)
        refused = run_cli("scheduler", "run", "--once")
        assert refused.exit_code == EXIT_BUSY
        assert refused.stderr.strip().splitlines() == [
            f"Error: Scheduler busy: another scheduler run holds {data_dir / 'scheduler.lock'}"]
        assert snapshot(world.svc) == before  # refused before doing anything
    finally:
        assert holder.stdin is not None
        holder.stdin.close()  # the holder leaves its block and exits
        holder.wait(timeout=10)
    # The holder is gone, so is its lock: the next run goes ahead.
    report = NightlyRun(world.svc, registry_factory=lambda: registry(up=True))
    with scheduler_lock(data_dir, world.svc.engine):
        assert report.run().steps[1].counts["enqueued"] == 1


def test_overlapping_runs_in_one_process_are_refused(world: World) -> None:
    from disburse.entry.scheduler import SchedulerBusy

    with scheduler_lock(world.svc.settings.data_dir, world.svc.engine), \
            pytest.raises(SchedulerBusy):
        run_nightly(world.svc, registry_factory=lambda: registry(up=True))
    assert batch_state(world.svc, world.ready_batch) == "files_ready"
