"""The pure parts of the cashless metrics: rates, identities, totals, targets, periods."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disburse.core.errors import ConfigurationError, ValidationFailed
from reconciliation.metrics import (
    CashlessFigures,
    CashlessRow,
    check_row,
    check_total,
    figures_of,
    load_targets,
    parse_by,
    parse_targets,
    periods_between,
    progress_against,
    rate,
    rates_of,
    sum_rows,
)
from reconciliation.reports import cell

#: paid 10 (8 into accounts, 2 cash of which 1 re-routed), rejected 1, returned 1, open 2.
ROW = CashlessRow(
    programme="pension", province="01", commune="00004", period="2026-11",
    instructed_count=14, instructed_amount=14_000_000,
    paid_count=10, paid_amount=10_000_000, cashless_count=8, cashless_amount=7_000_000,
    cash_count=2, cash_amount=3_000_000, rerouted_cash_count=1, rerouted_cash_amount=1_000_000,
    rejected_count=1, rejected_amount=1_000_000, returned_count=1, returned_amount=1_000_000,
    open_count=2, open_amount=2_000_000, active_beneficiaries=20, with_account=15)


@pytest.mark.parametrize("numerator,denominator,want", [
    (0, 0, None), (5, 0, None), (0, 4, 0.0), (3, 4, 0.75), (4, 4, 1.0),
])
def test_rate(numerator: int, denominator: int, want: float | None) -> None:
    assert rate(numerator, denominator) == want


def test_rates_of_a_consistent_row() -> None:
    rates = rates_of(ROW)
    assert rates["cashless_rate_count"] == 0.8
    assert rates["cashless_rate_amount"] == 0.7
    assert rates["account_holder_cashless_rate"] == 8 / 9
    assert rates["cash_share_count"] == 0.2
    assert rates["account_coverage"] == 0.75
    assert rates["open_share_count"] == 2 / 14
    assert rates["rejected_share_amount"] == 1 / 14


def test_an_empty_group_has_none_rates_not_errors() -> None:
    figures = figures_of(CashlessRow(programme="pension"))
    assert isinstance(figures, CashlessFigures)
    assert set(figures.rates.values()) == {None}


@pytest.mark.parametrize("change,code,field", [
    ({"paid_count": 11, "cashless_count": 9}, "states_do_not_add_up", "instructed_count"),
    ({"open_amount": 1}, "states_do_not_add_up", "instructed_amount"),
    ({"cash_count": 1, "rerouted_cash_count": 0},
     "channels_do_not_add_up", "paid_count"),
    ({"rerouted_cash_amount": 4_000_000}, "rerouted_out_of_range", "rerouted_cash_amount"),
    ({"with_account": 21}, "coverage_out_of_range", "with_account"),
])
def test_broken_identities_are_errors(change: dict[str, Any], code: str, field: str) -> None:
    row = replace(ROW, **change)
    [error] = check_row(row)
    assert (error.code, error.field) == (code, field)
    assert error.group["commune"] == "00004"
    assert figures_of(row) == [error]


def test_check_total_finds_groups_that_do_not_sum_to_the_total() -> None:
    half = replace(ROW, commune="00008")
    assert check_total([ROW, half], sum_rows([ROW, half]), ("commune",)) == []
    wrong = replace(sum_rows([ROW, half]), paid_amount=1)
    assert [e.field for e in check_total([ROW, half], wrong, ("commune",))] == ["paid_amount"]
    # by period, every month repeats the registry's coverage: not compared
    assert check_total([ROW, ROW], replace(sum_rows([ROW, ROW]), with_account=15),
                       ("period",)) == []


@pytest.mark.parametrize("value,want", [
    ("", ()), (None, ()), ("period,programme", ("programme", "period")),
    (" commune , province ", ("province", "commune")), (["province"], ("province",)),
])
def test_parse_by(value: Any, want: tuple[str, ...]) -> None:
    assert parse_by(value) == want


def test_parse_by_names_the_parameter() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_by("programme,bank")
    assert caught.value.extra["errors"][0]["parameter"] == "by"


@pytest.mark.parametrize("first,last,want", [
    ("2026-11", "2026-11", ["2026-11"]),
    ("2025-11", "2026-02", ["2025-11", "2025-12", "2026-01", "2026-02"]),
])
def test_periods_between(first: str, last: str, want: list[str]) -> None:
    assert periods_between(first, last) == want


@pytest.mark.parametrize("first,last", [("2026-02", "2026-01"), ("2000-01", "2026-01"),
                                        ("2026-13", "2026-12"), ("26-1", "2026-12")])
def test_periods_between_rejects(first: str, last: str) -> None:
    with pytest.raises(ValidationFailed):
        periods_between(first, last)


def test_targets_default_and_override() -> None:
    targets = parse_targets({"default": {"cashless_rate_count": 80},
                             "provinces": {"01": {"cashless_rate_count": 95}}})
    assert targets.for_province("01") == {"cashless_rate_count": 95.0}
    assert targets.for_province("79") == targets.for_province(None) == {
        "cashless_rate_count": 80.0}
    progress = progress_against(targets.for_province("01"), {"cashless_rate_count": 0.95})
    assert progress == [{"rate": "cashless_rate_count", "target": 0.95, "actual": 0.95,
                         "met": True, "gap": 0.0}]
    [empty] = progress_against(targets.for_province("01"), {"cashless_rate_count": None})
    assert (empty["met"], empty["gap"]) == (None, None)


@pytest.mark.parametrize("data", [
    {}, {"default": []}, {"default": {"cashless_rate_count": 120}},
    {"default": {"speed": 5}}, {"default": {"cashless_rate_count": True}},
    {"default": {}, "provinces": {"01": {"account_coverage": "90"}}},
])
def test_bad_targets_are_configuration_errors(data: Any) -> None:
    with pytest.raises(ConfigurationError):
        parse_targets(data)


def test_packaged_targets_load_and_the_env_names_another_file(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    packaged = load_targets()
    assert packaged.for_province("79")["account_holder_cashless_rate"] == 100
    other = tmp_path / "targets.json"
    other.write_text('{"default": {"account_coverage": 42}}', encoding="utf-8")
    monkeypatch.setenv("DISBURSE_TARGETS_FILE", str(other))
    assert load_targets().for_province("01") == {"account_coverage": 42.0}
    other.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_targets()


@pytest.mark.parametrize("value,want", [
    ("=1+1", "'=1+1"), ("+84", "'+84"), ("-x", "'-x"), ("@SUM(A1)", "'@SUM(A1)"),
    ("Hà Nội", "Hà Nội"), (-5, -5), (None, None), (0.5, 0.5),
])
def test_cells_are_neutralised_but_numbers_kept(value: Any, want: Any) -> None:
    assert cell(value) == want


# --- properties ------------------------------------------------------------------------------

_MONEY = st.integers(min_value=1, max_value=500_000_000)


@st.composite
def consistent_rows(draw: st.DrawFn) -> CashlessRow:
    """A group built from individual instructions, as the database would count them."""
    states = draw(st.lists(st.tuples(
        st.sampled_from(["cashless", "cash", "rerouted", "rejected", "returned", "open"]),
        _MONEY), max_size=30))
    numbers: dict[str, Any] = dict.fromkeys(
        [f"{n}_{u}" for n in ("instructed", "paid", "cashless", "cash", "rerouted_cash",
                              "rejected", "returned", "open") for u in ("count", "amount")], 0)

    def add(name: str, amount: int) -> None:
        numbers[f"{name}_count"] += 1
        numbers[f"{name}_amount"] += amount

    for state, amount in states:
        add("instructed", amount)
        if state in ("cashless", "cash", "rerouted"):
            add("paid", amount)
            add("cashless" if state == "cashless" else "cash", amount)
            if state == "rerouted":
                add("rerouted_cash", amount)
        else:
            add(state, amount)
    active = draw(st.integers(min_value=0, max_value=100))
    holders = draw(st.integers(min_value=0, max_value=active))
    province = draw(st.sampled_from(["01", "79", None]))
    return CashlessRow(province=province, **numbers, active_beneficiaries=active,
                       with_account=holders)


@given(consistent_rows())
def test_rows_from_instructions_always_add_up(row: CashlessRow) -> None:
    figures = figures_of(row, parse_targets({"default": {"cashless_rate_count": 50}}))
    assert isinstance(figures, CashlessFigures)
    assert row.cashless_count <= row.paid_count
    assert all(v is None or 0 <= v <= 1 for v in figures.rates.values())
    shares = [figures.rates[f"{n}_share_count"] for n in ("paid", "rejected", "returned",
                                                            "open")]
    if row.instructed_count:
        assert sum(s for s in shares if s is not None) == pytest.approx(1)
    else:
        assert shares == [None] * 4
    if row.paid_count:
        assert (figures.rates["cashless_rate_count"] or 0) + (
            figures.rates["cash_share_count"] or 0) == pytest.approx(1)
    assert len(figures.targets) == 1


@given(st.lists(consistent_rows(), max_size=6))
def test_the_sum_of_consistent_groups_is_consistent(rows: list[CashlessRow]) -> None:
    total = sum_rows(rows)
    assert check_row(total) == []
    assert check_total(rows, total, ("province",)) == []
    assert total.paid_amount == sum(r.paid_amount for r in rows)


@given(consistent_rows(), st.sampled_from(["instructed", "paid", "open", "cash"]),
       st.sampled_from(["count", "amount"]), st.integers(min_value=1, max_value=10**6))
def test_any_drift_is_reported_never_a_number(row: CashlessRow, name: str, unit: str,
                                              drift: int) -> None:
    key = f"{name}_{unit}"
    broken = replace(row, **{key: getattr(row, key) + drift})
    result = figures_of(broken)
    assert isinstance(result, list) and result
