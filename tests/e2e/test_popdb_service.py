"""The reference population registry as a real process, and the HTTP client against it."""

from __future__ import annotations

import csv
import hashlib
import json
import socket
import subprocess
import sys
import unicodedata
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from beneficiaries.registry import (
    BreakerState,
    CircuitBreaker,
    HttpPopulationRegistry,
    LookupOutcome,
    RegistryStatus,
)
from beneficiaries.registry.client import parse_answer
from disburse.entry.popdb.store import LOAD_CHUNK, PopulationStore, load_population

pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
COLUMNS = ("citizen_id", "full_name", "date_of_birth", "gender", "province_code",
           "commune_code", "status", "date_of_death")
#: Hand-written people: alive and deceased, names with Vietnamese diacritics.
PEOPLE: tuple[tuple[str, ...], ...] = (
    ("001190012345", "Nguyễn Thị Hồng Nhung", "1990-04-12", "female", "01", "00004", "alive",
     ""),
    ("079045000123", "Trần Văn Đức", "1945-11-02", "male", "79", "26734", "alive", ""),
    ("038155001234", "Phạm Quốc Hưng", "1955-07-30", "male", "38", "15667", "deceased",
     "2023-05-17"),
    ("048301009876", "Lê Thị Ánh Tuyết", "2001-01-09", "female", "48", "20194", "alive", ""),
    ("092160004321", "Đặng Thuỳ Dương", "1960-03-21", "female", "92", "31117", "deceased",
     "2024-12-01"),
)
BULK = 3000  # generated people, enough to exercise batching
ALIVE = "001190012345"
DECEASED = "038155001234"
UNKNOWN = "999999999999"
TOKEN = "popdb-test-token"  # the token the conftest starts registries with
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def bulk_id(n: int) -> str:
    """The citizen ID of generated person ``n``."""
    return f"{100_000_000_000 + n:012d}"


def write_population_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="module")
def population_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bulk = [(bulk_id(n), f"Người Thứ {n}", "1970-01-01", "male" if n % 2 else "female",
             "01", "00004", "alive", "") for n in range(BULK)]
    path = tmp_path_factory.mktemp("population") / "population.csv"
    return write_population_csv(path, [*PEOPLE, *bulk])


@pytest.fixture(scope="module")
def popdb_server(popdb_module_launcher, population_csv: Path, popdb_token: str):
    """One registry process with faults enabled, shared by this module."""
    assert popdb_token == TOKEN
    return popdb_module_launcher.start(population_csv)


@pytest.fixture
def api(popdb_server) -> Iterator[httpx.Client]:
    """A raw HTTP client on the shared registry, with faults and counters reset."""
    with httpx.Client(base_url=popdb_server.base_url, timeout=10) as client:
        client.delete("/_faults", headers=AUTH).raise_for_status()
        yield client
        client.delete("/_faults", headers=AUTH).raise_for_status()


def lookup_requests(api: httpx.Client) -> int:
    """How many lookup requests the registry has received since the last reset."""
    count: int = api.get("/_faults", headers=AUTH).json()["stats"]["lookup_requests"]
    return count


def set_faults(api: httpx.Client, **settings: Any) -> None:
    api.post("/_faults", json=settings, headers=AUTH).raise_for_status()


def registry_client(server: Any, **options: Any) -> HttpPopulationRegistry:
    sleeps: list[float] = options.pop("sleeps", [])
    return HttpPopulationRegistry(server.base_url, server.token, sleep=sleeps.append, **options)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"] and body["title"] and body["detail"]
    return body


# --- the service ------------------------------------------------------------------------------


def test_health_needs_no_token_and_counts_records(api: httpx.Client) -> None:
    response = api.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "records": 5 + 3000}


def test_batch_lookup_answers_found_deceased_and_not_found(api: httpx.Client) -> None:
    body = {"citizen_ids": [ALIVE, DECEASED, UNKNOWN, ALIVE], "request_id": "req-1"}
    response = api.post("/v1/citizens/lookup", json=body, headers=AUTH)
    assert response.status_code == 200
    answer = response.json()
    assert answer["request_id"] == "req-1"
    assert datetime.fromisoformat(answer["served_at"]).utcoffset() is not None
    by_id = {item["citizen_id"]: item for item in answer["results"]}
    assert len(answer["results"]) == 3  # the duplicate is answered once
    assert by_id[ALIVE] == {
        "citizen_id": ALIVE, "found": True, "full_name": "Nguyễn Thị Hồng Nhung",
        "date_of_birth": "1990-04-12", "gender": "female", "status": "alive",
        "date_of_death": None, "province_code": "01", "commune_code": "00004",
    }
    assert by_id[DECEASED]["status"] == "deceased"
    assert by_id[DECEASED]["date_of_death"] == "2023-05-17"
    assert by_id[UNKNOWN] == {"citizen_id": UNKNOWN, "found": False}


