"""The bank simulator as a real process on loopback: verification, decisions, returns, faults."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from lxml import etree  # type: ignore[import-untyped,unused-ignore]

from disburse.core.signing import load_public_key_pem
from disburse.entry.banksim.returns import CAMT054_SCHEMA, PAIN002_SCHEMA
from disburse.payments.payment_files import PaymentLine
from reconciliation.parsers.camt import parse_camt054
from reconciliation.parsers.pain002 import parse_pain002
from reconciliation.records import ReturnRecord, ReturnStatus
from tests.e2e.banksim_fixtures import (
    BanksimLauncher,
    BanksimProcess,
    SignedFile,
    make_line,
    submit,
    write_public_key,
    write_signed_bytes,
    write_signed_file,
)

pytestmark = pytest.mark.e2e

BOOK = """bin,account_number,holder_name,status,holder_deceased
970415,100000000001,NGUYEN THI DAO,open,false
970415,100000000002,TRAN VAN DUC,closed,false
970415,100000000003,LE THI HOA,blocked,false
970415,100000000004,PHAM QUOC HUNG,open,true
970415,100000000005,VO THI LAN,open,false
971025,0912345678,DANG VAN AN,open,false
"""
#: (account, BIN, name in the file, expected pain.002 status, reason)
PEOPLE = [
    ("100000000001", "970415", "Nguyễn Thị Đào", ReturnStatus.ACCEPTED, None),
    ("100000000002", "970415", "Trần Văn Đức", ReturnStatus.REJECTED, "AC04"),
    ("100000000003", "970415", "Lê Thị Hoa", ReturnStatus.REJECTED, "AC06"),
    ("100000000004", "970415", "Phạm Quốc Hưng", ReturnStatus.REJECTED, "MD07"),
    ("100000000005", "970415", "Võ Thị Lan Anh", ReturnStatus.REJECTED, "BE01"),
    ("100000000009", "970415", "Hồ Văn Nam", ReturnStatus.REJECTED, "AC01"),
    ("0912345678", "971025", "Đặng Văn An", ReturnStatus.ACCEPTED, None),  # e-wallet
]
_SEQUENCE = itertools.count(1)


@cache
def schema(path: Path) -> Any:
    return etree.XMLSchema(etree.parse(str(path)))


def assert_valid(data: bytes, path: Path) -> None:
    xsd = schema(path)
    assert xsd.validate(etree.fromstring(data)), xsd.error_log


@pytest.fixture(scope="module")
def service_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("banksim")


@pytest.fixture(scope="module")
def launcher(workdir: Path) -> Iterator[BanksimLauncher]:
    started = BanksimLauncher(workdir)
    yield started
    started.stop_all()


@pytest.fixture(scope="module")
def start_options(workdir: Path, service_key: Ed25519PrivateKey) -> dict[str, Any]:
    accounts = workdir / "accounts.csv"
    accounts.write_text(BOOK, encoding="utf-8")
    return {"accounts": accounts,
            "service_public_key": write_public_key(workdir / "service.pub.pem", service_key)}


@pytest.fixture(scope="module")
def bank(launcher: BanksimLauncher, start_options: dict[str, Any]) -> BanksimProcess:
    return launcher.start(**start_options)


@pytest.fixture
def client(bank: BanksimProcess) -> Iterator[httpx.Client]:
    """A client; faults are reset and earlier tests' return files acknowledged first."""
    with bank.client() as http:
        assert http.delete("/v1/_faults").status_code == 200
        for item in http.get("/v1/returns").json():
            http.post(f"/v1/returns/{item['name']}/ack")
        yield http
        http.delete("/v1/_faults")


@pytest.fixture(scope="module")
def bank_key(bank: BanksimProcess) -> Any:
    answer = httpx.get(f"{bank.base_url}/v1/public-key")
    assert answer.status_code == 200
    return load_public_key_pem(answer.content)


def new_msg_id() -> str:
    return f"DSB-2611-79-PENS-{next(_SEQUENCE):04d}"


def lines_for(msg_id: str, people: list[tuple[str, str, str, ReturnStatus, str | None]] = PEOPLE,
              amount: int = 1_500_000) -> list[PaymentLine]:
    return [make_line(f"{msg_id}-{i}", amount + i, name, account, bank_bin)
            for i, (account, bank_bin, name, _status, _reason) in enumerate(people)]


def signed(workdir: Path, key: Ed25519PrivateKey, msg_id: str | None = None,
           **options: Any) -> SignedFile:
    msg_id = msg_id or new_msg_id()
    return write_signed_file(workdir / "out" / os_safe(msg_id), key, msg_id,
                             lines_for(msg_id, **options))


