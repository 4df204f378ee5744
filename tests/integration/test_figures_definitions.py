"""Each figure's definition on a small hand-made month (2026-10), worked out by hand here.

People (pension, Hà Nội 01, commune 00004), with their registry history:
  P1 added 2026-09-01            bank    -> active at the end of 2026-10
  P2 added 2026-10-15            bank    -> active (added during the month)
  P3 added 2026-11-02            bank    -> not active for 2026-10 (added later)
  P4 added 2026-09-01, ended 2026-10-20  -> not active at the end of 2026-10
  P5 added 2026-09-01, suspended 2026-11-05 -> active at the end of 2026-10
  P6 added 2026-10-31 17:30 UTC = 2026-11-01 00:30 in Vietnam -> not active for 2026-10
Active at the end of 2026-10: P1, P2, P5 = 3 (all with an account). Today: P1, P2, P3, P6 = 4.
At the end of 2026-09: P1, P4, P5 = 3.

Batches of 2026-10:
  submitted         P1 paid 1,000,000 (bank); P2 rejected 2,000,000 (bank, AC04)
  draft (rejected back to draft)  P4 3,000,000 instructed  -> instructs nothing
  pending_approval  P5 5,000,000 instructed                -> instructs nothing
  cancelled         P1 social_protection 7,000,000 instructed -> instructs nothing
Instructed: 2 payments, 3,000,000 VND; paid 1 / 1,000,000; rejected 1 / 2,000,000; open 0.
Cashless rate: 1 of 1 paid payment = 100 %. Before the fix the four non-instructing
instructions counted: 5 instructed, 3 open.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, BeneficiaryHistory, ListImport
from disburse.payments.models import Batch, Instruction
from reconciliation import reports
from reconciliation.metrics import MetricsFilter, cashless_report, cashless_trend

_UTC = UTC
#: serial -> (history [(change, at)], current status)
PEOPLE = {
    1: ([("added", datetime(2026, 9, 1, tzinfo=_UTC))], "active"),
    2: ([("added", datetime(2026, 10, 15, tzinfo=_UTC))], "active"),
    3: ([("added", datetime(2026, 11, 2, tzinfo=_UTC))], "active"),
    4: ([("added", datetime(2026, 9, 1, tzinfo=_UTC)),
         ("ended", datetime(2026, 10, 20, tzinfo=_UTC))], "ended"),
    5: ([("added", datetime(2026, 9, 1, tzinfo=_UTC)),
         ("suspended", datetime(2026, 11, 5, tzinfo=_UTC))], "suspended"),
    6: ([("added", datetime(2026, 10, 31, 17, 30, tzinfo=_UTC))], "active"),
}
#: batch state -> [(serial, programme, amount, instruction state, reason)]
BATCHES = {
    "submitted": [(1, "pension", 1_000_000, "paid", None),
                  (2, "pension", 2_000_000, "rejected", "AC04")],
    "draft": [(4, "pension", 3_000_000, "instructed", None)],
    "pending_approval": [(5, "pension", 5_000_000, "instructed", None)],
    "cancelled": [(1, "social_protection", 7_000_000, "instructed", None)],
}


def seed_month(session: Session) -> dict[int, int]:
    """Insert PEOPLE with their history and BATCHES for 2026-10; return serial -> id."""
    import_id = session.execute(insert(ListImport).returning(ListImport.id), [{
        "programme": "pension", "file_name": "m.csv", "file_sha256": "0" * 64, "file_size": 1,
        "actor": "lan", "outcome": "applied", "counts": {}}]).scalar_one()
    ids = {}
    for serial, (history, status) in PEOPLE.items():
        ids[serial] = session.execute(insert(Beneficiary).returning(Beneficiary.id), [{
            "programme": "pension", "citizen_id_enc": b"x", "citizen_id_idx": f"c{serial}",
            "full_name": f"Người {serial}", "date_of_birth": date(1950, 1, 1),
            "gender": "male", "province_code": "01", "commune_code": "00004",
            "monthly_amount": 1_000_000, "channel": "bank", "status": status,
            "bank_bin": "970436", "account_enc": b"a", "account_idx": f"a{serial}",
            "source_import_id": import_id, "source_row": serial,
            "last_seen_import_id": import_id, "version": len(history)}]).scalar_one()
        session.execute(insert(BeneficiaryHistory), [
            {"beneficiary_id": ids[serial], "version": n, "change": change, "changed": {},
             "actor": "lan", "at": at} for n, (change, at) in enumerate(history, start=1)])
    seq = 0
    for state, rows in BATCHES.items():
        batch = session.execute(insert(Batch).returning(Batch.id), [{
            "programme": "pension", "period": "2026-10", "province_code": "01",
            "state": state, "preparer": "lan", "requested_execution_date": date(2026, 10, 10),
            "count": len(rows), "total": 0, "content_hash": "ab" * 32}]).scalar_one()
        for serial, programme, amount, i_state, reason in rows:
            seq += 1
            session.execute(insert(Instruction), [{
                "batch_id": batch, "beneficiary_id": ids[serial], "programme": programme,
                "period": "2026-10", "seq": seq, "amount": amount, "base_amount": amount,
                "arrears_amount": 0, "channel": "bank", "route": "vcb",
                "creditor_name": f"NGUOI {serial}", "province_code": "01",
                "commune_code": "00004", "end_to_end_id": f"D-{seq}", "state": i_state,
                "reason_code": reason}])
    session.flush()
    return ids


def test_only_batches_approved_or_later_instruct(session: Session) -> None:
    seed_month(session)
    total = cashless_report(session, MetricsFilter(period="2026-10")).total.to_dict()
    assert (total["instructed_count"], total["instructed_amount"]) == (2, 3_000_000)
    assert (total["paid_count"], total["paid_amount"]) == (1, 1_000_000)
    assert (total["rejected_count"], total["rejected_amount"]) == (1, 2_000_000)
    assert (total["open_count"], total["open_amount"]) == (0, 0)
    assert total["cashless_rate_count"] == 1.0


def test_active_beneficiaries_are_those_of_the_period(session: Session) -> None:
    seed_month(session)
    october = cashless_report(session, MetricsFilter(period="2026-10")).total.row
    assert (october.active_beneficiaries, october.with_account) == (3, 3)
    september = cashless_report(session, MetricsFilter(period="2026-09")).total.row
    assert september.active_beneficiaries == 3  # P1, P4, P5
    today = cashless_report(session, MetricsFilter()).total.row
    assert today.active_beneficiaries == 4  # P1, P2, P3, P6
    trend = cashless_trend(session, MetricsFilter(period_from="2026-09", period_to="2026-11"))
    # 2026-11: P1, P2, P3, P6 (P5 suspended on 5 November)
    assert [p.row.active_beneficiaries for p in trend.periods] == [3, 3, 4]
    [group] = trend.groups
    assert (group.row.period, group.row.active_beneficiaries) == ("2026-10", 3)


def test_every_figure_names_its_unit_and_the_total_is_labelled(session: Session) -> None:
    seed_month(session)
    report = cashless_report(session, MetricsFilter(period="2026-10"))
    data = report.to_dict()
    assert data["units"]["instructed_count"] == "payments"
    assert data["units"]["instructed_amount"] == "money_vnd"
    assert data["units"]["active_beneficiaries"] == "people"
    assert data["units"]["cashless_rate_amount"] == "share_of_money"
    numeric = {k for k, v in data["total"].items() if isinstance(v, int | float)
               and not isinstance(v, bool)}
    assert numeric <= set(data["units"])
    assert data["total"]["label"] == "Tổng cộng (Total)"
    json.dumps(data)  # JSON-ready
    table = reports.CASHLESS_TEXT_WRITERS["table"](report).decode().splitlines()
    assert len(table) == 2 and table[1].startswith("Tổng cộng (Total)")
    header = reports.CASHLESS_TEXT_WRITERS["csv"](report).decode("utf-8-sig").splitlines()[0]
    for column in header.split('",')[1:]:
        assert any(unit in column for unit in ("payments", "VND", "people", "of money",
                                               "of payments", "Target met")), column