def test_single_lookup_and_404(api: httpx.Client) -> None:
    found = api.get(f"/v1/citizens/{DECEASED}", headers=AUTH)
    assert found.status_code == 200
    assert found.json()["full_name"] == "Phạm Quốc Hưng"
    assert found.json()["date_of_death"] == "2023-05-17"
    missing = assert_problem(api.get(f"/v1/citizens/{UNKNOWN}", headers=AUTH), 404)
    assert UNKNOWN in missing["detail"]
    assert_problem(api.get("/v1/citizens/12345", headers=AUTH), 400)


@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": "Bearer wrong-token"},
    {"Authorization": f"Basic {TOKEN}"},
    {"Authorization": f"Bearer {TOKEN}x"},
])
def test_requests_without_the_token_get_401(api: httpx.Client, headers: dict[str, str]) -> None:
    batch = api.post("/v1/citizens/lookup", json={"citizen_ids": [ALIVE]}, headers=headers)
    assert_problem(batch, 401)
    assert batch.headers["www-authenticate"].startswith("Bearer")
    assert_problem(api.get(f"/v1/citizens/{ALIVE}", headers=headers), 401)


def test_oversized_requests_get_413(api: httpx.Client) -> None:
    too_many = [bulk_id(n) for n in range(1001)]
    body = assert_problem(
        api.post("/v1/citizens/lookup", json={"citizen_ids": too_many}, headers=AUTH), 413)
    assert "1000" in body["detail"]
    padded = {"citizen_ids": [ALIVE], "request_id": "x", "padding": "p" * (300 * 1024)}
    assert_problem(api.post("/v1/citizens/lookup", json=padded, headers=AUTH), 413)


@pytest.mark.parametrize("content", [
    b'{"citizen_ids": [',
    b"\xff\xfe not utf-8",
    b'["001190012345"]',
    b'{"ids": ["001190012345"]}',
    b'{"citizen_ids": "001190012345"}',
    b'{"citizen_ids": [1190012345]}',
    b'{"citizen_ids": ["00119001234"]}',
    b'{"citizen_ids": ["0011900123456"]}',
    b'{"citizen_ids": ["00119001234a"]}',
    '{"citizen_ids": ["٠٠١١٩٠٠١٢٣٤٥"]}'.encode(),  # Arabic-Indic digits are not ASCII
    b'{"citizen_ids": ["001190012345"], "request_id": 7}',
])
def test_malformed_requests_get_400(api: httpx.Client, content: bytes) -> None:
    response = api.post("/v1/citizens/lookup", content=content,
                        headers={**AUTH, "Content-Type": "application/json"})
    assert_problem(response, 400)


def test_names_are_stored_nfc(tmp_path: Path) -> None:
    decomposed = unicodedata.normalize("NFD", "Trần Văn Đức")
    csv_path = write_population_csv(tmp_path / "nfd.csv", [
        ("079045000123", decomposed, "1945-11-02", "male", "79", "26734", "alive", "")])
    assert load_population(csv_path, tmp_path / "nfd.sqlite").ok
    row = PopulationStore(tmp_path / "nfd.sqlite").lookup(["079045000123"])["079045000123"]
    assert row[1] == unicodedata.normalize("NFC", "Trần Văn Đức") != decomposed


# --- loading the CSV ---------------------------------------------------------------------------

GOOD = ("001190012345", "Nguyễn Thị Hồng Nhung", "1990-04-12", "female", "01", "00004", "alive",
        "")


def _with(**changes: str) -> tuple[str, ...]:
    fields = dict(zip(("citizen_id", "full_name", "date_of_birth", "gender", "province_code",
                       "commune_code", "status", "date_of_death"), GOOD, strict=True))
    return tuple({**fields, **changes}.values())


