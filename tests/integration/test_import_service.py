"""``beneficiaries.service.import_list`` on a real database: whole files from disk to rows.

Each test runs in its own savepoint (see ``tests/conftest.py``) with a fresh keyring, so the
counts read here are those of the test's own imports.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.orm import Session

from beneficiaries.columns import LIST_COLUMNS
from beneficiaries.models import Beneficiary, BeneficiaryHistory, ListImport
from beneficiaries.report import ImportReport
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.stored import StoredPart, open_part
from beneficiaries.synth import write_lists, write_population_csv
from disburse.core.audit import AuditEntry
from disburse.core.keyring import Keyring
from tests.listfiles import (
    COMMUNE,
    OTHER_COMMUNE,
    Row,
    account,
    cccd,
    csv_bytes,
    header_row,
    list_row,
    write_csv,
)

TODAY = date(2026, 11, 23)


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    """A keyring of this test's own."""
    return Keyring.init(tmp_path / "keys")


def run_import(session: Session, keyring: Keyring, path: Path, *, programme: str = "pension",
               today: date = TODAY, **options: Any) -> ImportReport:
    """Import ``path`` as the preparer ``lan``."""
    return import_list(session, keyring, path, programme=programme, actor="lan", today=today,
                       options=ImportOptions(**options))


def beneficiary_count(session: Session) -> int:
    """Rows in ``beneficiaries`` as this test sees them."""
    return session.execute(select(func.count()).select_from(Beneficiary)).scalar_one()


def find(session: Session, keyring: Keyring, citizen_id: str,
         programme: str = "pension") -> Beneficiary:
    """The beneficiary of ``programme`` with ``citizen_id``, read fresh from the database."""
    session.expire_all()
    return session.execute(select(Beneficiary).where(
        Beneficiary.programme == programme,
        Beneficiary.citizen_id_idx == keyring.blind_index("citizen_id", citizen_id),
    )).scalar_one()


def history(session: Session, beneficiary_id: int) -> list[BeneficiaryHistory]:
    """The history rows of a beneficiary, oldest first."""
    return list(session.execute(
        select(BeneficiaryHistory).where(BeneficiaryHistory.beneficiary_id == beneficiary_id)
        .order_by(BeneficiaryHistory.version, BeneficiaryHistory.id)).scalars())


def codes_by_row(report: ImportReport) -> dict[int, set[str]]:
    """Blocking error codes of the report, by spreadsheet row."""
    found: dict[int, set[str]] = {}
    for finding in report.errors:
        found.setdefault(finding.row, set()).add(finding.code)
    return found


def csv_list(tmp_path: Path, name: str, rows: Iterable[Row], **kwargs: Any) -> Path:
    """Write rows as a CSV list named ``name`` in the test's directory."""
    return write_csv(tmp_path / name, list(rows), **kwargs)


def assert_counts_add_up(report: ImportReport) -> None:
    """Every row went exactly one way."""
    c = report.counts
    assert c.rows == c.added + c.updated + c.unchanged + c.rejected, c


# --- all or nothing -------------------------------------------------------------------------


def test_one_bad_row_rejects_the_whole_file(session: Session, keyring: Keyring,
                                           tmp_path: Path) -> None:
    header = [h.upper() for h in header_row("vi")]  # headers are matched case-insensitively
    rows = [list_row(1), list_row(2, amount="một triệu"), list_row(3)]
    path = csv_list(tmp_path, "danh-sach.csv", rows, header=header)
    before = beneficiary_count(session)

    report = run_import(session, keyring, path)

    assert report.outcome == "rejected"
    assert beneficiary_count(session) == before
    assert (report.counts.added, report.counts.updated, report.counts.rejected) == (0, 0, 1)
    [error] = report.errors
    assert (error.file, error.row, error.column, error.code) == (
        "danh-sach.csv", 3, "SỐ TIỀN", "amount_format")
    assert "danh-sach.csv" in error.file and error.message_en and error.message_vi
    record = session.get(ListImport, report.import_id)
    assert record is not None and record.outcome == "rejected"
    assert record.counts["rejected"] == 1
    audit = session.execute(select(AuditEntry).where(
        AuditEntry.action == "beneficiaries.import.rejected",
        AuditEntry.object_id == str(report.import_id))).scalar_one()
    assert audit.actor == "lan"


