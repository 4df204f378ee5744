"""``disburse batch files``, ``files verify`` and ``keys export-public`` as real processes.

Each command runs in a child process through the ``disburse`` click group. Until the lead
registers these commands in ``disburse/entry/cli/main.py``, the child adds them itself (in
that child only) before running the group, so the path exercised is the real one: argument
parsing, the app context, the unit of work and the group's error handling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from disburse.core import signing, users
from disburse.core.db import make_engine
from disburse.core.keyring import Keyring
from disburse.core.signing_keys import ensure_signing_keys
from tests.integration.test_batch_files import Spec, build_batch

REPO_ROOT = Path(__file__).resolve().parents[2]
RUNNER = """
import sys
from disburse.entry.cli.main import cli
from disburse.entry.cli.foundation import keys_group
from disburse.entry.cli import files as files_cli
if "files" not in cli.commands:
    batch = cli.commands.get("batch")
    if batch is None:
        from flask.cli import AppGroup
        batch = AppGroup("batch")
        cli.add_command(batch)
    files_cli.register(cli, keys_group, batch if "files" not in batch.commands else None)
cli.main(sys.argv[1:], prog_name="disburse")
"""
SPECS = [Spec("bank", 1_500_000), Spec("bank", 2_789_000, bank_bin="970415"),
         Spec("ewallet", 800_000, bank_bin="971005"), Spec("cash", 2_000_000, commune="26737")]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One service instance (SQLite file, keys) shared by the module's tests."""
    root = tmp_path_factory.mktemp("files-cli")
    values = dict(os.environ)
    values.update(DISBURSE_DATABASE_URL=f"sqlite:///{root / 'db.sqlite3'}",
                  DISBURSE_KEY_DIR=str(root / "keys"), DISBURSE_DATA_DIR=str(root / "var"),
                  DISBURSE_LOG_DIR=str(root / "var" / "log"), PYTHONPATH=str(REPO_ROOT))
    values.pop("DISBURSE_DEBUG", None)
    return values


def run(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", RUNNER, *args], env=env, capture_output=True,
                          text=True, timeout=120, check=False, cwd=REPO_ROOT)


@pytest.fixture(scope="module")
def written(env: dict[str, str]) -> tuple[Path, int]:
    """A migrated database, keys, an approved batch and its files written by the CLI."""
    assert run(env, "db", "upgrade").returncode == 0
    init = run(env, "keys", "init")
    assert init.returncode == 0, init.stderr
    key_dir = Path(env["DISBURSE_KEY_DIR"])
    keyring = Keyring.load(key_dir)
    ensure_signing_keys(key_dir, keyring)  # idempotent: what `keys init` is to call
    engine = make_engine(env["DISBURSE_DATABASE_URL"])
    with Session(engine) as session, session.begin():
        batch_id = build_batch(session, keyring, SPECS).id
        # --actor names an existing user
        users.add_user(session, "lan", users.Role.PREPARER, "mật khẩu đủ dài 123",
                       actor="system:cli")
    engine.dispose()
    out = key_dir.parent / "files"
    done = run(env, "batch", "files", str(batch_id), "--out", str(out), "--actor", "lan")
    assert done.returncode == 0, done.stderr
    assert f"batch {batch_id}: 3 file(s) signed" in done.stdout
    return out, batch_id


def bank_file(out: Path) -> Path:
    [path] = list(out.glob("*-vcb-P001.xml"))
    return path


def test_batch_files_writes_signed_files_for_each_route(written: tuple[Path, int]) -> None:
    names = sorted(p.name for p in written[0].iterdir())
    assert len([n for n in names if n.endswith(".sig")]) == 3
    assert len([n for n in names if n.endswith(".manifest.json")]) == 3
    assert any(n.endswith("-post-79-P001.xlsx") for n in names)
    assert any(n.endswith("-viettelmoney-P001.xml") for n in names)


def test_files_written_elsewhere_are_also_in_the_store_the_outbox_sends_from(
        env: dict[str, str], written: tuple[Path, int]) -> None:
    out, batch_id = written
    store = Path(env["DISBURSE_DATA_DIR"]) / "payment_files" / str(batch_id)
    names = sorted(p.name for p in out.iterdir())
    assert sorted(p.name for p in store.iterdir()) == names
    for name in names:
        assert (store / name).read_bytes() == (out / name).read_bytes()


