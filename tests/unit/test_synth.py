"""Tests of the synthetic-data generator ``disburse synth`` (population, lists, account book).

The checks recompute every property independently of the generator's own helpers: the CCCD
century/gender digit from the date of birth, the bank form of names, the province of each
commune from ``vietnam-provinces``.
"""

from __future__ import annotations

import csv
import json
import random
import time
import unicodedata
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from vietnam_provinces import Province, Ward, WardCode

from beneficiaries.columns import headers
from beneficiaries.reference import BankKind, load_banks, load_cccd_provinces
from beneficiaries.rules import (
    compare_holder_name,
    normalize_phone,
    parse_channel,
    parse_date,
    parse_gender,
    parse_vnd,
    validate_cccd,
    validate_name,
    validate_payment_target,
)
from beneficiaries.synth import (
    DEFAULT_TODAY,
    DefectKind,
    Gender,
    Person,
    Status,
    generate_population,
    read_list_rows,
    read_population_csv,
)
from beneficiaries.synth.names import WeightedTable, random_name
from disburse.entry.cli.synth import synth

POPULATION_SIZE = 20_000
PERIOD_START = date(2026, 11, 1)
PROGRAMMES = ("pension", "social_protection", "revolutionary", "unemployment")
#: Century of birth -> 4th CCCD digit for a man (a woman's is one more), per Circular 59/2021.
CENTURY_DIGIT = {1800: 8, 1900: 0, 2000: 2, 2100: 4}
VN_MOBILE_PREFIXES = ("03", "05", "07", "08", "09")