def os_safe(text: str) -> str:
    return text.replace("/", "_")


def listed(http: httpx.Client, msg_id: str) -> list[dict[str, Any]]:
    return [item for item in http.get("/v1/returns").json() if msg_id in item["name"]]


def fetch(http: httpx.Client, name: str, public_key: Any) -> bytes:
    """Download a return file and check its detached signature with the bank's key."""
    content = http.get(f"/v1/returns/{name}")
    assert content.status_code == 200
    signature = http.get(f"/v1/returns/{name}.sig")
    assert signature.status_code == 200 and len(signature.content) == 64
    public_key.verify(signature.content, content.content)  # raises InvalidSignature
    return content.content


def records(data: bytes, kind: str) -> list[ReturnRecord]:
    parse = parse_pain002 if kind == "pain002" else parse_camt054
    found, errors = parse(data, filename=f"return.{kind}.xml")
    assert errors == []
    return found


def counters(http: httpx.Client) -> dict[str, int]:
    result: dict[str, int] = http.get("/v1/_faults").json()["counters"]
    return result


# --- acceptance and decisions ---------------------------------------------------------------


def test_accepted_file_gets_a_signed_status_report_and_booked_notice(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey, bank_key: Any,
) -> None:
    file = signed(workdir, service_key)
    answer = submit(client, file)
    assert answer.status_code == 202, answer.text
    receipt = answer.json()
    assert receipt["msg_id"] == file.msg_id and receipt["status"] == "accepted"
    assert (receipt["transactions"], receipt["accepted"], receipt["rejected"]) == (7, 2, 5)
    assert receipt["bank_reference"].startswith("970415")

    returns = listed(client, file.msg_id)
    assert [item["kind"] for item in returns] == ["pain002", "camt054"]
    report = fetch(client, returns[0]["name"], bank_key)
    assert_valid(report, PAIN002_SCHEMA)
    got = {r.end_to_end_id: (r.status, r.reason_code) for r in records(report, "pain002")}
    assert got == {f"{file.msg_id}-{i}": (status, reason)
                   for i, (_a, _b, _n, status, reason) in enumerate(PEOPLE)}
    statuses = records(report, "pain002")
    assert {r.msg_id for r in statuses} == {file.msg_id}
    assert [r.amount for r in statuses] == [1_500_000 + i for i in range(7)]
    assert statuses[0].account == "100000000001" and statuses[0].bank_reference

    notice = fetch(client, returns[1]["name"], bank_key)
    assert_valid(notice, CAMT054_SCHEMA)
    booked = records(notice, "camt054")
    assert [(r.end_to_end_id, r.status, r.amount, r.account) for r in booked] == [
        (f"{file.msg_id}-0", ReturnStatus.SETTLED, 1_500_000, "100000000001"),
        (f"{file.msg_id}-6", ReturnStatus.SETTLED, 1_500_006, "0912345678"),
    ]
    references = {r.end_to_end_id: r.bank_reference for r in statuses}
    assert all(r.bank_reference == references[r.end_to_end_id] for r in booked)
    assert all(r.booking_date is not None and r.msg_id == file.msg_id for r in booked)

    status = client.get(f"/v1/payment-files/{file.msg_id}/status").json()
    assert status == receipt
    acked = client.post(f"/v1/returns/{returns[0]['name']}/ack")
    assert acked.status_code == 200 and acked.json()["name"] == returns[0]["name"]
    assert [item["kind"] for item in listed(client, file.msg_id)] == ["camt054"]


def test_a_retry_with_the_same_bytes_is_processed_once(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey,
) -> None:
    before = counters(client)
    file = signed(workdir, service_key)
    first = submit(client, file)
    second = submit(client, file)
    assert (first.status_code, second.status_code) == (202, 200)
    assert second.content == first.content
    assert second.headers["Idempotent-Replayed"] == "true"
    after = counters(client)
    assert after["processed"] - before["processed"] == 1
    assert after["replays"] - before["replays"] == 1
    assert after["submissions_received"] - before["submissions_received"] == 2
    assert len(listed(client, file.msg_id)) == 2  # one pain.002, one camt.054: not twice