@pytest.mark.parametrize("chunk_size", [1, 2])
def test_a_bad_row_in_a_later_chunk_still_rejects_everything(
        session: Session, keyring: Keyring, tmp_path: Path, chunk_size: int) -> None:
    rows = [list_row(n) for n in range(1, 6)] + [list_row(6, province_code="99")]
    before = beneficiary_count(session)
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", rows),
                        chunk_size=chunk_size)
    assert report.outcome == "rejected"
    assert codes_by_row(report) == {7: {"province_unknown"}}
    assert report.counts.rows == 6
    assert beneficiary_count(session) == before


def test_accept_valid_across_chunks_counts_every_row(session: Session, keyring: Keyring,
                                                     tmp_path: Path) -> None:
    rows = [list_row(n, amount="0" if n % 3 == 0 else "3500000") for n in range(1, 10)]
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", rows), chunk_size=2,
                        accept_valid=True)
    assert (report.counts.rows, report.counts.added, report.counts.rejected) == (9, 6, 3)
    assert set(codes_by_row(report)) == {4, 7, 10}
    assert_counts_add_up(report)


def test_rejected_file_is_not_a_duplicate_when_sent_again(session: Session, keyring: Keyring,
                                                         tmp_path: Path) -> None:
    path = csv_list(tmp_path, "l.csv", [list_row(1, gender="robot")])
    first = run_import(session, keyring, path)
    second = run_import(session, keyring, path)
    assert (first.outcome, second.outcome) == ("rejected", "rejected")
    assert second.previous_import_id is None


def test_accept_valid_writes_the_valid_rows_and_reports_the_rest(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    rows = [
        list_row(1),
        list_row(2, citizen_id=cccd(2)[1:]),  # 11 digits: the leading zero was lost
        list_row(3, account_holder="DAO THI NGUYEN"),  # same words, other order: review
        list_row(4, date_of_birth="31/02/1958"),
        list_row(5),
    ]
    before = beneficiary_count(session)

    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", rows), accept_valid=True)

    assert report.outcome == "applied"
    assert report.mode == "accept_valid"
    assert (report.counts.rows, report.counts.added, report.counts.rejected) == (5, 3, 2)
    assert report.counts.flagged == 1
    assert_counts_add_up(report)
    assert set(codes_by_row(report)) == {3, 5}
    assert [(f.row, f.code) for f in report.flags] == [(4, "holder_name_token_order")]
    assert beneficiary_count(session) == before + 3
    assert find(session, keyring, cccd(3)).review_flags == ["holder_name_token_order"]


# --- re-imports -----------------------------------------------------------------------------


def test_same_file_again_is_a_duplicate_and_changes_nothing(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    path = csv_list(tmp_path, "l.csv", [list_row(1), list_row(2)])
    first = run_import(session, keyring, path)
    assert first.outcome == "applied"
    count, version = beneficiary_count(session), find(session, keyring, cccd(1)).version
    renamed = tmp_path / "renamed.csv"
    renamed.write_bytes(path.read_bytes())

    for again in (path, renamed):
        report = run_import(session, keyring, again)
        assert report.outcome == "duplicate_file"
        assert report.previous_import_id == first.import_id
        assert report.counts.rows == report.counts.added == report.counts.updated == 0
        record = session.get(ListImport, report.import_id)
        assert record is not None and record.outcome == "duplicate_file"
        assert session.execute(select(AuditEntry.action).where(
            AuditEntry.object_id == str(report.import_id))).scalar_one() == (
            "beneficiaries.import.duplicate_file")
    assert beneficiary_count(session) == count
    assert find(session, keyring, cccd(1)).version == version
    assert find(session, keyring, cccd(1)).last_seen_import_id == first.import_id


def test_same_bytes_for_another_programme_are_not_a_duplicate(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    path = csv_list(tmp_path, "l.csv", [list_row(1)])
    assert run_import(session, keyring, path).outcome == "applied"
    other = run_import(session, keyring, path, programme="revolutionary")
    assert other.outcome == "applied"
    assert other.previous_import_id is None
    assert other.counts.added == 1
    assert find(session, keyring, cccd(1), "revolutionary").monthly_amount == 3_500_000


def test_newer_list_updates_adds_and_reports_absent(session: Session, keyring: Keyring,
                                                    tmp_path: Path) -> None:
    old = [list_row(1), list_row(2), list_row(3)]
    run_import(session, keyring, csv_list(tmp_path, "october.csv", old))
    new = [list_row(1, amount="3.800.000", account_number=account(91)), list_row(2),
           list_row(4)]

    report = run_import(session, keyring, csv_list(tmp_path, "november.csv", new))

    c = report.counts
    assert (c.updated, c.unchanged, c.added, c.absent, c.ended) == (1, 1, 1, 1, 0)
    assert_counts_add_up(report)
    changed = find(session, keyring, cccd(1))
    assert (changed.monthly_amount, changed.version) == (3_800_000, 2)
    assert keyring.decrypt("account_number", changed.account_enc or b"") == account(91)
    [entry] = [h for h in history(session, changed.id) if h.change == "updated"]
    assert entry.version == 2 and entry.import_id == report.import_id
    assert set(entry.changed) == {"monthly_amount", "account_number"}
    assert entry.changed["monthly_amount"] == {"from": "3500000", "to": "3800000"}
    stored = json.dumps(entry.changed)
    for secret in (account(1), account(91), cccd(1)):
        assert secret not in stored
    absent = find(session, keyring, cccd(3))
    assert absent.status == "active"
    assert [a["beneficiary_id"] for a in report.absent] == [absent.id]
    assert find(session, keyring, cccd(4)).source_import_id == report.import_id


def test_end_missing_ends_the_absent_with_history(session: Session, keyring: Keyring,
                                                  tmp_path: Path) -> None:
    run_import(session, keyring, csv_list(tmp_path, "a.csv", [list_row(1), list_row(2)]))
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [list_row(1)]),
                        end_missing=True)
    assert (report.counts.absent, report.counts.ended, report.counts.unchanged) == (1, 1, 1)
    ended = find(session, keyring, cccd(2))
    assert (ended.status, ended.version) == ("ended", 2)
    assert [h.change for h in history(session, ended.id)][-1] == "ended"
    assert find(session, keyring, cccd(1)).status == "active"


def test_a_rejected_row_is_not_absent_and_never_ended(session: Session, keyring: Keyring,
                                                      tmp_path: Path) -> None:
    run_import(session, keyring, csv_list(tmp_path, "a.csv", [list_row(1), list_row(2)]))
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [
        list_row(1), list_row(2, amount="3.500.000,50")]), accept_valid=True, end_missing=True)
    assert codes_by_row(report) == {3: {"amount_decimal"}}
    assert find(session, keyring, cccd(2)).status == "active"
    assert report.counts.ended == 0


