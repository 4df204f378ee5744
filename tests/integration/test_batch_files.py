"""Writing, signing and verifying a batch's payment files on a real database.

Batches are built here by inserting rows directly (an approved batch with an approval pinned to
its digest), so these tests depend only on the schema, not on the batch-building service.
"""

from __future__ import annotations

import base64
import copy
import json
import shutil
import stat
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from beneficiaries.models import Beneficiary, ListImport
from disburse.core import signing
from disburse.core.errors import Conflict, InvalidTransition
from disburse.core.keyring import Keyring
from disburse.core.signing import SignatureAlg
from disburse.core.signing_keys import (
    ensure_signing_keys,
    export_public,
    load_public_key,
    load_signing_key,
    private_key_path,
)
from disburse.payments.files import (
    RewriteMismatch,
    plan_files,
    verify_payment_file,
    write_batch_files,
)
from disburse.payments.lifecycle import BatchState
from disburse.payments.models import Approval, Batch, Instruction, PaymentFile
from disburse.payments.payment_files import manifest as file_manifest
from disburse.payments.payment_files import parse_pain001, validate_pain001
from disburse.payments.routing import RoutingConfig, load_routing, parse_routing
from disburse.payments.routing import _default_text as default_routing_text
from disburse.payments.state import batch_digest

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
APPROVED_AT = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SIGNED_AT = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Spec:
    """One instruction to build: channel, amount, province/commune, and bank BIN."""

    channel: str
    amount: int
    commune: str = "26734"
    bank_bin: str | None = "970436"
    province: str = "79"


def routing_with(**changes: dict[str, object]) -> RoutingConfig:
    """The shipped routing, with route profiles patched (e.g. ``vcb={"max_tx_per_file": 3}``)."""
    data = json.loads(default_routing_text())
    data = copy.deepcopy(data)
    for route, profile in changes.items():
        data["routes"][route]["profile"].update(profile)
    return parse_routing(data)


def build_batch(session: Session, keyring: Keyring, specs: Sequence[Spec], *,
                programme: str = "pension", period: str = "2026-11",
                routing: RoutingConfig | None = None, state: str = BatchState.APPROVED,
                tag: str = "t") -> Batch:
    """Insert beneficiaries, an approved batch of ``specs`` and an approval pinned to it."""
    routing = routing or load_routing()
    imported = ListImport(programme=programme, file_name="list.csv", file_sha256="0" * 64,
                          file_size=1, actor="lan", outcome="applied", counts={})
    session.add(imported)
    session.flush()
    batch = Batch(programme=programme, period=period, province_code=None, state=state,
                  preparer="lan", requested_execution_date=date(2026, 11, 25),
                  content_hash="", exclusions={})
    session.add(batch)
    session.flush()
    for seq, spec in enumerate(specs, start=1):
        _add_instruction(session, keyring, batch, imported.id, seq, spec, routing, tag)
    session.flush()
    digest = batch_digest(session, batch.id)
    batch.count, batch.total, batch.content_hash = digest.count, digest.total, digest.sha256
    session.add(Approval(batch_id=batch.id, approver="minh", batch_hash=digest.sha256,
                         count=digest.count, total=digest.total, at=APPROVED_AT))
    session.flush()
    return batch