def test_the_same_msg_id_with_other_bytes_is_refused_as_duplicate(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey, bank_key: Any,
) -> None:
    original = signed(workdir, service_key)
    assert submit(client, original).status_code == 202
    other = write_signed_file(workdir / "other", service_key, original.msg_id,
                              lines_for(original.msg_id, amount=2_000_000))
    answer = submit(client, other)
    assert answer.status_code == 409
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["reason"] == "DUPL"
    report = fetch(client, answer.json()["return_file"], bank_key)
    assert_valid(report, PAIN002_SCHEMA)
    [record] = records(report, "pain002")
    assert (record.msg_id, record.group_status, record.reason_code) == (
        original.msg_id, ReturnStatus.REJECTED, "DUPL")
    status = client.get(f"/v1/payment-files/{original.msg_id}/status").json()
    assert status["status"] == "accepted"


def test_a_tampered_file_is_refused_whole_with_ff01(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey, bank_key: Any,
) -> None:
    file = signed(workdir, service_key)
    tampered = file.content.replace(b">1500001<", b">9500001<")
    assert tampered != file.content
    before = counters(client)
    answer = submit(client, file, content=tampered)
    assert answer.status_code == 422
    body = answer.json()
    assert body["reason"] == "FF01" and body["msg_id"] == file.msg_id
    assert any(problem.startswith("signature_invalid") for problem in body["problems"])
    report = fetch(client, body["return_file"], bank_key)
    assert_valid(report, PAIN002_SCHEMA)
    [record] = records(report, "pain002")
    assert (record.group_status, record.reason_code) == (ReturnStatus.REJECTED, "FF01")
    status = client.get(f"/v1/payment-files/{file.msg_id}/status").json()
    assert (status["status"], status["reason"]) == ("rejected", "FF01")
    assert counters(client)["processed"] == before["processed"]
    # The forged upload did not claim the MsgId: the genuine file is still accepted.
    assert submit(client, file).status_code == 202


@pytest.mark.parametrize("defect", ["unsigned", "wrong_key", "not_pain001", "key_mismatch"])
def test_unsigned_or_malformed_files_are_refused_with_ff01(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey, defect: str,
) -> None:
    file = signed(workdir, service_key)
    if defect == "unsigned":
        answer = submit(client, file, with_signature=False)
    elif defect == "wrong_key":
        stranger = write_signed_file(workdir / "stranger", Ed25519PrivateKey.generate(),
                                     file.msg_id, lines_for(file.msg_id))
        answer = submit(client, file, signature=stranger.signature)
    elif defect == "key_mismatch":
        answer = submit(client, file, msg_id=new_msg_id())  # header is not the file's MsgId
    else:  # signed correctly, but not a valid payment file
        garbage = b"<?xml version='1.0' encoding='UTF-8'?><Document>oops</Document>"
        answer = submit(client, write_signed_bytes(workdir / "bad", service_key, file.msg_id,
                                                   garbage))
    assert answer.status_code == 422, answer.text
    assert answer.json()["reason"] == "FF01"
    assert answer.json()["problems"]


def test_requests_without_the_token_are_refused(
    bank: BanksimProcess, workdir: Path, service_key: Ed25519PrivateKey,
) -> None:
    file = signed(workdir, service_key)
    for token in ("", "wrong-token"):
        with bank.client(token=token) as anonymous:
            answer = submit(anonymous, file)
            assert answer.status_code == 401
            assert answer.headers["content-type"] == "application/problem+json"
            assert anonymous.get("/v1/returns").status_code == 401
            assert anonymous.get(f"/v1/payment-files/{file.msg_id}/status").status_code == 401
    with bank.client() as http:
        status = http.get(f"/v1/payment-files/{file.msg_id}/status").json()
    assert status == {"msg_id": file.msg_id, "status": "unknown_msg_id"}


# --- faults ---------------------------------------------------------------------------------


def test_a_dropped_response_is_resolved_by_status_and_a_retry_is_not_reprocessed(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey,
) -> None:
    before = counters(client)
    assert client.post("/v1/_faults", json={"drop_next": 1}).json()["drop_next"] == 1
    file = signed(workdir, service_key)
    with pytest.raises(httpx.TransportError):
        submit(client, file)
    status = client.get(f"/v1/payment-files/{file.msg_id}/status").json()
    assert status["status"] == "accepted"
    retry = submit(client, file)
    assert retry.status_code == 200 and retry.json() == status
    after = counters(client)
    assert after["processed"] - before["processed"] == 1
    assert (after["dropped"] - before["dropped"], after["replays"] - before["replays"]) == (1, 1)


def test_latency_times_the_client_out_but_the_file_is_accepted(
    bank: BanksimProcess, client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey,
) -> None:
    client.post("/v1/_faults", json={"latency_ms": 1500})
    file = signed(workdir, service_key)
    with bank.client(timeout=0.5) as impatient, pytest.raises(httpx.TimeoutException):
        submit(impatient, file)
    # Status queries are never delayed: the unknown outcome resolves at once.
    status = client.get(f"/v1/payment-files/{file.msg_id}/status").json()
    assert status["status"] == "accepted" and status["msg_id"] == file.msg_id