def run(*args: object) -> str:
    """Run ``synth`` with CliRunner; fail on a non-zero exit; return stdout."""
    result = CliRunner().invoke(synth, [str(a) for a in args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def sha(path: Path) -> bytes:
    return path.read_bytes()


def bank_form(name: str) -> str:
    """Independent bank form: đ/Đ -> D, marks stripped, upper case."""
    name = name.replace("đ", "d").replace("Đ", "D")
    marks = unicodedata.normalize("NFD", name)
    return "".join(c for c in marks if not unicodedata.combining(c)).upper()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 20,000-person population, CSV/vi and XLSX/en lists, and the account book."""
    root = tmp_path_factory.mktemp("synth")
    paths = {
        "population": root / "population.csv", "vi": root / "lists_vi",
        "en": root / "lists_en", "accounts": root / "accounts.csv",
    }
    run("population", "--count", POPULATION_SIZE, "--out", paths["population"], "--seed", 11)
    run("lists", "--population", paths["population"], "--out", paths["vi"], "--seed", 5)
    run("lists", "--population", paths["population"], "--out", paths["en"], "--seed", 5,
        "--format", "xlsx", "--lang", "en")
    run("accounts", "--population", paths["population"], "--lists", paths["vi"],
        "--out", paths["accounts"], "--seed", 5, "--missing-rate", "0.01")
    return paths


@pytest.fixture(scope="module")
def people(world: dict[str, Path]) -> list[Person]:
    return list(read_population_csv(world["population"]))


@pytest.fixture(scope="module")
def by_id(people: list[Person]) -> dict[str, Person]:
    return {p.citizen_id: p for p in people}


def answer_key(directory: Path) -> dict[str, Any]:
    key: dict[str, Any] = json.loads((directory / "answer_key.json").read_text("utf-8"))
    return key


def list_files(directory: Path) -> dict[str, list[dict[str, str]]]:
    files = answer_key(directory)["files"]
    return {name: list(read_list_rows(directory / name)) for name in files}


def xlsx_rows(path: Path) -> list[tuple[object, ...]]:
    workbook = openpyxl.load_workbook(path, read_only=True)
    sheet = workbook.active
    assert sheet is not None
    rows: list[tuple[object, ...]] = list(sheet.iter_rows(values_only=True))
    workbook.close()
    return rows


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_gives_identical_bytes_and_another_seed_differs(tmp_path: Path) -> None:
    outputs: dict[str, list[Path]] = {}
    for run_name, seed in (("a", 7), ("b", 7), ("c", 8)):
        base = tmp_path / run_name
        base.mkdir()
        run("population", "--count", 3000, "--out", base / "pop.csv", "--seed", seed)
        run("lists", "--population", base / "pop.csv", "--out", base / "csv", "--seed", seed)
        run("lists", "--population", base / "pop.csv", "--out", base / "xlsx", "--seed", seed,
            "--format", "xlsx", "--lang", "en")
        run("accounts", "--population", base / "pop.csv", "--lists", base / "csv",
            "--out", base / "accounts.csv", "--seed", seed)
        outputs[run_name] = sorted(p for p in base.rglob("*") if p.is_file())
    names = [p.relative_to(tmp_path / "a") for p in outputs["a"]]
    assert names == [p.relative_to(tmp_path / "b") for p in outputs["b"]]
    assert len(names) == 13  # population + 2 × (4 lists + key) + book + its key
    for first, second in zip(outputs["a"], outputs["b"], strict=True):
        assert sha(first) == sha(second), first.name
    for first, other in zip(outputs["a"], outputs["c"], strict=True):
        assert sha(first) != sha(other), first.name


def test_generate_population_is_a_pure_function_of_its_arguments() -> None:
    first = list(generate_population(500, seed=3))
    assert first == list(generate_population(500, seed=3))
    assert first != list(generate_population(500, seed=4))
    later = list(generate_population(500, seed=3, today=date(2030, 1, 1)))
    assert [p.date_of_birth for p in later] != [p.date_of_birth for p in first]


# --- the population -------------------------------------------------------------------------


def test_population_header_and_row_count(world: dict[str, Path], people: list[Person]) -> None:
    with world["population"].open(encoding="utf-8") as handle:
        assert handle.readline().strip() == (
            "citizen_id,full_name,date_of_birth,gender,province_code,commune_code,status,"
            "date_of_death"
        )
    assert len(people) == POPULATION_SIZE


def test_cccds_are_well_formed_consistent_and_unique(people: list[Person]) -> None:
    provinces = load_cccd_provinces()
    for person in people:
        cccd = person.citizen_id
        assert len(cccd) == 12 and cccd.isascii() and cccd.isdigit(), cccd
        assert cccd[:3] in provinces, cccd
        century = person.date_of_birth.year // 100 * 100
        expected = CENTURY_DIGIT[century] + (person.gender == "female")
        assert int(cccd[3]) == expected, (cccd, person)
        assert cccd[4:6] == f"{person.date_of_birth.year % 100:02d}", (cccd, person)
    assert len({p.citizen_id for p in people}) == len(people)
    # Birth provinces spread over the whole table, weighted towards the big cities.
    births = Counter(p.citizen_id[:3] for p in people)
    assert len(births) >= 60
    assert births.most_common(2)[0][0] in {"001", "079"}


def test_names_are_nfc_with_two_to_four_words(people: list[Person]) -> None:
    for person in people:
        assert unicodedata.is_normalized("NFC", person.full_name), person.full_name
        words = person.full_name.split()
        assert 2 <= len(words) <= 4, person.full_name
        assert len(set(words)) == len(words), person.full_name
    counts = Counter(len(p.full_name.split()) for p in people)
    assert set(counts) == {2, 3, 4}


def test_surname_distribution_puts_nguyen_between_30_and_45_percent(
    people: list[Person],
) -> None:
    surnames = Counter(p.full_name.split()[0] for p in people)
    share = surnames["Nguyễn"] / len(people)
    assert 0.30 <= share <= 0.45, share
    assert [name for name, _ in surnames.most_common(3)] == ["Nguyễn", "Trần", "Lê"]
    assert len(surnames) > 30


def test_middle_names_follow_gender(people: list[Person]) -> None:
    thi = Counter(p.gender for p in people if "Thị" in p.full_name.split()[1:-1])
    van = Counter(p.gender for p in people if "Văn" in p.full_name.split()[1:-1])
    assert thi[Gender.FEMALE] > 1000 and thi[Gender.MALE] == 0
    assert van[Gender.MALE] > 1000 and van[Gender.FEMALE] == 0


def test_ages_fit_the_programmes(people: list[Person]) -> None:
    ages = [(DEFAULT_TODAY - p.date_of_birth).days / 365.25 for p in people]
    assert min(ages) >= 5 and max(ages) < 101
    over_60 = sum(a >= 60 for a in ages) / len(ages)
    working = sum(18 <= a < 60 for a in ages) / len(ages)
    assert 0.4 <= over_60 <= 0.6, over_60
    assert 0.3 <= working <= 0.55, working


def test_localities_are_2025_provinces_and_their_communes(people: list[Person]) -> None:
    provinces = {f"{int(p.code):02d}" for p in Province.iter_all()}
    assert len(provinces) == 34
    for person in people:
        assert person.province_code in provinces, person
        assert len(person.commune_code) == 5, person
        ward = Ward.from_code(WardCode(int(person.commune_code)))
        assert f"{int(ward.province_code):02d}" == person.province_code, person
    assert len({p.province_code for p in people}) == 34


def test_residence_usually_follows_birth_province(people: list[Person]) -> None:
    """The birth province (old code) maps into the residence province for most people."""
    merged_into = {"079": "79", "074": "79", "001": "01", "036": "37", "054": "66"}
    relevant = [p for p in people if p.citizen_id[:3] in merged_into]
    same = sum(merged_into[p.citizen_id[:3]] == p.province_code for p in relevant)
    assert 0.8 <= same / len(relevant) < 1.0


def test_deceased_share_and_dates(people: list[Person]) -> None:
    deceased = [p for p in people if p.status is Status.DECEASED]
    assert 0.015 <= len(deceased) / len(people) <= 0.025
    for person in people:
        if person.status is Status.DECEASED:
            assert person.date_of_death is not None
            assert person.date_of_birth < person.date_of_death < DEFAULT_TODAY
        else:
            assert person.date_of_death is None
    mean_age = sum((DEFAULT_TODAY - p.date_of_birth).days for p in deceased) / len(deceased)
    assert mean_age / 365.25 > 65  # the old die more often


@pytest.mark.parametrize("share", [0.0, 0.1])
def test_deceased_share_is_configurable(share: float) -> None:
    people = list(generate_population(5000, seed=1, deceased_share=share))
    observed = sum(p.status is Status.DECEASED for p in people) / len(people)
    assert abs(observed - share) <= 0.02


# --- the lists ------------------------------------------------------------------------------


@pytest.mark.parametrize(("lang", "ext", "bom"), [("vi", "csv", True), ("en", "xlsx", None)])
def test_list_headers_and_encoding(
    world: dict[str, Path], lang: str, ext: str, bom: bool | None
) -> None:
    files = sorted(world[lang].glob(f"*.{ext}"))
    assert [f.name for f in files] == sorted(f"{p}_2026-11.{ext}" for p in PROGRAMMES)
    for path in files:
        if ext == "csv":
            raw = path.read_bytes()
            assert raw.startswith(b"\xef\xbb\xbf") is bom
            with path.open(encoding="utf-8-sig", newline="") as handle:
                assert next(csv.reader(handle)) == headers(lang)
        else:
            assert list(xlsx_rows(path)[0]) == headers(lang)


def test_english_csv_has_no_bom(tmp_path: Path, world: dict[str, Path]) -> None:
    run("lists", "--population", world["population"], "--out", tmp_path, "--lang", "en")
    raw = (tmp_path / "pension_2026-11.csv").read_bytes()
    assert raw.startswith(b"Citizen ID,")


def test_answer_key_rows_carry_their_defects(
    world: dict[str, Path], by_id: dict[str, Person]
) -> None:
    key = answer_key(world["vi"])
    assert "header is row 1" in str(key["row_numbers"])
    rows = list_files(world["vi"])
    kinds: Counter[str] = Counter()
    for name, entry in key["files"].items():
        data = rows[name]
        assert entry["rows"] == len(data)
        ids = Counter(row["citizen_id"] for row in data)
        for defect in entry["defects"]:
            kinds[defect["kind"]] += 1
            assert defect["file"] == name
            row = data[defect["row"] - 2]  # row 2 is the first data row
            assert row["citizen_id"] == defect["written_citizen_id"]
            check_defect(defect, row, by_id, ids, data)
    assert set(kinds) == {k.value for k in DefectKind}


def check_defect(
    defect: dict[str, object], row: dict[str, str], by_id: dict[str, Person],
    ids: Counter[str], data: list[dict[str, str]],
) -> None:
    kind, cccd = defect["kind"], str(defect["citizen_id"])
    person = by_id.get(cccd)
    if kind == "unknown_id":
        assert person is None and len(cccd) == 12
        assert validate_cccd(cccd, date_of_birth=parse_dob(row), gender=parse_sex(row))[1] == []
        return
    assert person is not None
    if kind == "lost_leading_zero":
        assert len(row["citizen_id"]) == 11 and "0" + row["citizen_id"] == cccd
        codes = [e.code for e in validate_cccd(row["citizen_id"], date_of_birth=None,
                                               gender=None)[1]]
        assert codes == ["cccd_leading_zero_lost"] == [defect["expect"]]
    elif kind == "duplicate_row":
        assert ids[cccd] == 2
        assert data[int(str(defect["first_row"])) - 2] == row
    elif kind == "nfd_name":
        assert not unicodedata.is_normalized("NFC", row["full_name"])
        assert unicodedata.normalize("NFC", row["full_name"]) == person.full_name
        assert defect["expect"] == "accepted_normalised"
    elif kind == "deceased":
        assert person.status is Status.DECEASED and defect["expect"] == "deceased"
    elif kind == "wrong_name":
        assert row["full_name"] != person.full_name
        assert row["full_name"].split()[:-1] == person.full_name.split()[:-1]
    elif kind == "wrong_dob":
        dob = parse_dob(row)
        assert dob != person.date_of_birth and dob.year == person.date_of_birth.year
        assert validate_cccd(cccd, date_of_birth=dob, gender=parse_sex(row))[1] == []
    elif kind == "invalid_account":
        _, _, errors = validate_payment_target("bank", row["bank_bin"], row["account_number"])
        assert [e.code for e in errors] == [defect["expect"]]


def parse_dob(row: dict[str, str]) -> date:
    value, errors = parse_date(row["date_of_birth"], today=PERIOD_START)
    assert value is not None, errors
    return value


def parse_sex(row: dict[str, str]) -> str:
    value, errors = parse_gender(row["gender"])
    assert value is not None, errors
    return value


@pytest.mark.parametrize("lang", ["vi", "en"])
def test_clean_rows_pass_every_rule_and_match_the_registry(
    world: dict[str, Path], by_id: dict[str, Person], lang: str
) -> None:
    key = answer_key(world[lang])
    for name, data in list_files(world[lang]).items():
        entry = key["files"][name]
        flagged = {d["row"] for d in entry["defects"]}
        flagged |= {d["first_row"] for d in entry["defects"] if "first_row" in d}
        clean = [row for n, row in enumerate(data, start=2) if n not in flagged]
        assert len(clean) == entry["clean_rows"] > 0
        for row in clean:
            check_clean_row(row, by_id, name.split("_2026")[0])


def check_clean_row(row: dict[str, str], by_id: dict[str, Person], programme: str) -> None:
    person = by_id[row["citizen_id"]]
    dob, sex = parse_dob(row), parse_sex(row)
    assert person.status is Status.ALIVE
    assert (row["full_name"], dob, sex) == (person.full_name, person.date_of_birth, person.gender)
    assert (row["province_code"], row["commune_code"]) == (
        person.province_code, person.commune_code)
    assert validate_cccd(row["citizen_id"], date_of_birth=dob, gender=sex)[1] == []
    assert validate_name(row["full_name"])[1] == []
    channel, errors = parse_channel(row["channel"])
    assert channel is not None, errors
    assert channel != "cash" or programme != "unemployment"  # unemployment never pays cash
    _, _, errors = validate_payment_target(channel, row["bank_bin"], row["account_number"])
    assert errors == []
    if channel != "cash":
        assert compare_holder_name(row["full_name"], row["account_holder"]) == []
    if channel == "ewallet":
        assert row["account_number"] == row["phone"]
    if row["phone"]:
        assert normalize_phone(row["phone"]) == (row["phone"], [])
        assert row["phone"][:2] in VN_MOBILE_PREFIXES and len(row["phone"]) == 10
    check_amount(row, programme)


def check_amount(row: dict[str, str], programme: str) -> None:
    if programme == "social_protection":
        coefficient = Decimal(row["coefficient"])  # XLSX reads 2.0 back as 2
        assert coefficient in {Decimal(c) for c in ("1.0", "1.5", "2.0", "2.5", "3.0")}
        if row["amount"]:
            amount, _ = parse_vnd(row["amount"])
            assert amount == 500_000 * coefficient
        return
    amount, errors = parse_vnd(row["amount"])
    assert amount is not None, errors
    bounds = {
        "pension": (3_000_000, 15_000_000),
        "revolutionary": (1_394_500, 8_367_000),
        "unemployment": (2_976_000, 24_800_000),
    }[programme]
    assert bounds[0] <= amount <= bounds[1]
    if programme == "revolutionary":
        assert (amount * 2) % 2_789_000 == 0


def test_vietnamese_lists_use_vietnamese_formats(world: dict[str, Path]) -> None:
    rows = list_files(world["vi"])["pension_2026-11.csv"]
    assert all("." in row["amount"] and "," not in row["amount"] for row in rows)
    assert {row["gender"] for row in rows} == {"Nam", "Nữ"}
    assert {row["channel"] for row in rows} == {"Chuyển khoản", "Ví điện tử", "Tiền mặt"}
    assert all(row["date_of_birth"][2] == "/" for row in rows)


def test_xlsx_stores_the_damaged_cccd_as_a_number(world: dict[str, Path]) -> None:
    key = answer_key(world["en"])
    entry = key["files"]["pension_2026-11.xlsx"]
    lost = {d["row"] for d in entry["defects"] if d["kind"] == "lost_leading_zero"}
    rows = xlsx_rows(world["en"] / "pension_2026-11.xlsx")
    for number, cells in enumerate(rows[1:], start=2):
        assert isinstance(cells[0], int) is (number in lost), (number, cells[0])
        assert isinstance(cells[2], date)
        assert isinstance(cells[6], int)  # pension amounts are numbers
    assert lost


def test_each_person_is_on_a_list_once_and_overlap_is_rare(
    world: dict[str, Path], by_id: dict[str, Person]
) -> None:
    key = answer_key(world["vi"])
    members: dict[str, set[str]] = {}
    for name, data in list_files(world["vi"]).items():
        duplicates = {d["row"] for d in key["files"][name]["defects"]
                      if d["kind"] == "duplicate_row"}
        ids = [r["citizen_id"].zfill(12) for n, r in enumerate(data, 2) if n not in duplicates]
        assert len(ids) == len(set(ids)), name
        members[name] = set(ids)
    everyone = Counter(cid for ids in members.values() for cid in ids)
    multi = sum(count > 1 for count in everyone.values())
    assert 0 < multi / len(everyone) < 0.1
    sizes = {name.split("_2026")[0]: len(ids) for name, ids in members.items()}
    assert sizes["pension"] > sizes["social_protection"] > sizes["unemployment"] > 50


def test_channel_mix_is_more_cash_in_the_mountains(world: dict[str, Path]) -> None:
    data = [row for rows in list_files(world["vi"]).values() for row in rows]

    def cash_share(provinces: set[str]) -> float:
        rows = [r for r in data if r["province_code"] in provinces]
        return sum(r["channel"] == "Tiền mặt" for r in rows) / len(rows)

    assert cash_share({"04", "08", "11", "12", "14", "15", "20"}) > 0.45
    assert cash_share({"79", "01"}) < 0.25


def test_accounts_use_real_bins_with_realistic_numbers(world: dict[str, Path]) -> None:
    banks = load_banks()
    data = [row for rows in list_files(world["vi"]).values() for row in rows]
    bank_rows = [r for r in data if r["channel"] == "Chuyển khoản" and r["bank_bin"] in banks]
    assert all(banks[r["bank_bin"]].kind is BankKind.BANK for r in bank_rows)
    assert all(6 <= len(r["account_number"]) <= 19 for r in bank_rows
               if r["account_number"].isdigit() and len(r["account_number"]) > 4)
    assert any(r["account_number"].startswith("0") for r in bank_rows)
    assert len({r["bank_bin"] for r in bank_rows}) > 10
    wallets = [r for r in data if r["channel"] == "Ví điện tử"]
    assert {r["bank_bin"] for r in wallets} <= {"971005", "971011", "971025"}
    holders = [r["account_holder"] for r in bank_rows if r["account_holder"]]
    upper = sum(h == bank_form(h) for h in holders) / len(holders)
    assert 0.7 < upper < 0.97  # mostly bank form, some with diacritics


# --- the account book -----------------------------------------------------------------------


def test_account_book_matches_lists_population_and_key(
    world: dict[str, Path], by_id: dict[str, Person]
) -> None:
    with world["accounts"].open(encoding="utf-8", newline="") as handle:
        book = {(r["bin"], r["account_number"]): r for r in csv.DictReader(handle)}
    key = json.loads((world["accounts"].parent / "accounts_key.json").read_text("utf-8"))
    exceptions = {(e["bin"], e["account_number"]): e for e in key["exceptions"]}
    states = Counter(e["status"] for e in exceptions.values())
    assert states["missing"] > 0 and states["closed"] > 0 and states["blocked"] > 0
    for pair, entry in exceptions.items():
        assert (pair in book) is entry["in_book"] is (entry["status"] != "missing")
        if pair in book:
            assert book[pair]["status"] == entry["status"]
    lists_key = answer_key(world["vi"])
    for name, data in list_files(world["vi"]).items():
        bad = {d["row"] for d in lists_key["files"][name]["defects"]
               if d["kind"] in ("invalid_account", "unknown_id")}
        for number, row in enumerate(data, start=2):
            pair = (row["bank_bin"], row["account_number"])
            if number in bad or not row["account_number"]:
                continue
            person = by_id[row["citizen_id"].zfill(12)]
            if pair in exceptions and exceptions[pair]["status"] == "missing":
                assert pair not in book
                continue
            entry = book[pair]
            assert entry["holder_name"] == bank_form(person.full_name)
            assert entry["holder_deceased"] == ("true" if person.status == "deceased" else "false")
            deceased_in_key = pair in exceptions and exceptions[pair]["holder_deceased"]
            assert deceased_in_key is (person.status == "deceased")


def test_cli_prints_one_summary_line(tmp_path: Path) -> None:
    out = run("population", "--count", 50, "--out", tmp_path / "p.csv")
    assert out.count("\n") == 1 and out.startswith("population: 50 people")
    out = run("lists", "--population", tmp_path / "p.csv", "--out", tmp_path / "l")
    assert out.count("\n") == 1 and out.startswith("lists: 4 files")
    result = CliRunner().invoke(synth, ["lists", "--population", str(tmp_path / "p.csv"),
                                        "--out", str(tmp_path / "x"), "--period", "2026-13"])
    assert result.exit_code != 0 and "YYYY-MM" in result.output


def test_rates_of_zero_give_clean_lists(tmp_path: Path, world: dict[str, Path]) -> None:
    zero = [arg for kind in DefectKind
            for arg in (f"--{kind.value.replace('_', '-')}-rate", "0")]
    run("lists", "--population", world["population"], "--out", tmp_path, *zero)
    key = answer_key(tmp_path)
    for entry in key["files"].values():
        assert entry["defects"] == [] and entry["clean_rows"] == entry["rows"]


# --- building blocks ------------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32), gender=st.sampled_from(["male", "female"]))
def test_random_name_property(seed: int, gender: str) -> None:
    name = random_name(random.Random(seed), gender)
    words = name.split()
    assert 2 <= len(words) <= 4 and len(set(words)) == len(words)
    assert unicodedata.is_normalized("NFC", name)


@settings(max_examples=200, deadline=None)
@given(weights=st.lists(st.floats(0.001, 1000), min_size=1, max_size=20),
       seed=st.integers(0, 2**32))
def test_weighted_table_always_returns_a_value_of_the_table(
    weights: list[float], seed: int
) -> None:
    table = WeightedTable([(i, w) for i, w in enumerate(weights)])
    rng = random.Random(seed)
    assert all(0 <= table.pick(rng) < len(weights) for _ in range(50))


def test_weighted_table_follows_its_weights() -> None:
    table = WeightedTable([("a", 1.0), ("b", 3.0)])
    rng = random.Random(0)
    share = sum(table.pick(rng) == "b" for _ in range(20_000)) / 20_000
    assert abs(share - 0.75) < 0.02 and table.share("b") == 0.75


def test_hundred_thousand_people_generate(tmp_path: Path) -> None:
    started = time.perf_counter()
    run("population", "--count", 100_000, "--out", tmp_path / "p.csv", "--seed", 2)
    elapsed = time.perf_counter() - started
    with (tmp_path / "p.csv").open(encoding="utf-8") as handle:
        assert sum(1 for _ in handle) == 100_001
    print(f"100,000 people in {elapsed:.1f} s")