def _add_instruction(session: Session, keyring: Keyring, batch: Batch, import_id: int,
                     seq: int, spec: Spec, routing: RoutingConfig, tag: str) -> None:
    citizen = f"0792{seq:08d}"
    account = f"00{batch.id:04d}{seq:06d}" if spec.channel != "cash" else None
    bank_bin = spec.bank_bin if spec.channel != "cash" else None
    person = Beneficiary(
        programme=batch.programme, citizen_id_enc=keyring.encrypt("citizen_id", citizen),
        citizen_id_idx=keyring.blind_index("citizen_id", f"{tag}{batch.id}-{citizen}"),
        full_name=f"Nguyễn Thị Đào {seq}", date_of_birth=date(1950, 1, 1), gender="female",
        province_code=spec.province, commune_code=spec.commune, monthly_amount=spec.amount,
        channel=spec.channel, bank_bin=bank_bin,
        account_enc=keyring.encrypt("account_number", account) if account else None,
        account_idx=keyring.blind_index("account_number", account) if account else None,
        phone_enc=keyring.encrypt("phone", f"09{seq:08d}"), source_import_id=import_id,
        source_row=seq,
        last_seen_import_id=import_id)
    session.add(person)
    session.flush()
    route = routing.route_for(programme=batch.programme, channel=spec.channel,
                              bank_bin=bank_bin, province_code=spec.province)
    session.add(Instruction(
        batch_id=batch.id, beneficiary_id=person.id, programme=batch.programme,
        period=batch.period, seq=seq, amount=spec.amount, base_amount=spec.amount,
        arrears_amount=0, channel=spec.channel, route=route, bank_bin=bank_bin,
        account_enc=person.account_enc, account_idx=person.account_idx,
        creditor_name=person.full_name, province_code=spec.province,
        commune_code=spec.commune, end_to_end_id=f"E{tag}{batch.id:06d}{seq:07d}"))