def test_absent_only_counts_the_communes_in_the_file(session: Session, keyring: Keyring,
                                                     tmp_path: Path) -> None:
    run_import(session, keyring, csv_list(tmp_path, "a.csv", [
        list_row(1), list_row(2, commune_code=OTHER_COMMUNE)]))
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [list_row(3)]),
                        end_missing=True)
    assert report.counts.absent == report.counts.ended == 1
    assert find(session, keyring, cccd(2)).status == "active"
    assert find(session, keyring, cccd(1)).status == "ended"


def _set_status(session: Session, keyring: Keyring, citizen_id: str, status: str) -> None:
    target = find(session, keyring, citizen_id)
    session.execute(update(Beneficiary).where(Beneficiary.id == target.id)
                    .values(status=status, status_reason="set by the test"))
    session.flush()


def test_a_list_never_reactivates_a_suspended_beneficiary(session: Session, keyring: Keyring,
                                                          tmp_path: Path) -> None:
    run_import(session, keyring, csv_list(tmp_path, "a.csv", [list_row(1)]))
    _set_status(session, keyring, cccd(1), "suspended")
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [
        list_row(1, amount="3600000"), list_row(2)]))
    assert report.outcome == "applied"
    kept = find(session, keyring, cccd(1))
    assert (kept.status, kept.status_reason) == ("suspended", "set by the test")


def test_a_list_reactivates_an_ended_beneficiary(session: Session, keyring: Keyring,
                                                 tmp_path: Path) -> None:
    run_import(session, keyring, csv_list(tmp_path, "a.csv", [list_row(1)]))
    _set_status(session, keyring, cccd(1), "ended")
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [list_row(1),
                                                                       list_row(2)]))
    back = find(session, keyring, cccd(1))
    assert back.status == "active" and back.status_reason is None
    assert report.counts.updated == 1
    assert history(session, back.id)[-1].change == "reactivated"


# --- duplicates -----------------------------------------------------------------------------


def test_citizen_active_from_another_commune_is_refused(session: Session, keyring: Keyring,
                                                        tmp_path: Path) -> None:
    first = run_import(session, keyring, csv_list(tmp_path, "a.csv", [list_row(1)]))
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [
        list_row(2, commune_code=OTHER_COMMUNE), list_row(1, commune_code=OTHER_COMMUNE)]))
    assert report.outcome == "rejected"
    assert codes_by_row(report) == {3: {"duplicate_in_programme"}}
    assert find(session, keyring, cccd(1)).commune_code == COMMUNE
    assert find(session, keyring, cccd(1)).source_import_id == first.import_id