@pytest.mark.parametrize(("row", "field", "reason"), [
    (_with(citizen_id="00119001234"), "citizen_id", "12-digit"),
    (_with(citizen_id="00119001234X"), "citizen_id", "12-digit"),
    (_with(full_name=""), "full_name", "empty"),
    (_with(date_of_birth="12/04/1990"), "date_of_birth", "yyyy-mm-dd"),
    (_with(date_of_birth="1990-02-30"), "date_of_birth", "valid"),
    (_with(gender="nam"), "gender", "male|female"),
    (_with(province_code=""), "province_code", "empty"),
    (_with(status="dead"), "status", "alive|deceased"),
    (_with(status="deceased"), "date_of_death", "required"),
    (_with(date_of_death="2020-01-01"), "date_of_death", "must be empty"),
    (_with(status="deceased", date_of_death="1980-01-01"), "date_of_death", "before"),
    (_with(status="deceased", date_of_death="2020-13-01"), "date_of_death", "valid"),
])
def test_a_bad_row_rejects_the_whole_load(
    tmp_path: Path, row: tuple[str, ...], field: str, reason: str
) -> None:
    other = _with(citizen_id="079045000123")
    csv_path = write_population_csv(tmp_path / "bad.csv", [other, row])
    report = load_population(csv_path, tmp_path / "db.sqlite")
    assert not report.ok and report.records == 0
    error = report.errors[0]
    assert (error.file, error.row, error.field) == (str(csv_path), 3, field)
    assert reason in error.reason
    assert str(error).startswith(f"{csv_path}, row 3, field {field}: ")
    assert not (tmp_path / "db.sqlite").exists()


def test_a_short_row_is_named(tmp_path: Path) -> None:
    report = load_population(write_population_csv(tmp_path / "short.csv", [GOOD, GOOD[:5]]),
                             tmp_path / "db.sqlite")
    assert [(e.row, e.field) for e in report.errors] == [(3, "")]
    assert "has 5 fields, too few" in report.errors[0].reason


@pytest.mark.parametrize(("bulk", "expected_row"), [
    (3, 2 + 3 + 1),  # the duplicate is in the same insert chunk as the original
    (LOAD_CHUNK + 5, 2 + LOAD_CHUNK + 5 + 1),  # ... in a later chunk
])
def test_a_duplicate_id_is_named_by_row(tmp_path: Path, bulk: int, expected_row: int) -> None:
    rows = [GOOD, *(_with(citizen_id=bulk_id(n)) for n in range(bulk)), GOOD]
    report = load_population(write_population_csv(tmp_path / "dup.csv", rows),
                             tmp_path / "db.sqlite")
    assert [(e.row, e.field) for e in report.errors] == [(expected_row, "citizen_id")]
    assert report.errors[0].reason == f"{GOOD[0]} appears more than once"
    assert not (tmp_path / "db.sqlite").exists()


def test_missing_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "cols.csv"
    path.write_text("citizen_id,full_name,gender\n001190012345,A,male\n", encoding="utf-8")
    report = load_population(path, tmp_path / "db.sqlite")
    assert {(e.row, e.field) for e in report.errors} == {
        (1, "date_of_birth"), (1, "province_code"), (1, "commune_code"), (1, "status"),
        (1, "date_of_death")}


def test_a_rejected_load_leaves_the_previous_database(tmp_path: Path) -> None:
    db = tmp_path / "db.sqlite"
    assert load_population(write_population_csv(tmp_path / "a.csv", [GOOD]), db).records == 1
    bad = write_population_csv(tmp_path / "b.csv", [_with(citizen_id="079045000123"),
                                                    _with(gender="x")])
    assert not load_population(bad, db).ok
    assert PopulationStore(db).records == 1