@pytest.fixture(scope="module")
def key_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A keyring with both signing keys (RSA generation is slow: once per module)."""
    directory = tmp_path_factory.mktemp("keys") / "keys"
    ensure_signing_keys(directory, Keyring.init(directory))
    return directory


@pytest.fixture
def keyring(key_dir: Path) -> Keyring:
    return Keyring.load(key_dir)


MIXED = [Spec("bank", 1_500_000 + i * 1000, bank_bin=b)
         for i, b in enumerate(["970436", "970415", "970418", "970405", "970436", "970422",
                                "970436"])]
MIXED += [Spec("ewallet", 800_000, bank_bin="971025"), Spec("ewallet", 900_000,
                                                            bank_bin="971025")]
MIXED += [Spec("cash", 2_000_000, commune="26737"), Spec("cash", 2_100_000, commune="26734"),
          Spec("cash", 2_200_000, commune="26737")]
SPLIT = routing_with(vcb={"max_tx_per_file": 3})


def write(session: Session, keyring: Keyring, batch: Batch, out: Path, key_dir: Path,
          routing: RoutingConfig = SPLIT, now: datetime = SIGNED_AT) -> list[PaymentFile]:
    return write_batch_files(session, keyring, batch.id, out_dir=out, actor="lan",
                             routing=routing, key_dir=key_dir, now=now)


@pytest.fixture
def mixed(session: Session, keyring: Keyring, key_dir: Path, tmp_path: Path
          ) -> tuple[Batch, list[PaymentFile], Path]:
    batch = build_batch(session, keyring, MIXED, routing=SPLIT)
    out = tmp_path / "out"
    return batch, write(session, keyring, batch, out, key_dir), out


def test_one_file_per_route_with_the_split_route_in_parts(mixed) -> None:
    batch, files, out = mixed
    assert [(f.route, f.part_no, f.layout) for f in files] == [
        ("momo", 1, "pain001"), ("post-79", 1, "cash_list"), ("vcb", 1, "pain001"),
        ("vcb", 2, "pain001"), ("vcb", 3, "pain001")]
    assert [f.nb_of_txs for f in files] == [2, 3, 3, 3, 1]
    assert files[2].msg_id == f"B{batch.id:08d}-vcb-P001"
    assert len({f.msg_id for f in files}) == len(files)
    assert batch.state == BatchState.FILES_READY
    for f in files:
        assert (out / f.file_name).is_file()
        assert signing.signature_path(out / f.file_name).is_file()


def test_every_pain001_validates_against_the_official_xsd(mixed) -> None:
    _, files, out = mixed
    pain = [f for f in files if f.layout == "pain001"]
    assert len(pain) == 4
    for f in pain:
        assert validate_pain001(out / f.file_name) == []


def test_file_totals_equal_database_aggregates_and_the_approval(mixed, session) -> None:
    batch, files, _ = mixed
    for f in files:
        count, total = session.execute(
            select(func.count(), func.sum(Instruction.amount))
            .where(Instruction.payment_file_id == f.id)).one()
        assert (f.nb_of_txs, f.ctrl_sum) == (count, total)
    approval = session.execute(select(Approval).where(Approval.batch_id == batch.id)).scalar_one()
    assert sum(f.nb_of_txs for f in files) == approval.count == len(MIXED)
    assert sum(f.ctrl_sum for f in files) == approval.total == sum(s.amount for s in MIXED)


def test_pain001_lines_come_back_in_seq_order_with_their_creditor_data(mixed, session,
                                                                         keyring) -> None:
    _, files, out = mixed
    header, lines = parse_pain001(out / files[2].file_name)
    rows = session.execute(select(Instruction).where(Instruction.payment_file_id == files[2].id)
                           .order_by(Instruction.seq)).scalars().all()
    assert [line.end_to_end_id for line in lines] == [r.end_to_end_id for r in rows]
    assert [line.amount for line in lines] == [r.amount for r in rows]
    assert [line.creditor_account for line in lines] == [
        keyring.decrypt("account_number", r.account_enc) for r in rows]
    assert lines[0].creditor_bic == "BFTVVNVX"  # Vietcombank's BIC is known
    assert {line.purpose for line in lines} == {"PENS"}
    assert lines[0].remittance == "pension 2026-11"
    assert header.created_at is not None and header.created_at.startswith("2026-11-20T03:00")


def test_cash_list_has_a_sheet_per_commune_with_masked_citizen_ids(mixed) -> None:
    _, files, out = mixed
    workbook = load_workbook(out / files[1].file_name)
    assert workbook.sheetnames == ["Xã 26734", "Xã 26737"]
    cells = [c for row in workbook["Xã 26737"].iter_rows(values_only=True) for c in row]
    assert {"********0010", "********0012"} <= set(cells)  # seq 10 and 12 live in 26737
    assert not any(isinstance(c, str) and c.startswith("07920000") for c in cells)
    assert 2_000_000 in cells and 2_200_000 in cells


def test_every_file_verifies_with_the_service_key(mixed, key_dir) -> None:
    _, files, out = mixed
    public = load_public_key(key_dir, SignatureAlg.ED25519)
    for f in files:
        assert verify_payment_file(out / f.file_name, public) == [], f.file_name


def test_rewrite_gives_byte_identical_files(mixed, session, keyring, key_dir) -> None:
    batch, files, out = mixed
    before = {f.file_name: (out / f.file_name).read_bytes() for f in files}
    manifests = {f.file_name: json.loads(signing.manifest_path(out / f.file_name).read_text())
                 for f in files}
    again = write(session, keyring, batch, out, key_dir, now=SIGNED_AT + timedelta(hours=5))
    assert [f.id for f in again] == [f.id for f in files]
    for f in again:
        assert (out / f.file_name).read_bytes() == before[f.file_name]
        new = json.loads(signing.manifest_path(out / f.file_name).read_text())
        old = manifests[f.file_name]
        assert new.pop("signed_at") != old.pop("signed_at")
        assert new == old
    assert session.scalar(select(func.count()).select_from(PaymentFile)
                          .where(PaymentFile.batch_id == batch.id)) == len(files)


def test_rewrite_that_changes_bytes_is_refused_and_keeps_the_recorded_file(
        mixed, session, keyring, key_dir) -> None:
    batch, files, out = mixed
    original = (out / files[0].file_name).read_bytes()
    renamed = json.loads(default_routing_text())
    renamed["initiating_party"]["name"] = "SO LAO DONG KHAC"
    renamed["routes"]["vcb"]["profile"]["max_tx_per_file"] = 3
    with pytest.raises(RewriteMismatch, match="recorded"):
        write(session, keyring, batch, out, key_dir, routing=parse_routing(renamed))
    assert (out / files[0].file_name).read_bytes() == original
    assert not list(out.glob("*.tmp"))


def test_edit_after_approval_refuses_writing(session, keyring, key_dir, tmp_path) -> None:
    batch = build_batch(session, keyring, MIXED[:4], routing=SPLIT)
    first = session.execute(select(Instruction.id).where(Instruction.batch_id == batch.id)
                            .order_by(Instruction.seq).limit(1)).scalar_one()
    session.execute(update(Instruction).where(Instruction.id == first)
                    .values(amount=9_999_000, base_amount=9_999_000))
    out = tmp_path / "out"
    with pytest.raises(Conflict, match="no longer matches approval"):
        write(session, keyring, batch, out, key_dir)
    assert not out.exists() or not any(out.iterdir())
    assert batch.state == BatchState.APPROVED


def test_batch_without_approval_is_refused(session, keyring, key_dir, tmp_path) -> None:
    batch = build_batch(session, keyring, MIXED[:2])
    session.execute(update(Approval).where(Approval.batch_id == batch.id)
                    .values(voided_at=APPROVED_AT, void_reason="edited"))
    with pytest.raises(Conflict, match="no valid approval"):
        write(session, keyring, batch, tmp_path / "out", key_dir)


@pytest.mark.parametrize("state", [BatchState.DRAFT, BatchState.PENDING_APPROVAL,
                                   BatchState.SUBMITTED, BatchState.CANCELLED])
def test_batch_in_another_state_is_refused(session, keyring, key_dir, tmp_path, state) -> None:
    batch = build_batch(session, keyring, MIXED[:2], state=state)
    with pytest.raises(InvalidTransition):
        write(session, keyring, batch, tmp_path / "out", key_dir)
    assert not (tmp_path / "out").exists()


def test_plan_parts_cover_every_instruction_once(session, keyring) -> None:
    batch = build_batch(session, keyring, MIXED, routing=SPLIT)
    plans = plan_files(session, batch.id, SPLIT)
    vcb = [p for p in plans if p.route == "vcb"]
    assert [(p.first_seq, p.last_seq) for p in vcb] == [(1, 3), (4, 6), (7, 7)]
    assert sum(p.nb_of_txs for p in plans) == len(MIXED)


@pytest.mark.parametrize(("programme", "route", "layout", "alg"), [
    ("revolutionary", "bidv", "pain001", SignatureAlg.RSA_PSS_SHA256),
    ("unemployment", "agribank", "csv", SignatureAlg.ED25519),
    ("social_protection", "vbsp", "pain001", SignatureAlg.ED25519),
])
def test_route_profiles_choose_layout_and_signature(session, keyring, key_dir, tmp_path,
                                                    programme, route, layout, alg) -> None:
    routing = routing_with(agribank={"max_tx_per_file": 2})
    batch = build_batch(session, keyring, [Spec("bank", 1_000_000 + i) for i in range(3)],
                        programme=programme, routing=routing)
    files = write(session, keyring, batch, tmp_path, key_dir, routing=routing)
    assert {(f.route, f.layout) for f in files} == {(route, layout)}
    public = load_public_key(key_dir, alg)
    for f in files:
        manifest = json.loads(signing.manifest_path(tmp_path / f.file_name).read_text())
        assert manifest["alg"] == alg.value
        assert verify_payment_file(tmp_path / f.file_name, public) == []
        if layout == "pain001":
            assert validate_pain001(tmp_path / f.file_name) == []
    if route == "agribank":
        assert [f.nb_of_txs for f in files] == [2, 1]
    if route == "vbsp":
        assert "NGUYEN THI DAO 1" in (tmp_path / files[0].file_name).read_text()


# --- tampering ------------------------------------------------------------------------------


def _flip_amount(path: Path, other: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(b'Ccy="VND">') + len(b'Ccy="VND">')
    data[at] = ord("9") if data[at] != ord("9") else ord("8")
    path.write_bytes(bytes(data))


def _swap_signature(path: Path, other: Path) -> None:
    signing.signature_path(path).write_bytes(signing.signature_path(other).read_bytes())


def _edit_ctrl_sum(path: Path, other: Path) -> None:
    target = signing.manifest_path(path)
    manifest = json.loads(target.read_text())
    manifest["ctrl_sum"] += 1
    target.write_text(json.dumps(manifest))


@pytest.mark.parametrize(("tamper", "codes"), [
    (_flip_amount, {file_manifest.VerificationCode.SIGNATURE_INVALID,
                    file_manifest.VerificationCode.SHA256_MISMATCH}),
    (_swap_signature, {file_manifest.VerificationCode.SIGNATURE_INVALID}),
    (_edit_ctrl_sum, {file_manifest.VerificationCode.MANIFEST_TOTALS_MISMATCH}),
])
def test_tampering_is_named(mixed, key_dir, tamper, codes) -> None:
    _, files, out = mixed
    path, other = out / files[2].file_name, out / files[3].file_name
    tamper(path, other)
    problems = verify_payment_file(path, load_public_key(key_dir))
    assert codes <= {p.code for p in problems}


def test_tampered_csv_amount_breaks_signature_and_totals(session, keyring, key_dir,
                                                         tmp_path) -> None:
    batch = build_batch(session, keyring, [Spec("bank", 1_000_000), Spec("bank", 2_000_000)],
                        programme="unemployment")
    [f] = write(session, keyring, batch, tmp_path, key_dir, routing=load_routing())
    path = tmp_path / f.file_name
    path.write_text(path.read_text().replace(",1000000,", ",1900000,"), newline="")
    codes = {p.code for p in verify_payment_file(path, load_public_key(key_dir))}
    assert file_manifest.VerificationCode.SIGNATURE_INVALID in codes
    assert file_manifest.VerificationCode.FILE_TOTALS_MISMATCH in codes


def _openssl_verify(path: Path, pub: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin",
                           "-in", str(path), "-sigfile", str(signing.signature_path(path))],
                          capture_output=True, text=True, check=False, timeout=60)


def test_openssl_verifies_a_good_file_and_refuses_a_tampered_one(mixed, key_dir,
                                                                 tmp_path) -> None:
    _, files, out = mixed
    pub = tmp_path / "pub.pem"
    pub.write_bytes(export_public(key_dir, "ed25519"))
    good = _openssl_verify(out / files[2].file_name, pub)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "Signature Verified Successfully" in good.stdout
    _flip_amount(out / files[2].file_name, out / files[3].file_name)
    bad = _openssl_verify(out / files[2].file_name, pub)
    assert bad.returncode != 0
    assert "Signature Verification Failure" in bad.stdout + bad.stderr


# --- keys -----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", list(SignatureAlg))
def test_private_key_is_encrypted_at_rest_and_opens_with_the_keyring(key_dir, keyring,
                                                                      alg) -> None:
    path = private_key_path(key_dir, alg)
    data = path.read_bytes()
    assert b"PRIVATE KEY" not in data
    assert b"PRIVATE KEY" not in base64.b64decode(data)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    private_key, key_id = load_signing_key(key_dir, keyring, alg)
    assert signing.alg_for(private_key) is alg
    assert key_id == signing.key_id_for(load_public_key(key_dir, alg))


def test_ensure_signing_keys_never_replaces_existing_keys(key_dir, keyring) -> None:
    before = {alg: export_public(key_dir, alg) for alg in SignatureAlg}
    ensure_signing_keys(key_dir, keyring)
    assert {alg: export_public(key_dir, alg) for alg in SignatureAlg} == before


def test_signing_key_refuses_another_keyring(key_dir, tmp_path) -> None:
    stranger = Keyring.init(tmp_path / "other")
    with pytest.raises(Exception, match="failed authentication"):
        load_signing_key(key_dir, stranger, "ed25519")