def test_same_citizen_twice_in_a_file_refuses_both_rows(session: Session, keyring: Keyring,
                                                        tmp_path: Path) -> None:
    rows = [list_row(1), list_row(2), list_row(1, account_number=account(77))]
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", rows), accept_valid=True)
    assert codes_by_row(report) == {2: {"duplicate_in_file"}, 4: {"duplicate_in_file"}}
    assert (report.counts.added, report.counts.rejected) == (1, 2)


def _shared_account_rows() -> list[Row]:
    shared = account(50)
    return [list_row(1, account_number=shared), list_row(2, account_number=shared), list_row(3)]


def test_account_shared_in_the_file_is_reported_not_refused(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", _shared_account_rows()))
    assert report.outcome == "applied"
    assert (report.counts.added, report.counts.rejected) == (3, 0)
    assert sorted((f.row, f.code) for f in report.flags) == [(2, "account_shared"),
                                                            (3, "account_shared")]
    assert find(session, keyring, cccd(3)).review_flags == []


def test_account_shared_in_the_file_is_counted_and_stored_as_a_flag(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", _shared_account_rows()))
    assert report.counts.flagged == 2
    assert "account_shared" in find(session, keyring, cccd(1)).review_flags
    assert "account_shared" in find(session, keyring, cccd(2)).review_flags


def test_account_already_registered_to_another_person_is_flagged(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    run_import(session, keyring, csv_list(tmp_path, "a.csv", [list_row(1)]))
    report = run_import(session, keyring, csv_list(tmp_path, "b.csv", [
        list_row(2, commune_code=OTHER_COMMUNE, account_number=account(1)), list_row(3)]))
    assert report.outcome == "applied"
    assert (report.counts.added, report.counts.flagged) == (2, 1)
    assert [(f.row, f.code) for f in report.flags] == [(2, "account_shared")]
    assert find(session, keyring, cccd(2)).review_flags == ["account_shared"]


# --- encryption at rest ---------------------------------------------------------------------


def _plain_values(session: Session, table: str) -> list[tuple[str, Any]]:
    rows = session.execute(text(f"SELECT * FROM {table}")).mappings().all()
    return [(column, value) for row in rows for column, value in row.items()]


def _contains(value: Any, secret: str) -> bool:
    if isinstance(value, bytes | bytearray | memoryview):
        return secret.encode() in bytes(value)
    return secret in str(value)


def test_citizen_ids_and_accounts_are_never_stored_in_plain_text(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    first = [list_row(731), list_row(732)]
    run_import(session, keyring, csv_list(tmp_path, "a.csv", first))
    second = [list_row(731, account_number=account(733)), list_row(732),
              list_row(734, gender="robot")]
    run_import(session, keyring, csv_list(tmp_path, "b.csv", second), accept_valid=True)
    secrets = [cccd(n) for n in (731, 732, 734)] + [account(n) for n in (731, 732, 733, 734)]

    for table in ("beneficiaries", "beneficiary_history"):
        assert _plain_values(session, table), f"the imports wrote nothing to {table}"
    for table in ("beneficiaries", "beneficiary_history", "list_imports", "audit_entries"):
        for column, value in _plain_values(session, table):
            leaked = [s for s in secrets if _contains(value, s)]
            assert not leaked, f"{table}.{column} holds {leaked}"
    stored = find(session, keyring, cccd(731))
    assert stored.citizen_id_idx == keyring.blind_index("citizen_id", cccd(731))
    assert keyring.decrypt("citizen_id", stored.citizen_id_enc) == cccd(731)


# --- parsing through the whole import ------------------------------------------------------


def test_decomposed_names_are_stored_composed(session: Session, keyring: Keyring,
                                              tmp_path: Path) -> None:
    name = "Nguyễn Thị Đào"
    decomposed = unicodedata.normalize("NFD", name)
    assert decomposed != name
    run_import(session, keyring, csv_list(tmp_path, "l.csv", [
        list_row(1, full_name=decomposed, account_holder=unicodedata.normalize("NFD", name))]))
    stored = find(session, keyring, cccd(1))
    assert stored.full_name == name
    assert unicodedata.is_normalized("NFC", stored.full_name)


def test_d_with_stroke_matches_the_bank_holder_name(session: Session, keyring: Keyring,
                                                    tmp_path: Path) -> None:
    row = list_row(1, citizen_id=cccd(1, born=1960, female=False), full_name="Đặng Văn Đức",
                   date_of_birth="1960-05-02", gender="male", account_holder="DANG VAN DUC")
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", [row]))
    assert report.outcome == "applied", report.errors
    assert report.flags == []
    assert find(session, keyring, row["citizen_id"]).full_name == "Đặng Văn Đức"


@pytest.mark.parametrize("written", ["1.500.000", "1,500,000", "1500000", "1 500 000"])
def test_amount_spellings_give_whole_dong(session: Session, keyring: Keyring, tmp_path: Path,
                                          written: str) -> None:
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", [
        list_row(1, amount=written)]))
    assert report.outcome == "applied", report.errors
    amount = find(session, keyring, cccd(1)).monthly_amount
    assert amount == 1_500_000 and isinstance(amount, int)


def test_amount_with_a_fraction_is_refused(session: Session, keyring: Keyring,
                                           tmp_path: Path) -> None:
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", [
        list_row(1, amount="1500000.50")]))
    assert report.outcome == "rejected"
    assert codes_by_row(report) == {2: {"amount_decimal"}}
    assert report.errors[0].column == "Amount"