def test_injected_500s_process_nothing(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey,
) -> None:
    client.post("/v1/_faults", json={"fail_next": 1})
    file = signed(workdir, service_key)
    failed = submit(client, file)
    assert failed.status_code == 500 and failed.json()["type"].endswith("injected-fault")
    assert client.get(f"/v1/payment-files/{file.msg_id}/status").json()["status"] == (
        "unknown_msg_id")
    assert submit(client, file).status_code == 202
    assert client.post("/v1/_faults", json={"fail_next": "x"}).status_code == 400


def test_a_settled_payment_can_be_returned_later(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey, bank_key: Any,
) -> None:
    file = signed(workdir, service_key)
    assert submit(client, file).status_code == 202
    answer = client.post("/v1/_admin/return-payment",
                         json={"end_to_end_id": f"{file.msg_id}-0", "reason": "AC04"})
    assert answer.status_code == 201, answer.text
    notice = fetch(client, answer.json()["name"], bank_key)
    assert_valid(notice, CAMT054_SCHEMA)
    [record] = records(notice, "camt054")
    assert (record.end_to_end_id, record.status, record.reason_code, record.amount,
            record.account) == (f"{file.msg_id}-0", ReturnStatus.RETURNED, "AC04", 1_500_000,
                                "100000000001")
    assert record.bank_reference == answer.json()["bank_reference"]
    again = client.post("/v1/_admin/return-payment",
                        json={"end_to_end_id": f"{file.msg_id}-0", "reason": "AC04"})
    rejected = client.post("/v1/_admin/return-payment",
                           json={"end_to_end_id": f"{file.msg_id}-1", "reason": "AC04"})
    unknown = client.post("/v1/_admin/return-payment",
                          json={"end_to_end_id": "NO-SUCH-E2E", "reason": "AC04"})
    assert (again.status_code, rejected.status_code, unknown.status_code) == (409, 409, 404)


def test_duplicate_returns_lists_each_file_twice_under_two_names(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey, bank_key: Any,
) -> None:
    client.post("/v1/_faults", json={"duplicate_returns": True})
    file = signed(workdir, service_key)
    assert submit(client, file).status_code == 202
    returns = listed(client, file.msg_id)
    assert [item["kind"] for item in returns] == ["pain002", "pain002", "camt054", "camt054"]
    assert len({item["name"] for item in returns}) == 4
    for first, second in (returns[0:2], returns[2:4]):
        assert first["sha256"] == second["sha256"]
        assert fetch(client, first["name"], bank_key) == fetch(client, second["name"], bank_key)
    client.post(f"/v1/returns/{returns[0]['name']}/ack")
    assert [item["name"] for item in listed(client, file.msg_id)] == [
        item["name"] for item in returns[1:]]


def test_out_of_order_lists_the_notice_before_the_status_report(
    client: httpx.Client, workdir: Path, service_key: Ed25519PrivateKey,
) -> None:
    file = signed(workdir, service_key)
    assert submit(client, file).status_code == 202
    assert [item["kind"] for item in listed(client, file.msg_id)] == ["pain002", "camt054"]
    client.post("/v1/_faults", json={"out_of_order": True})
    assert [item["kind"] for item in listed(client, file.msg_id)] == ["camt054", "pain002"]


# --- a second process: delayed notices, no fault endpoints, clean shutdown ------------------


def test_camt_arrives_after_the_delay_and_sigterm_stops_cleanly(
    launcher: BanksimLauncher, start_options: dict[str, Any], workdir: Path,
    service_key: Ed25519PrivateKey,
) -> None:
    slow = launcher.start(**start_options, camt_delay=1.0, faults=False, token=None)
    file = signed(workdir, service_key)
    with slow.client() as http:
        accepted_at = time.monotonic()
        assert submit(http, file).status_code == 202
        assert [item["kind"] for item in listed(http, file.msg_id)] == ["pain002"]
        kinds: list[str] = []
        while time.monotonic() - accepted_at < 5 and len(kinds) < 2:
            time.sleep(0.1)
            kinds = [item["kind"] for item in listed(http, file.msg_id)]
        assert kinds == ["pain002", "camt054"]
        assert time.monotonic() - accepted_at >= 1.0
        assert http.post("/v1/_faults", json={"drop_next": 1}).status_code == 404
        assert http.post("/v1/_admin/return-payment", json={}).status_code == 404
    assert slow.stop() == 0