def test_cli_rejects_a_bad_csv_without_a_traceback(tmp_path: Path) -> None:
    bad = write_population_csv(tmp_path / "people.csv", [GOOD, _with(
        citizen_id="079045000123", date_of_birth="1945-13-02")])
    result = subprocess.run(
        [sys.executable, "-m", "disburse.entry.popdb", "serve", "--data", str(bad), "--port",
         "0", "--token", "t", "--db", str(tmp_path / "db.sqlite")],
        capture_output=True, text=True, timeout=30, cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert f"{bad}, row 3, field date_of_birth: '1945-13-02' is not a valid" in result.stderr
    assert "rejected" in result.stderr and "nothing was loaded" in result.stderr
    assert "listening" not in result.stdout


def test_cli_load_command(tmp_path: Path) -> None:
    good = write_population_csv(tmp_path / "people.csv", [GOOD])
    result = subprocess.run(
        [sys.executable, "-m", "disburse.entry.popdb", "load", "--data", str(good), "--db",
         str(tmp_path / "db.sqlite")],
        capture_output=True, text=True, timeout=30, cwd=REPO_ROOT,
        env={"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "loaded 1 records" in result.stdout
    assert PopulationStore(tmp_path / "db.sqlite").records == 1


# --- the client against the real service ------------------------------------------------------


def test_client_maps_answers_to_results(popdb_server, api: httpx.Client) -> None:
    with registry_client(popdb_server) as client:
        results = client.lookup_many([ALIVE, DECEASED, UNKNOWN, "not-an-id", ALIVE])
    assert set(results) == {ALIVE, DECEASED, UNKNOWN, "not-an-id"}
    alive, dead = results[ALIVE], results[DECEASED]
    assert alive.outcome is LookupOutcome.FOUND and alive.record is not None
    assert alive.record.full_name == "Nguyễn Thị Hồng Nhung"
    assert alive.record.date_of_birth == date(1990, 4, 12)
    assert alive.record.status is RegistryStatus.ALIVE and alive.record.date_of_death is None
    assert dead.record is not None and dead.record.status is RegistryStatus.DECEASED
    assert dead.record.date_of_death == date(2023, 5, 17)
    assert results[UNKNOWN].outcome is LookupOutcome.NOT_FOUND and results[UNKNOWN].error is None
    invalid = results["not-an-id"]
    assert invalid.outcome is LookupOutcome.NOT_FOUND and invalid.error
    assert invalid.evidence_digest == ""
    # One batch: one request, one evidence digest, stamped by the server in UTC.
    assert lookup_requests(api) == 1
    assert len({alive.evidence_digest, dead.evidence_digest,
                results[UNKNOWN].evidence_digest}) == 1
    assert len(alive.evidence_digest) == 64 and alive.request_id
    assert alive.served_at.utcoffset() is not None
    assert abs((datetime.now(UTC) - alive.served_at).total_seconds()) < 60


def test_evidence_digest_pins_the_response_body(popdb_server) -> None:
    # Replay what the client sends, and check the digest rule on a body we can see.
    body = {"citizen_ids": [ALIVE], "request_id": "evidence-1"}
    raw = httpx.post(f"{popdb_server.base_url}/v1/citizens/lookup", json=body, headers=AUTH)
    results = parse_answer(raw.content, "evidence-1", [ALIVE])
    expected = hashlib.sha256(b"evidence-1\n" + raw.content).hexdigest()
    assert results[ALIVE].evidence_digest == expected


def test_client_splits_into_batches_and_answers_every_id(
    popdb_server, api: httpx.Client
) -> None:
    ids = [bulk_id(n) for n in range(2400)] + [f"5{n:011d}" for n in range(100)]
    progress: list[tuple[int, int]] = []
    with registry_client(popdb_server, batch_size=1000, concurrency=3) as client:
        results = client.lookup_many(ids, on_batch=lambda done, total: progress.append(
            (done, total)))
    assert lookup_requests(api) == 3
    assert set(results) == set(ids)
    assert sum(r.outcome is LookupOutcome.FOUND for r in results.values()) == 2400
    assert sum(r.outcome is LookupOutcome.NOT_FOUND for r in results.values()) == 100
    assert all(results[cid].citizen_id == cid for cid in ids)
    assert len(progress) == 3 and progress[-1] == (2500, 2500)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)


def test_client_retries_on_503_then_succeeds(
    popdb_server, api: httpx.Client
) -> None:
    set_faults(api, fail_next=2, fail_status=503)
    sleeps: list[float] = []
    with registry_client(popdb_server, max_retries=3, sleeps=sleeps, backoff_base=0.5,
                         backoff_cap=10) as client:
        results = client.lookup_many([ALIVE])
    assert results[ALIVE].outcome is LookupOutcome.FOUND
    assert lookup_requests(api) == 3
    assert len(sleeps) == 2
    assert 0 <= sleeps[0] <= 0.5 and 0 <= sleeps[1] <= 1.0
    assert client.breaker.state is BreakerState.CLOSED


def test_retries_exhausted_gives_unavailable(
    popdb_server, api: httpx.Client
) -> None:
    set_faults(api, fail_next=10, fail_status=502)
    with registry_client(popdb_server, max_retries=2,
                         breaker=CircuitBreaker(failure_threshold=10)) as client:
        results = client.lookup_many([ALIVE, UNKNOWN])
    assert lookup_requests(api) == 3
    for result in results.values():
        assert result.outcome is LookupOutcome.UNAVAILABLE
        assert not result.found and result.record is None
        assert result.error is not None and "502" in result.error


@pytest.mark.parametrize("fail_status", [400, 404, 409, 429])
def test_client_never_retries_a_4xx(
    popdb_server, api: httpx.Client, fail_status: int
) -> None:
    set_faults(api, fail_next=1, fail_status=fail_status)
    sleeps: list[float] = []
    with registry_client(popdb_server, max_retries=3, sleeps=sleeps) as client:
        results = client.lookup_many([ALIVE])
    assert lookup_requests(api) == 1 and sleeps == []
    assert results[ALIVE].outcome is LookupOutcome.UNAVAILABLE
    assert f"HTTP {fail_status}" in (results[ALIVE].error or "")


def test_client_with_a_wrong_token_is_refused_once(
    popdb_server, api: httpx.Client
) -> None:
    sleeps: list[float] = []
    with HttpPopulationRegistry(popdb_server.base_url, "wrong", max_retries=3,
                                sleep=sleeps.append) as client:
        results = client.lookup_many([ALIVE, DECEASED])
    assert lookup_requests(api) == 1 and sleeps == []
    assert {r.outcome for r in results.values()} == {LookupOutcome.UNAVAILABLE}
    assert "HTTP 401" in (results[ALIVE].error or "")


def test_a_slow_registry_times_out_into_unavailable(
    popdb_server, api: httpx.Client
) -> None:
    set_faults(api, latency_ms=1500)
    with registry_client(popdb_server, read_timeout=0.2, max_retries=1) as client:
        results = client.lookup_many([ALIVE])
    assert lookup_requests(api) == 2
    assert results[ALIVE].outcome is LookupOutcome.UNAVAILABLE
    assert "Timeout" in (results[ALIVE].error or "")


def test_fault_settings_are_validated(api: httpx.Client) -> None:
    assert_problem(api.post("/_faults", json={"fail_rate": 2}, headers=AUTH), 400)
    assert_problem(api.post("/_faults", json={"fail_status": 200}, headers=AUTH), 400)
    assert_problem(api.post("/_faults", json={"bogus": 1}, headers=AUTH), 400)
    assert_problem(api.post("/_faults", json={"fail_next": 1}), 401)


def test_faults_are_off_unless_enabled(popdb_launcher, population_csv: Path) -> None:
    server = popdb_launcher.start(population_csv, faults=False)
    response = httpx.post(f"{server.base_url}/_faults", json={"fail_next": 1}, headers=AUTH)
    assert_problem(response, 404)


def state(breaker: CircuitBreaker) -> BreakerState:
    """Read the state afresh (a plain function call, so type checkers do not narrow it)."""
    return breaker.state


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_registry_down_opens_the_breaker_and_recovers(popdb_launcher, population_csv: Path) -> None:
    server = popdb_launcher.start(population_csv)
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, reset_timeout=30, clock=clock)
    ids = [ALIVE, DECEASED, UNKNOWN]
    with registry_client(server, max_retries=1, breaker=breaker, connect_timeout=1) as client:
        assert client.health() is True
        server.stop()
        assert client.health() is False

        down = client.lookup_many(ids)  # 2 failed attempts
        assert {r.outcome for r in down.values()} == {LookupOutcome.UNAVAILABLE}
        assert all(not r.found and r.record is None for r in down.values())
        assert state(breaker) is BreakerState.CLOSED
        client.lookup_many(ids)  # the third failure opens it
        assert state(breaker) is BreakerState.OPEN

        refused = client.lookup_many(ids)  # refused without calling
        assert "circuit breaker open" in (refused[ALIVE].error or "")

        popdb_launcher.start(population_csv, port=server.port)
        assert client.lookup_many(ids)[ALIVE].outcome is LookupOutcome.UNAVAILABLE  # still open
        clock.now += 30
        assert state(breaker) is BreakerState.HALF_OPEN
        back = client.lookup_many(ids)  # the trial call
        assert state(breaker) is BreakerState.CLOSED
        assert back[ALIVE].outcome is LookupOutcome.FOUND
        assert back[UNKNOWN].outcome is LookupOutcome.NOT_FOUND


def test_closed_port_gives_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with HttpPopulationRegistry(f"http://127.0.0.1:{port}", "t", max_retries=2,
                                sleep=lambda _: None) as client:
        results = client.lookup_many([ALIVE])
    assert results[ALIVE].outcome is LookupOutcome.UNAVAILABLE
    assert "ConnectError" in (results[ALIVE].error or "")


def test_served_json_is_utf8_not_escaped(api: httpx.Client) -> None:
    raw = api.get(f"/v1/citizens/{ALIVE}", headers=AUTH).content
    assert "Nguyễn Thị Hồng Nhung".encode() in raw
    assert json.loads(raw)["gender"] == "female"