VI_ROW = {"date_of_birth": "15/03/1958", "gender": "Nữ", "channel": "Chuyển khoản",
          "amount": "3.500.000"}


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("bom", [True, False])
def test_csv_with_either_headers_with_or_without_bom(session: Session, keyring: Keyring,
                                                     tmp_path: Path, lang: str,
                                                     bom: bool) -> None:
    row = list_row(1, **(VI_ROW if lang == "vi" else {}))
    path = csv_list(tmp_path, "l.csv", [row], lang=lang, bom=bom)
    assert path.read_bytes().startswith(b"\xef\xbb\xbf") is bom

    report = run_import(session, keyring, path)

    assert report.outcome == "applied", (report.message, report.errors)
    assert report.ignored_columns == []
    stored = find(session, keyring, cccd(1))
    assert (stored.date_of_birth, stored.gender, stored.channel, stored.monthly_amount) == (
        date(1958, 3, 15), "female", "bank", 3_500_000)


def test_missing_required_column_rejects_the_file_with_a_clear_message(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    names = [name for name in LIST_COLUMNS if name != "citizen_id"]
    path = csv_list(tmp_path, "no-id.csv", [list_row(1)], fields=names)

    report = run_import(session, keyring, path)

    assert report.outcome == "rejected"
    assert "no-id.csv" in report.message
    assert "missing required column" in report.message and "Citizen ID" in report.message
    assert "Traceback" not in report.message
    assert report.counts.rows == 0 and report.errors == []
    record = session.get(ListImport, report.import_id)
    assert record is not None and record.outcome == "rejected"


@pytest.mark.parametrize(
    ("lang", "encoding", "name", "holder"),
    [
        ("en", "cp1258", "Đào Thu Hà", "DAO THU HA"),  # the header is ASCII: a data row fails
        ("en", "latin-1", "Lê Thu Hà", "LE THU HA"),
        ("vi", "cp1258", "Đào Thu Hà", "DAO THU HA"),  # the header itself is not UTF-8
    ],
)
def test_a_file_that_is_not_utf8_is_rejected_clearly(session: Session, keyring: Keyring,
                                                     tmp_path: Path, lang: str, encoding: str,
                                                     name: str, holder: str) -> None:
    row = list_row(1, full_name=name, account_holder=holder,
                   **(VI_ROW | {"gender": "Nu", "channel": "chuyen khoan"} if lang == "vi" else {}))
    header = [h.encode(encoding, "replace").decode(encoding) for h in header_row(lang)]
    data = csv_bytes([row], lang=lang, header=header, encoding=encoding)
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    path = tmp_path / "legacy.csv"
    path.write_bytes(data)
    before = beneficiary_count(session)

    report = run_import(session, keyring, path)

    assert report.outcome == "rejected"
    assert "legacy.csv" in report.message and "UTF-8" in report.message
    assert beneficiary_count(session) == before


# --- rate × coefficient ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "amount_cell", "expected"),
    [
        (TODAY, "", 750_000),  # base 500,000 since 2024-07-01
        (TODAY, "750.000", 750_000),
        (date(2024, 6, 30), "", 540_000),  # base 360,000 the day before
    ],
)
def test_social_protection_uses_the_dated_base_rate(session: Session, keyring: Keyring,
                                                    tmp_path: Path, today: date,
                                                    amount_cell: str, expected: int) -> None:
    row = list_row(1, coefficient="1.5", amount=amount_cell)
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", [row]),
                        programme="social_protection", today=today)
    assert report.outcome == "applied", report.errors
    stored = find(session, keyring, cccd(1), "social_protection")
    assert (stored.monthly_amount, stored.coefficient_x100) == (expected, 150)


