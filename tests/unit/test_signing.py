"""Detached signatures and manifests, checked with the real ``openssl`` binary both ways."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from disburse.core import signing
from disburse.core.private_files import file_sha256
from disburse.payments.payment_files import BankProfile, FileHeader, PaymentLine, write_pain001
from disburse.payments.payment_files import manifest as file_manifest
from disburse.payments.payment_files.manifest import VerificationCode as Code

OPENSSL = "/usr/bin/openssl"
HEADER = FileHeader(
    msg_id="DSB-2026-11-79-PENS", created_at=datetime(2026, 11, 20, 1, 0, tzinfo=UTC),
    initiating_party_name="Sở LĐ-TB&XH TP. Hồ Chí Minh", initiating_party_id="SLDTBXH79",
    debtor_name="SO LDTBXH TP HCM", debtor_account="0011001234567", debtor_bin="970436",
    debtor_bic=None, requested_execution_date=date(2026, 11, 25), batch_id="B-2026-11-79",
    payment_info_id="PI-2026-11-79", category_purpose="PENS",
)


def openssl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True, check=False)


@pytest.fixture(scope="module", autouse=True)
def openssl_available():
    if shutil.which(OPENSSL) is None:
        pytest.fail(f"{OPENSSL} is required by the signing tests (apt-get install openssl)")
    version = openssl("version").stdout
    assert version.startswith("OpenSSL 3"), f"Ed25519 -rawin needs OpenSSL 3, got {version!r}"


@pytest.fixture(scope="module")
def ed_key():
    return signing.generate_ed25519()


@pytest.fixture(scope="module")
def rsa_key():
    return signing.generate_rsa()


def lines(count: int = 3, base: int = 1_500_000) -> list[PaymentLine]:
    return [PaymentLine(f"E2E-{i:04d}", base + i, "Trần Thị Đào", f"00{i:08d}", "970415", None,
                        "PENS", "pension 2026-11", "79", "26734") for i in range(count)]


@dataclass
class Signed:
    path: Path
    pub_pem: Path
    key_id: str


def make_signed(tmp_path: Path, key: signing.PrivateKey, name: str = "pain001.xml",
                payment_lines: list[PaymentLine] | None = None) -> Signed:
    payment_lines = payment_lines or lines()
    path = tmp_path / name
    total = sum(line.amount for line in payment_lines)
    with path.open("wb") as out:
        result = write_pain001(out, HEADER, payment_lines, profile=BankProfile("b"),
                               nb_of_txs=len(payment_lines), ctrl_sum=total)
    key_id = signing.key_id_for(key.public_key())
    alg = signing.alg_for(key)
    signing.sign_file(path, key, key_id=key_id, alg=alg)
    file_manifest.write_manifest(
        path, sha256=result.sha256, size=result.size, msg_id=HEADER.msg_id,
        nb_of_txs=result.count, ctrl_sum=result.total, batch_id="B-2026-11-79",
        batch_hash="ab" * 32, key_id=key_id, alg=alg,
        signed_at=datetime(2026, 11, 20, 2, 0, tzinfo=UTC))
    pub_pem = tmp_path / "pub.pem"
    pub_pem.write_bytes(signing.public_key_pem(key.public_key()))
    return Signed(path, pub_pem, key_id)


def ed_verify(signed: Signed) -> subprocess.CompletedProcess[str]:
    return openssl("pkeyutl", "-verify", "-pubin", "-inkey", signed.pub_pem, "-rawin",
                   "-in", signed.path, "-sigfile", signing.signature_path(signed.path))


def rsa_verify(signed: Signed) -> subprocess.CompletedProcess[str]:
    return openssl("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                   "rsa_pss_saltlen:32", "-verify", signed.pub_pem,
                   "-signature", signing.signature_path(signed.path), signed.path)


def codes(signed: Signed, key: signing.PrivateKey, **kwargs: str) -> set[Code]:
    return {p.code for p in file_manifest.verify_file(signed.path, key.public_key(), **kwargs)}


def flip_byte(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert data.count(old) >= 1 and len(old) == len(new)
    path.write_bytes(data.replace(old, new, 1))


# --- Ed25519 ---------------------------------------------------------------------------------


def test_ed25519_signature_verifies_with_openssl_and_verify_file(tmp_path, ed_key):
    signed = make_signed(tmp_path, ed_key)
    result = ed_verify(signed)
    assert result.returncode == 0, result.stderr
    assert "Signature Verified Successfully" in result.stdout
    assert file_manifest.verify_file(signed.path, ed_key.public_key()) == []
    assert len(signing.signature_path(signed.path).read_bytes()) == 64  # raw, not encoded


@pytest.mark.parametrize(("old", "new", "expected"), [
    (b"Tr\xe1\xba\xa7n", b"Tr\xe1\xba\xa5n", {Code.SIGNATURE_INVALID, Code.SHA256_MISMATCH}),
    (b">1500001<", b">1500009<",
     {Code.SIGNATURE_INVALID, Code.SHA256_MISMATCH, Code.FILE_TOTALS_MISMATCH}),
    (b"<MsgId>DSB", b"<MsgId>DSC", {Code.SIGNATURE_INVALID, Code.SHA256_MISMATCH,
                                    Code.MSG_ID_MISMATCH}),
], ids=["name-letter", "amount-digit", "msg-id"])
def test_one_changed_byte_fails_both_verifiers(tmp_path, ed_key, old, new, expected):
    signed = make_signed(tmp_path, ed_key)
    flip_byte(signed.path, old, new)
    result = ed_verify(signed)
    assert result.returncode != 0
    assert "Signature Verified Successfully" not in result.stdout
    assert codes(signed, ed_key) == expected


def test_signature_of_another_file_fails(tmp_path, ed_key):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = make_signed(tmp_path / "a", ed_key)
    other = make_signed(tmp_path / "b", ed_key, payment_lines=lines(base=2_000_000))
    shutil.copy(signing.signature_path(other.path), signing.signature_path(first.path))
    assert ed_verify(first).returncode != 0
    assert codes(first, ed_key) == {Code.SIGNATURE_INVALID}


def test_wrong_public_key_is_reported(tmp_path, ed_key):
    signed = make_signed(tmp_path, ed_key)
    stranger = signing.generate_ed25519()
    assert codes(signed, stranger) == {Code.SIGNATURE_INVALID, Code.KEY_ID_MISMATCH}
    assert codes(signed, ed_key, expected_key_id="0" * 16) == {Code.KEY_ID_MISMATCH}


def edit_manifest(path: Path, **changes: object) -> None:
    target = signing.manifest_path(path)
    manifest = json.loads(target.read_text(encoding="utf-8"))
    for key, value in changes.items():
        if value is None:
            del manifest[key]
        else:
            manifest[key] = value
    target.write_text(json.dumps(manifest), encoding="utf-8")


@pytest.mark.parametrize(("changes", "expected"), [
    ({"ctrl_sum": 4_500_004}, {Code.MANIFEST_TOTALS_MISMATCH}),
    ({"nb_of_txs": 4}, {Code.MANIFEST_TOTALS_MISMATCH}),
    ({"msg_id": "DSB-OTHER"}, {Code.MSG_ID_MISMATCH}),
    ({"sha256": "0" * 64}, {Code.SHA256_MISMATCH}),
    ({"size": 1}, {Code.SIZE_MISMATCH}),
    ({"key_id": "0123456789abcdef"}, {Code.KEY_ID_MISMATCH}),
    ({"alg": "rsa-pss-sha256"}, {Code.ALG_MISMATCH}),
    ({"file": "other.xml"}, {Code.FILE_NAME_MISMATCH}),
    ({"ctrl_sum": None}, {Code.MANIFEST_FIELD_INVALID}),
    ({"nb_of_txs": "3"}, {Code.MANIFEST_FIELD_INVALID}),
    ({"size": True}, {Code.MANIFEST_FIELD_INVALID}),
])
def test_manifest_edits_are_reported(tmp_path, ed_key, changes, expected):
    signed = make_signed(tmp_path, ed_key)
    edit_manifest(signed.path, **changes)
    assert ed_verify(signed).returncode == 0  # the file itself is untouched
    assert codes(signed, ed_key) == expected


@pytest.mark.parametrize(("damage", "expected"), [
    (lambda p: signing.manifest_path(p).unlink(), {Code.MANIFEST_MISSING}),
    (lambda p: signing.manifest_path(p).write_text("{not json"), {Code.MANIFEST_UNREADABLE}),
    (lambda p: signing.manifest_path(p).write_text("[1, 2]"), {Code.MANIFEST_UNREADABLE}),
    (lambda p: signing.signature_path(p).unlink(), {Code.SIGNATURE_MISSING}),
    (lambda p: p.unlink(), {Code.FILE_MISSING}),
])
def test_missing_or_unreadable_parts_are_reported(tmp_path, ed_key, damage, expected):
    signed = make_signed(tmp_path, ed_key)
    damage(signed.path)
    assert codes(signed, ed_key) == expected


def test_a_signed_file_whose_header_lies_is_caught(tmp_path, ed_key):
    """Signature and manifest agree with the bytes, but GrpHdr does not match the lines."""
    signed = make_signed(tmp_path, ed_key)
    flip_byte(signed.path, b"<CtrlSum>4500003</CtrlSum><InitgPty>",
              b"<CtrlSum>4500004</CtrlSum><InitgPty>")
    sha256, size = file_sha256(signed.path)
    signing.sign_file(signed.path, ed_key, key_id=signed.key_id)
    file_manifest.write_manifest(signed.path, sha256=sha256, size=size, msg_id=HEADER.msg_id,
                                 nb_of_txs=3, ctrl_sum=4_500_004, batch_id="B", batch_hash="x",
                                 key_id=signed.key_id, alg="ed25519", signed_at=datetime.now(UTC))
    assert ed_verify(signed).returncode == 0
    problems = file_manifest.verify_file(signed.path, ed_key.public_key())
    assert [(p.code, p.field) for p in problems] == [(Code.FILE_TOTALS_MISMATCH, "GrpHdr/CtrlSum")]


def test_openssl_signature_verifies_with_verify_file(tmp_path, ed_key):
    signed = make_signed(tmp_path, ed_key)
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(signing.private_key_pem(ed_key))
    result = openssl("pkeyutl", "-sign", "-inkey", key_pem, "-rawin", "-in", signed.path,
                     "-out", signing.signature_path(signed.path))
    assert result.returncode == 0, result.stderr
    assert file_manifest.verify_file(signed.path, ed_key.public_key()) == []


def test_key_id_is_sha256_of_the_der_public_key_as_openssl_sees_it(tmp_path, ed_key):
    pem = tmp_path / "pub.pem"
    pem.write_bytes(signing.public_key_pem(ed_key.public_key()))
    der = subprocess.run([OPENSSL, "pkey", "-pubin", "-in", str(pem), "-outform", "DER"],
                         capture_output=True, check=True).stdout
    key_id = signing.key_id_for(ed_key.public_key())
    assert key_id == hashlib.sha256(der).hexdigest()[:16]
    assert signing.key_id_for(signing.load_public_key_pem(pem.read_bytes())) == key_id


def test_manifest_is_sorted_utf8_json(tmp_path, ed_key):
    signed = make_signed(tmp_path, ed_key)
    raw = signing.manifest_path(signed.path).read_bytes()
    manifest = json.loads(raw.decode("utf-8"))
    assert list(manifest) == sorted(manifest)
    assert manifest["sha256"] == hashlib.sha256(signed.path.read_bytes()).hexdigest()
    assert manifest["signature_encoding"] == "raw"
    assert (manifest["nb_of_txs"], manifest["ctrl_sum"]) == (3, 4_500_003)
    assert manifest["signed_at"] == "2026-11-20T02:00:00+00:00"


def test_sign_file_refuses_a_foreign_key_id_or_alg(tmp_path, ed_key):
    path = tmp_path / "f.xml"
    path.write_bytes(b"<x/>")
    with pytest.raises(ValueError, match="key_id"):
        signing.sign_file(path, ed_key, key_id="0" * 16)
    with pytest.raises(ValueError, match="cannot sign"):
        signing.sign_file(path, ed_key, key_id=signing.key_id_for(ed_key.public_key()),
                          alg="rsa-pss-sha256")
    assert not signing.signature_path(path).exists()


def test_non_pain001_files_are_checked_on_bytes_only(tmp_path, ed_key):
    path = tmp_path / "bank.csv"
    path.write_bytes(b"end_to_end_id,amount\r\nE1,5\r\nTOTAL,1,5\r\n")
    key_id = signing.key_id_for(ed_key.public_key())
    signing.sign_file(path, ed_key, key_id=key_id)
    sha256, size = file_sha256(path)
    file_manifest.write_manifest(
        path, sha256=sha256, size=size, msg_id="M1", nb_of_txs=1, ctrl_sum=5, batch_id="B",
        batch_hash="h", key_id=key_id, alg="ed25519", signed_at=datetime.now(UTC))
    assert file_manifest.verify_file(path, ed_key.public_key()) == []


def test_empty_file_can_be_signed_and_verified(tmp_path, ed_key):
    path = tmp_path / "empty.bin"
    path.write_bytes(b"")
    signing.sign_file(path, ed_key, key_id=signing.key_id_for(ed_key.public_key()))
    # (openssl 3.0 pkeyutl cannot read an empty -rawin input, so only our verifier runs here)
    ed_key.public_key().verify(signing.signature_path(path).read_bytes(), b"")
    assert codes(Signed(path, path, ""), ed_key) == {Code.MANIFEST_MISSING}


# --- RSA-PSS-SHA256 --------------------------------------------------------------------------


def test_rsa_pss_signature_verifies_with_openssl(tmp_path, rsa_key):
    signed = make_signed(tmp_path, rsa_key)
    result = rsa_verify(signed)
    assert result.returncode == 0, result.stderr
    assert "Verified OK" in result.stdout
    assert file_manifest.verify_file(signed.path, rsa_key.public_key()) == []
    assert len(signing.signature_path(signed.path).read_bytes()) == 3072 // 8


def test_rsa_pss_changed_byte_fails(tmp_path, rsa_key):
    signed = make_signed(tmp_path, rsa_key)
    flip_byte(signed.path, b"pension", b"pensioN")
    assert rsa_verify(signed).returncode != 0
    assert codes(signed, rsa_key) == {Code.SIGNATURE_INVALID, Code.SHA256_MISMATCH}


def test_openssl_rsa_pss_signature_verifies_with_verify_file(tmp_path, rsa_key):
    signed = make_signed(tmp_path, rsa_key)
    key_pem = tmp_path / "key.pem"
    key_pem.write_bytes(signing.private_key_pem(rsa_key, password=b"pw"))
    result = openssl("dgst", "-sha256", "-sigopt", "rsa_padding_mode:pss", "-sigopt",
                     "rsa_pss_saltlen:32", "-passin", "pass:pw", "-sign", key_pem,
                     "-out", signing.signature_path(signed.path), signed.path)
    assert result.returncode == 0, result.stderr
    assert file_manifest.verify_file(signed.path, rsa_key.public_key()) == []
    loaded = signing.load_private_key_pem(key_pem.read_bytes(), b"pw")
    assert signing.key_id_for(loaded.public_key()) == signed.key_id


def test_load_public_key_refuses_other_key_types():
    pem = signing.public_key_pem(signing.generate_ed25519().public_key())
    assert isinstance(signing.load_public_key_pem(pem), Ed25519PublicKey)
    ec_pem = ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(ValueError, match="unsupported"):
        signing.load_public_key_pem(ec_pem)
    with pytest.raises(ValueError):
        signing.load_public_key_pem(b"not a pem")
