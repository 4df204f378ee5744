"""Cashless metrics and auditor reports on a real database, against hand-computed figures.

``seed`` inserts beneficiaries, batches, instructions (every state, a re-routed cash payment,
a returned one, a cancelled one), payment files and exceptions directly; each expected figure
is computed here from the same Python tables, independently of the SQL in ``metrics``. It is
also used by ``tests/api/test_report_api.py``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryHistory, ListImport
from disburse.core.errors import NotFound, ValidationFailed
from disburse.payments.models import Batch, Instruction, PaymentFile
from reconciliation import reports
from reconciliation.metrics import (
    FiguresDoNotAddUp,
    MetricsFilter,
    cashless_report,
    cashless_trend,
    load_targets,
)
from reconciliation.models import ReconciliationException

HCM_COMMUNE = "25747"
#: serial -> (programme, province, commune, channel, status)
PEOPLE: dict[int, tuple[str, str, str, str, str]] = {
    1: ("pension", "01", "00004", "bank", "active"),
    2: ("pension", "01", "00004", "ewallet", "active"),
    3: ("pension", "01", "00004", "cash", "active"),
    4: ("pension", "01", "00008", "bank", "active"),
    5: ("pension", "01", "00008", "bank", "suspended"),
    6: ("social_protection", "79", HCM_COMMUNE, "bank", "active"),
    7: ("social_protection", "79", HCM_COMMUNE, "cash", "active"),
    8: ("social_protection", "79", HCM_COMMUNE, "bank", "active"),
    9: ("pension", "79", HCM_COMMUNE, "bank", "active"),  # never instructed
}
#: (batch key, serial, period, channel, rerouted_from, amount, state)
INSTRUCTIONS: list[tuple[str, int, str, str, str | None, int, str]] = [
    ("A", 1, "2026-10", "bank", None, 3_500_000, "paid"),
    ("A", 2, "2026-10", "ewallet", None, 2_000_000, "paid"),
    ("A", 3, "2026-10", "cash", None, 1_500_000, "paid"),
    ("A", 4, "2026-10", "bank", None, 4_000_000, "returned"),
    ("A", 5, "2026-10", "bank", None, 1_000_000, "cancelled"),
    ("B", 1, "2026-11", "bank", None, 3_500_000, "paid"),
    ("B", 2, "2026-11", "ewallet", None, 2_000_000, "rejected"),
    ("B", 3, "2026-11", "cash", None, 1_500_000, "instructed"),
    ("B", 4, "2026-11", "bank", None, 4_000_000, "accepted"),
    ("C", 6, "2026-11", "bank", None, 500_000, "paid"),
    ("C", 7, "2026-11", "cash", None, 750_000, "paid"),
    ("C", 8, "2026-11", "cash", "bank", 1_000_000, "paid"),
]
#: The bank's reason of each refused state (AC04 account closed, AC06 account blocked).
REASONS = {"rejected": "AC04", "returned": "AC06"}
BATCHES = {"A": ("pension", "2026-10", "01"), "B": ("pension", "2026-11", "01"),
           "C": ("social_protection", "2026-11", "79")}


@dataclass
class Seeded:
    """Ids of what ``seed`` inserted."""

    beneficiaries: dict[int, int]
    batches: dict[str, int]
    instructions: list[int]
    exceptions: list[int]


def seed(session: Session) -> Seeded:
    """Insert PEOPLE, BATCHES, INSTRUCTIONS, two payment files and two open exceptions."""
    import_id = session.execute(insert(ListImport).returning(ListImport.id), [{
        "programme": "pension", "file_name": "seed.csv", "file_sha256": "0" * 64,
        "file_size": 1, "actor": "lan", "outcome": "applied", "counts": {}}]).scalar_one()
    people = {}
    for serial, (programme, province, commune, channel, status) in PEOPLE.items():
        has_account = channel != "cash"
        people[serial] = session.execute(insert(Beneficiary).returning(Beneficiary.id), [{
            "programme": programme, "citizen_id_enc": b"x", "citizen_id_idx": f"cid{serial}",
            "full_name": f"Người {serial}", "date_of_birth": date(1950, 1, 1),
            "gender": "female", "province_code": province, "commune_code": commune,
            "monthly_amount": 1_000_000, "channel": channel, "status": status,
            "bank_bin": "970436" if has_account else None,
            "account_enc": b"acct" if has_account else None,
            "account_idx": f"acc{serial}" if has_account else None,
            "source_import_id": import_id, "source_row": serial,
            "last_seen_import_id": import_id}]).scalar_one()
    # the registry's history: everyone added in 2026-09, person 5 suspended then too
    session.execute(insert(BeneficiaryHistory), [
        {"beneficiary_id": people[serial], "version": 1, "change": "added", "changed": {},
         "actor": "lan", "at": datetime(2026, 9, 1, tzinfo=UTC)} for serial in PEOPLE])
    session.execute(insert(BeneficiaryHistory), [
        {"beneficiary_id": people[serial], "version": 2, "change": "suspended",
         "changed": {"status": {"from": "active", "to": "suspended"}}, "actor": "lan",
         "at": datetime(2026, 9, 2, tzinfo=UTC)}
        for serial, person in PEOPLE.items() if person[4] == "suspended"])
    batches = {key: session.execute(insert(Batch).returning(Batch.id), [{
        "programme": programme, "period": period, "province_code": province,
        "state": "submitted", "preparer": "lan", "requested_execution_date": date(2026, 11, 10),
        "count": 0, "total": 0, "content_hash": "ab" * 32}]).scalar_one()
        for key, (programme, period, province) in BATCHES.items()}
    ids = []
    for seq, (key, serial, period, channel, rerouted, amount, state) in enumerate(INSTRUCTIONS):
        programme, province, commune, *_ = PEOPLE[serial]
        ids.append(session.execute(insert(Instruction).returning(Instruction.id), [{
            "batch_id": batches[key], "beneficiary_id": people[serial], "programme": programme,
            "period": period, "seq": seq, "amount": amount, "base_amount": amount,
            "arrears_amount": 0, "channel": channel, "route": channel,
            "rerouted_from": rerouted, "creditor_name": f"NGUOI {serial}",
            "province_code": province, "commune_code": commune,
            "end_to_end_id": f"E2E-{seq}", "state": state,
            "reason_code": REASONS.get(state)}]).scalar_one())
    for key, route in (("A", "vcb"), ("C", "cash")):
        mine = [i for i in INSTRUCTIONS if i[0] == key and i[6] != "cancelled"]
        session.add(PaymentFile(
            batch_id=batches[key], route=route, part_no=1, layout="pain001",
            msg_id=f"MSG-{key}", file_name=f"{key}.xml", sha256=key.lower() * 64, size=100,
            nb_of_txs=len(mine), ctrl_sum=sum(i[5] for i in mine), batch_hash="ab" * 32,
            key_id="k1"))
    exceptions = [
        ReconciliationException(kind="unknown_end_to_end_id", detail={"e2e": "NOPE"}),
        ReconciliationException(kind="amount_mismatch", candidate_ids=[ids[6]],
                                detail={"e2e": "E2E-6"}),
    ]
    session.add_all(exceptions)
    session.flush()
    return Seeded(people, batches, ids, [e.id for e in exceptions])


# --- independent expectations ---------------------------------------------------------------


def expected(where: Callable[[tuple[Any, ...]], bool] = lambda i: True) -> dict[str, Any]:
    """Count and sum the instructions of INSTRUCTIONS (and PEOPLE) that ``where`` keeps."""
    rows = [i for i in INSTRUCTIONS if where(i) and i[6] != "cancelled"]

    def tally(keep: Callable[[tuple[Any, ...]], bool]) -> tuple[int, int]:
        chosen = [i for i in rows if keep(i)]
        return len(chosen), sum(i[5] for i in chosen)

    figures = {}
    for name, keep in {
        "instructed": lambda i: True, "paid": lambda i: i[6] == "paid",
        "cashless": lambda i: i[6] == "paid" and i[3] in ("bank", "ewallet"),
        "cash": lambda i: i[6] == "paid" and i[3] == "cash",
        "rerouted_cash": lambda i: i[6] == "paid" and i[4] is not None,
        "rejected": lambda i: i[6] == "rejected", "returned": lambda i: i[6] == "returned",
        "open": lambda i: i[6] in ("instructed", "accepted"),
    }.items():
        figures[f"{name}_count"], figures[f"{name}_amount"] = tally(keep)
    return figures


def active_people(where: Callable[[tuple[str, ...]], bool] = lambda p: True) -> tuple[int, int]:
    """(active, with an account) among PEOPLE that ``where`` keeps."""
    chosen = [p for p in PEOPLE.values() if where(p) and p[4] == "active"]
    return len(chosen), sum(1 for p in chosen if p[3] != "cash")


@pytest.fixture
def seeded(session: Session) -> Seeded:
    return seed(session)


def _numbers(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: figures[k] for k in expected()}


def test_total_of_all_periods_matches_the_tables(session: Session, seeded: Seeded) -> None:
    report = cashless_report(session, MetricsFilter())
    total = report.total.to_dict()
    assert _numbers(total) == expected()
    assert (total["active_beneficiaries"], total["with_account"]) == active_people()
    # 4 of 6 paid into accounts; 1 of 3 paid in cash by people who have an account
    assert total["cashless_rate_count"] == pytest.approx(4 / 7)
    assert total["cashless_rate_amount"] == pytest.approx(
        (3_500_000 * 2 + 2_000_000 + 500_000) / (3_500_000 * 2 + 2_000_000 + 1_500_000
                                                 + 500_000 + 750_000 + 1_000_000))
    assert total["account_holder_cashless_rate"] == pytest.approx(4 / 5)
    assert total["account_coverage"] == pytest.approx(6 / 8)


@pytest.mark.parametrize("filters,where,people", [
    (MetricsFilter(period="2026-10"), lambda i: i[2] == "2026-10", lambda p: True),
    (MetricsFilter(period="2026-11", programme="pension"),
     lambda i: i[2] == "2026-11" and PEOPLE[i[1]][0] == "pension", lambda p: p[0] == "pension"),
    (MetricsFilter(province="79"), lambda i: PEOPLE[i[1]][1] == "79", lambda p: p[1] == "79"),
    (MetricsFilter(commune="00008"), lambda i: PEOPLE[i[1]][2] == "00008",
     lambda p: p[2] == "00008"),
])
def test_filters_match_the_tables(session: Session, seeded: Seeded, filters: MetricsFilter,
                                  where: Callable[[tuple[Any, ...]], bool],
                                  people: Callable[[tuple[str, ...]], bool]) -> None:
    total = cashless_report(session, filters).total.to_dict()
    assert _numbers(total) == expected(where)
    assert (total["active_beneficiaries"], total["with_account"]) == active_people(people)


def test_groups_by_programme_province_commune(session: Session, seeded: Seeded) -> None:
    report = cashless_report(session, MetricsFilter(period="2026-11"),
                             ("commune", "programme", "province"))
    assert report.by == ("programme", "province", "commune")
    keys = [(g.row.programme, g.row.province, g.row.commune) for g in report.groups]
    # pension 79 has a beneficiary but no instruction: it is still listed for coverage
    assert keys == [("pension", "01", "00004"), ("pension", "01", "00008"),
                    ("pension", "79", HCM_COMMUNE), ("social_protection", "79", HCM_COMMUNE)]
    for group in report.groups:
        key = (group.row.programme, group.row.province, group.row.commune)

        def in_group(i: tuple[Any, ...], key: tuple[Any, ...] = key) -> bool:
            return bool(i[2] == "2026-11" and PEOPLE[i[1]][:3] == key)

        assert _numbers(group.to_dict()) == expected(in_group)
    hcm = report.groups[2].to_dict()
    assert hcm["instructed_count"] == 0 and hcm["cashless_rate_count"] is None
    assert hcm["account_coverage"] == 1.0
    social = report.groups[3].to_dict()
    assert (social["cashless_count"], social["rerouted_cash_count"]) == (1, 1)
    assert social["cash_share_count"] == pytest.approx(2 / 3)


def test_trend_lists_every_month_of_the_range(session: Session, seeded: Seeded) -> None:
    report = cashless_trend(session, MetricsFilter(period_from="2026-09", period_to="2026-12"),
                            ("programme",), load_targets())
    data = report.to_dict()
    assert [p["period"] for p in data["periods"]] == ["2026-09", "2026-10", "2026-11",
                                                      "2026-12"]
    for month in data["periods"]:
        period = month["period"]
        assert _numbers(month) == expected(lambda i: bool(i[2] == period))  # noqa: B023
    assert data["periods"][0]["cashless_rate_count"] is None
    assert data["periods"][1]["cashless_rate_count"] == pytest.approx(2 / 3)
    assert {(g["programme"], g["period"]) for g in data["groups"]} == {
        ("pension", "2026-10"), ("pension", "2026-11"), ("social_protection", "2026-11")}


def test_trend_range_is_checked(session: Session) -> None:
    with pytest.raises(ValidationFailed):
        cashless_trend(session, MetricsFilter(period_from="2026-12", period_to="2026-01"))


def test_targets_by_province(session: Session, seeded: Seeded) -> None:
    report = cashless_report(session, MetricsFilter(), ("province",), load_targets())
    [hanoi, hcm] = [g.to_dict() for g in report.groups]
    target = {t["rate"]: t for t in hanoi["targets"]}
    assert target["cashless_rate_count"]["target"] == 0.9  # Hà Nội override
    assert target["account_holder_cashless_rate"]["target"] == 1.0  # the default
    assert target["cashless_rate_count"]["met"] is False  # 3 of 4
    holders = {t["rate"]: t for t in hcm["targets"]}["account_holder_cashless_rate"]
    assert holders["actual"] == pytest.approx(1 / 2) and holders["met"] is False


def test_an_unknown_state_is_an_error_not_a_figure(session: Session, seeded: Seeded) -> None:
    session.execute(update(Instruction).where(Instruction.id == seeded.instructions[0])
                    .values(state="limbo"))
    with pytest.raises(FiguresDoNotAddUp) as caught:
        cashless_report(session, MetricsFilter(period="2026-10"))
    assert caught.value.status == 500
    assert {e["code"] for e in caught.value.extra["errors"]} == {"states_do_not_add_up"}


# --- reports ----------------------------------------------------------------------------------


def test_xlsx_has_the_five_sheets_and_the_totals(session: Session, seeded: Seeded) -> None:
    filters = MetricsFilter(period="2026-11")
    data = reports.cashless_xlsx(
        cashless_report(session, filters, (), load_targets()),
        cashless_report(session, filters, ("programme", "province", "commune")),
        reports.open_exceptions(session), reports.payment_files(session, filters),
        by_province=cashless_report(session, filters, ("province",)),
        rejections=reports.rejections(session, filters))
    book = load_workbook(io.BytesIO(data))
    assert book.sheetnames == ["Tổng hợp", "Theo tỉnh", "Theo xã", "Ngoại lệ và từ chối",
                               "Tệp chi trả"]
    summary = {row[0]: row[1] for row in book["Tổng hợp"].iter_rows(min_row=2, values_only=True)}
    want = expected(lambda i: i[2] == "2026-11")
    assert summary["Lệnh chi, đồng (Instructed, VND)"] == want["instructed_amount"]
    assert summary["Đã chi trả, số lệnh (Paid, payments)"] == want["paid_count"]
    provinces = list(book["Theo tỉnh"].iter_rows(values_only=True))
    assert [r[0] for r in provinces[1:]] == ["01 - Thành phố Hà Nội",
                                             "79 - Thành phố Hồ Chí Minh", "Tổng cộng (Total)"]
    paid_p = provinces[0].index("Đã chi trả, đồng (Paid, VND)")
    # 2026-11 paid: Hà Nội 3,500,000 (P1); Hồ Chí Minh 500,000 + 750,000 + 1,000,000
    assert [r[paid_p] for r in provinces[1:]] == [3_500_000, 2_250_000, 5_750_000]
    communes = list(book["Theo xã"].iter_rows(values_only=True))
    header = communes[0]
    assert header[0] == "Chương trình (Programme)"
    assert header[2] == "Xã/phường (Commune)" and communes[1][2] == "00004 - Phường Ba Đình"
    paid = header.index("Đã chi trả, đồng (Paid, VND)")
    assert communes[-1][0] == "Tổng cộng (Total)"
    assert sum(int(str(r[paid])) for r in communes[1:-1]) == want["paid_amount"]
    assert communes[-1][paid] == want["paid_amount"]
    money_cell = book["Theo xã"].cell(row=2, column=paid + 1)
    assert money_cell.number_format == "#,##0" and isinstance(money_cell.value, int)
    issues = list(book["Ngoại lệ và từ chối"].iter_rows(values_only=True))
    head = issues[0]
    kinds = [(r[0], r[head.index("Mã lý do (Reason code)")]) for r in issues[1:]]
    # two open exceptions, then 2026-11's one rejection (B, person 2, AC04)
    assert kinds == [("Ngoại lệ (exception)", None), ("Ngoại lệ (exception)", None),
                     ("Bị từ chối (rejected)", "AC04")]
    assert issues[3][head.index("Giải thích (Explanation)")].startswith("Tài khoản đã đóng")
    assert issues[3][head.index("Số tiền, đồng (Amount, VND)")] == 2_000_000
    files = list(book["Tệp chi trả"].iter_rows(values_only=True))
    assert files[0][3:] == ("MsgId (MsgId)", "Số giao dịch (NbOfTxs)",
                            "Tổng số tiền (CtrlSum, VND)", "SHA-256 (SHA-256)")
    assert [(f[3], f[4], f[5], f[6]) for f in files[1:]] == [("MSG-C", 3, 2_250_000, "c" * 64)]


def test_png_is_a_png_and_the_same_bytes_for_the_same_data(session: Session,
                                                           seeded: Seeded) -> None:
    report = cashless_report(session, MetricsFilter(), ("programme", "province"))
    first, second = reports.cashless_png(report), reports.cashless_png(report)
    assert first[:8] == b"\x89PNG\r\n\x1a\n"
    assert first == second
    assert b"Software" not in first and b"Matplotlib" not in first
    from PIL import Image

    with Image.open(io.BytesIO(first)) as image:
        # page-wide (11 in at 100 dpi) horizontal bars, at least 4 in tall
        assert image.format == "PNG" and image.size[0] == 1100 and image.size[1] >= 400


def test_csv_has_a_bom_and_neutralises_text(session: Session, seeded: Seeded) -> None:
    report = cashless_report(session, MetricsFilter(period="2026-10"), ("province",))
    data = reports.to_csv(reports.cashless_columns(report), reports.cashless_rows(report))
    assert data.startswith(b"\xef\xbb\xbf")
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("Tỉnh/thành phố (Province),")
    assert lines[1].startswith("01 - Thành phố Hà Nội,")
    hostile = [{"kind": '=HYPERLINK("http://x")', "amount": -5}]
    out = reports.to_csv(reports.EXCEPTION_COLUMNS, hostile).decode("utf-8-sig").splitlines()
    assert "'=HYPERLINK" in out[1] and ",-5," in out[1]


def test_batch_report_lists_files_figures_and_its_exceptions(session: Session,
                                                             seeded: Seeded) -> None:
    report = reports.batch_report(session, seeded.batches["B"])
    assert report["batch"]["batch_id"] == seeded.batches["B"]
    assert _numbers(report["figures"]) == expected(lambda i: i[0] == "B")
    assert report["files"] == []
    assert [e["id"] for e in report["exceptions"]] == [seeded.exceptions[1]]
    book = load_workbook(io.BytesIO(reports.batch_xlsx(report)))
    assert book.sheetnames == ["Tổng hợp", "Ngoại lệ và từ chối", "Tệp chi trả"]
    assert [(r["kind"], r["reason_code"]) for r in report["rejections"]] == [
        ("rejected", "AC04")]
    with pytest.raises(NotFound):
        reports.batch_report(session, 999_999)


def test_payment_files_follow_the_scope(session: Session, seeded: Seeded) -> None:
    assert [f["msg_id"] for f in reports.payment_files(session, MetricsFilter())] == [
        "MSG-A", "MSG-C"]
    assert [f["msg_id"] for f in reports.payment_files(
        session, MetricsFilter(province="01"))] == ["MSG-A"]
    stored = session.execute(select(PaymentFile.sha256).where(PaymentFile.msg_id == "MSG-A"))
    assert stored.scalar_one() == "a" * 64