def test_amount_contradicting_the_rate_is_refused(session: Session, keyring: Keyring,
                                                  tmp_path: Path) -> None:
    row = list_row(1, coefficient="1,5", amount="700.000")
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", [row]),
                        programme="social_protection")
    assert report.outcome == "rejected"
    assert codes_by_row(report) == {2: {"amount_rule_mismatch"}}
    assert "750,000" in report.errors[0].message_en


# --- synthetic lists with an answer key ----------------------------------------------------

#: Answer-key "expect" values that an importer must report as a row error with that code.
IMPORT_CODES = {"account_shape", "bin_unknown", "duplicate_in_file", "cccd_leading_zero_lost"}


@pytest.fixture(scope="module")
def synthetic_lists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """Lists drawn from a 3,000-person population (fixed seeds) and their answer key."""
    directory = tmp_path_factory.mktemp("synth")
    population = directory / "population.csv"
    write_population_csv(population, 3000, seed=11)
    summary = write_lists(population, directory / "lists", seed=11, fmt="csv", lang="vi")
    return directory / "lists", json.loads(summary.answer_key.read_text(encoding="utf-8"))


def _expected_rows(entry: dict[str, Any]) -> dict[str, set[int]]:
    """Rows that must carry each import-stage code, from one file's answer-key entry."""
    expected: dict[str, set[int]] = {code: set() for code in IMPORT_CODES}
    for defect in entry["defects"]:
        if defect["expect"] in IMPORT_CODES:
            expected[defect["expect"]].add(defect["row"])
        if defect["kind"] == "duplicate_row":
            expected["duplicate_in_file"].add(defect["first_row"])
    return expected


def test_synthetic_lists_report_every_import_defect_on_its_row(
        session: Session, keyring: Keyring, synthetic_lists: tuple[Path, dict[str, Any]]) -> None:
    directory, key = synthetic_lists
    assert len(key["files"]) == 4
    for name, entry in key["files"].items():
        report = run_import(session, keyring, directory / name, programme=entry["programme"],
                            accept_valid=True)
        assert report.outcome == "applied", report.message
        assert report.counts.rows == entry["rows"]
        assert_counts_add_up(report)
        expected = _expected_rows(entry)
        reported = {code: {f.row for f in report.errors if f.code == code}
                    for code in IMPORT_CODES}
        assert reported == expected, name
        assert sum(len(rows) for rows in expected.values()) > 0, name
        rejected_rows = {f.row for f in report.errors}
        defect_rows = {d["row"] for d in entry["defects"]} | expected["duplicate_in_file"]
        clean_rejected = rejected_rows - defect_rows
        assert not clean_rejected, [f for f in report.errors if f.row in clean_rejected][:5]
        assert report.counts.rejected == len(rejected_rows)
        for defect in entry["defects"]:
            if defect["kind"] == "nfd_name":
                assert defect["row"] not in rejected_rows
                stored = find(session, keyring, defect["citizen_id"], entry["programme"])
                assert unicodedata.is_normalized("NFC", stored.full_name)


def test_rejected_rows_workbook_holds_control_characters_escaped(
        session: Session, keyring: Keyring, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    rows = [list_row(1), list_row(2, full_name="Nguyễn\x07Thị\x00Đào", gender="robot")]
    store = tmp_path / "store"
    report = run_import(session, keyring, csv_list(tmp_path, "l.csv", rows), accept_valid=True,
                        store_dir=store)

    assert (report.outcome, report.counts.added, report.counts.rejected) == ("applied", 1, 1)
    record = session.get(ListImport, report.import_id)
    assert record is not None
    workbook = b"".join(open_part(keyring, record, StoredPart.REJECTED) or [])
    sheet = load_workbook(io.BytesIO(workbook)).active
    assert sheet is not None
    values = [cell.value for cell in next(sheet.iter_rows(min_row=2, max_row=2))]
    assert values[0] == 3
    assert "Nguyễn\\x07Thị\\x00Đào" in values