def test_verify_accepts_every_good_file(env: dict[str, str], written: tuple[Path, int]) -> None:
    paths = sorted(p for p in written[0].iterdir() if p.suffix in (".xml", ".xlsx"))
    result = run(env, "files", "verify", *map(str, paths))
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        f"OK {p.name}" for p in paths]
    assert "NbOfTxs 2, CtrlSum 4289000" in result.stdout  # the two vcb transfers


def test_rewrite_by_the_cli_keeps_the_bytes(env: dict[str, str], written: tuple[Path, int],
                                            tmp_path: Path) -> None:
    out, batch_id = written
    before = bank_file(out).read_bytes()
    again = run(env, "batch", "files", str(batch_id), "--out", str(tmp_path), "--json")
    assert again.returncode == 0, again.stderr
    rows = json.loads(again.stdout)
    assert {row["msg_id"] for row in rows} == {
        p.name.rsplit(".", 1)[0] for p in out.iterdir() if p.suffix in (".xml", ".xlsx")}
    assert (tmp_path / bank_file(out).name).read_bytes() == before


def _flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    at = data.index(b"<EndToEndId>") + len(b"<EndToEndId>")
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _swap_signature(path: Path) -> None:
    other = next(p for p in path.parent.glob("*.xml") if p != path)
    signing.signature_path(path).write_bytes(signing.signature_path(other).read_bytes())


def _edit_manifest(path: Path) -> None:
    target = signing.manifest_path(path)
    manifest = json.loads(target.read_text(encoding="utf-8"))
    manifest["ctrl_sum"] = 1
    target.write_text(json.dumps(manifest), encoding="utf-8")


#: tampering -> what ``files verify`` must name.
TAMPERING: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "byte": (_flip_byte, ["signature_invalid", "sha256_mismatch"]),
    "signature": (_swap_signature, ["signature_invalid"]),
    "manifest": (_edit_manifest, ["manifest_totals_mismatch [ctrl_sum]"]),
    "no-sig": (lambda path: signing.signature_path(path).unlink(), ["signature_missing"]),
    "no-file": (lambda path: path.unlink(), ["file_missing"]),
}


def test_verify_exits_1_naming_each_problem(env: dict[str, str], written: tuple[Path, int],
                                            tmp_path: Path) -> None:
    targets = []
    for case, (tamper, _) in TAMPERING.items():
        copy = tmp_path / case
        shutil.copytree(written[0], copy)
        tamper(bank_file(copy) if case != "no-file" else next(copy.glob("*-vcb-P001.xml")))
        targets.append(copy / bank_file(written[0]).name)
    result = run(env, "files", "verify", *map(str, targets))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    blocks = result.stderr.split("FAILED ")
    assert len(blocks) == len(TAMPERING) + 1  # one FAILED line per tampered file
    for block, (case, (_, named)) in zip(blocks, TAMPERING.items(), strict=False):
        for text in named:
            assert text in block, (case, block)


def test_a_good_file_passes_and_a_tampered_one_fails_in_one_call(
        env: dict[str, str], written: tuple[Path, int], tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(written[0], copy)
    _edit_manifest(bank_file(copy))
    good = next(copy.glob("*-viettelmoney-P001.xml"))
    result = run(env, "files", "verify", str(good), str(bank_file(copy)))
    assert result.returncode == 1
    assert result.stdout.startswith(f"OK {good.name}")
    assert f"FAILED {bank_file(copy).name}: 1 problem(s)" in result.stderr


def test_exported_public_key_verifies_and_a_wrong_key_does_not(
        env: dict[str, str], written: tuple[Path, int], tmp_path: Path) -> None:
    ed, rsa = tmp_path / "ed.pem", tmp_path / "rsa.pem"
    exported = run(env, "keys", "export-public", "--out", str(ed))
    assert exported.returncode == 0, exported.stderr
    assert "ed25519 public key" in exported.stdout
    assert ed.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert run(env, "keys", "export-public", "--out", str(rsa), "--alg",
               "rsa-pss-sha256").returncode == 0
    good = run(env, "files", "verify", str(bank_file(written[0])), "--public-key", str(ed))
    assert good.returncode == 0, good.stderr
    wrong = run(env, "files", "verify", str(bank_file(written[0])), "--public-key", str(rsa))
    assert wrong.returncode == 1
    assert "alg_mismatch" in wrong.stderr


def test_batch_files_on_an_unknown_batch_fails_in_one_line(env: dict[str, str],
                                                           written: tuple[Path, int],
                                                           tmp_path: Path) -> None:
    result = run(env, "batch", "files", "999", "--out", str(tmp_path / "x"))
    assert result.returncode == 1
    assert result.stderr.strip() == "Error: Not found: no batch 999"
