"""The forked validation worker of ``import_list``: same result as in-process, never a hang.

A large list is read and validated one chunk ahead in a forked process
(``beneficiaries.pipeline``). These tests force the worker on with small chunks and prove that
the report and the stored rows are exactly those of the in-process path, and that a worker
that raises, exits or is killed stops the import with a clear error and writes nothing.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

import beneficiaries.pipeline as pipeline
import beneficiaries.service as service
from beneficiaries.models import Beneficiary
from beneficiaries.pipeline import ValidationWorkerFailed
from beneficiaries.report import ImportReport
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.validation import validate_chunk
from disburse.core.keyring import Keyring
from tests.listfiles import OTHER_COMMUNE, Row, account, cccd, list_row, write_csv

TODAY = date(2026, 11, 23)

pytestmark = pytest.mark.skipif(not pipeline.available(), reason="needs fork and two CPUs")


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    """A keyring of this test's own."""
    return Keyring.init(tmp_path / "keys")


def mixed_rows() -> list[Row]:
    """Valid rows, row errors, review flags and file duplicates spread over several chunks."""
    rows = [list_row(n) for n in range(1, 25)]
    rows[2] = list_row(3, citizen_id=cccd(3)[1:])             # lost leading zero
    rows[5] = list_row(6, amount="3.500.000,50")              # decimals
    rows[8] = list_row(9, account_holder="DAO THI NGUYEN")    # token order: review flag
    rows[11] = list_row(12, commune_code=OTHER_COMMUNE, full_name="Trần Văn Bình",
                        gender="male", citizen_id=cccd(12, female=False),
                        account_holder="TRAN VAN BINH")
    rows[14] = list_row(5)                                     # same CCCD as row 5
    rows[17] = list_row(18, account_number=account(17))       # account shared with row 17
    rows[20] = list_row(21, channel="cash", bank_bin="", account_number="", account_holder="")
    rows[22] = list_row(23, date_of_birth="31/02/1958")        # no such date
    return rows


def run_import(session: Session, keyring: Keyring, path: Path, *, parallel: bool,
               tmp_path: Path, **options: Any) -> ImportReport:
    """Import ``path`` as ``lan`` with the worker forced on or off, in chunks of 4 rows."""
    store = tmp_path / ("store-parallel" if parallel else "store-inline")
    return import_list(session, keyring, path, programme="pension", actor="lan", today=TODAY,
                       options=ImportOptions(parallel=parallel, chunk_size=4, store_dir=store,
                                             **options))


def stored_rows(session: Session, keyring: Keyring) -> list[tuple[Any, ...]]:
    """Every stored beneficiary in plain form, in CCCD order."""
    session.expire_all()
    rows = session.execute(select(Beneficiary)).scalars()
    return sorted(
        (keyring.decrypt("citizen_id", b.citizen_id_enc), b.full_name, b.date_of_birth,
         b.commune_code, b.monthly_amount, b.channel, b.bank_bin,
         None if b.account_enc is None
         else keyring.decrypt("account_number", b.account_enc),
         tuple(b.review_flags or ()), b.status, b.source_row)
        for b in rows)


def comparable(report: ImportReport) -> dict[str, Any]:
    """The report without what differs between two imports of one file (ids, store paths)."""
    data = report.to_dict()
    for key in ("import_id", "previous_import_id"):
        data.pop(key)
    return data


def both_ways(session: Session, keyring: Keyring, tmp_path: Path, rows: list[Row],
              **options: Any) -> tuple[tuple[dict[str, Any], list[tuple[Any, ...]]], ...]:
    """Import the same list in-process and with the worker, each in a rolled-back savepoint."""
    path = write_csv(tmp_path / "list.csv", rows)
    results = []
    for parallel in (False, True):
        savepoint = session.begin_nested()
        report = run_import(session, keyring, path, parallel=parallel, tmp_path=tmp_path,
                            **options)
        results.append((comparable(report), stored_rows(session, keyring)))
        savepoint.rollback()
    return tuple(results)


def test_worker_gives_the_same_report_and_rows_with_accept_valid(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    inline, forked = both_ways(session, keyring, tmp_path, mixed_rows(), accept_valid=True)
    assert forked == inline
    report, rows = forked
    assert report["outcome"] == "applied"
    assert sorted((e["row"], e["code"]) for e in report["errors"]) == [
        (4, "cccd_leading_zero_lost"), (6, "duplicate_in_file"), (7, "amount_decimal"),
        (16, "duplicate_in_file"), (24, "date_format")]
    assert any(f["code"] == "holder_name_token_order" for f in report["flags"])
    assert (report["counts"]["added"], report["counts"]["rejected"]) == (19, 5)
    assert len(rows) == 19


def test_worker_gives_the_same_rejection_all_or_nothing(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    inline, forked = both_ways(session, keyring, tmp_path, mixed_rows())
    assert forked == inline
    report, rows = forked
    assert report["outcome"] == "rejected"
    assert rows == []


def failing_chunk(action: Callable[[], None]) -> Callable[..., Any]:
    """``validate_chunk`` that runs ``action`` in the worker on the second chunk."""
    calls = {"n": 0}

    def validate(ctx: Any, chunk: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            action()
        return validate_chunk(ctx, chunk)
    return validate


def _raise() -> None:
    raise RuntimeError("disk on fire")


@pytest.mark.parametrize(("action", "expected"), [
    (_raise, "RuntimeError: disk on fire"),
    (lambda: os._exit(3), "exit code 3"),
    (lambda: os.kill(os.getpid(), signal.SIGKILL), f"exit code -{int(signal.SIGKILL)}"),
], ids=["raises", "exits", "killed"])
def test_a_failing_worker_stops_the_import_and_writes_nothing(
        session: Session, keyring: Keyring, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        action: Callable[[], None], expected: str) -> None:
    monkeypatch.setattr(pipeline, "validate_chunk", failing_chunk(action))
    before = session.execute(select(func.count()).select_from(Beneficiary)).scalar_one()
    path = write_csv(tmp_path / "list.csv", [list_row(n) for n in range(1, 13)])

    with pytest.raises(ValidationWorkerFailed) as failure:
        run_import(session, keyring, path, parallel=True, tmp_path=tmp_path, accept_valid=True)

    assert expected in str(failure.value.detail)
    assert "nothing was imported" in str(failure.value.detail)
    after = session.execute(select(func.count()).select_from(Beneficiary)).scalar_one()
    assert after == before


def test_a_small_list_is_validated_in_process(
        session: Session, keyring: Keyring, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_worker(*_: Any, **__: Any) -> None:
        raise AssertionError("a list of one chunk must not start a worker")
    monkeypatch.setattr(service, "ValidationWorker", no_worker)
    path = write_csv(tmp_path / "list.csv", [list_row(n) for n in range(1, 4)])
    report = import_list(session, keyring, path, programme="pension", actor="lan",
                         today=TODAY, options=ImportOptions(store_dir=tmp_path / "store"))
    assert (report.outcome, report.counts.added) == ("applied", 3)
