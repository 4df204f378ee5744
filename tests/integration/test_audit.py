"""The hash-chained audit trail: writing, verifying, and catching tampering."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from disburse.core import audit
from disburse.core.clock import utcnow
from disburse.core.db import make_engine
from disburse.core.keyring import AuditMacKey, Keyring, load_audit_key
from disburse.entry.context import services
from disburse.entry.scheduler import NightlyRun
from tests.conftest import CliRun, backend, migrate


def _write(session: Session, n: int) -> None:
    for i in range(n):
        audit.record(session, actor="anh", action="test.step", object_type="thing",
                     object_id=i, detail={"i": i, "name": "Nguyễn Thị Đào"})


def test_chain_links_each_entry_to_the_previous(session: Session) -> None:
    _write(session, 5)
    report = audit.verify_chain(session)
    assert report.broken is None
    assert report.checked == 5
    entries = session.query(audit.AuditEntry).order_by(audit.AuditEntry.seq).all()
    assert entries[0].prev_hash == audit.GENESIS_HASH
    for before, after in itertools.pairwise(entries):
        assert after.prev_hash == before.entry_hash


def test_database_refuses_update_and_delete(session: Session) -> None:
    _write(session, 1)
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("UPDATE audit_entries SET actor = 'x'"))
    with pytest.raises(DBAPIError, match="append-only"), session.begin_nested():
        session.execute(text("DELETE FROM audit_entries"))


def _drop_triggers(session: Session) -> None:
    """What an attacker with database-admin rights would do first."""
    if backend() == "postgresql":
        session.execute(text("DROP TRIGGER audit_entries_append_only ON audit_entries"))
    else:
        session.execute(text("DROP TRIGGER audit_entries_no_update"))
        session.execute(text("DROP TRIGGER audit_entries_no_delete"))


@pytest.fixture
def own_engine(fresh_database_url: str) -> Engine:
    engine = make_engine(fresh_database_url)
    migrate(engine)
    return engine


@pytest.mark.parametrize(
    ("tamper", "broken_seq", "reason"),
    [
        ("UPDATE audit_entries SET detail = '{\"i\": 99}' WHERE seq = 3", 3, "content was changed"),
        ("UPDATE audit_entries SET actor = 'mallory' WHERE seq = 1", 1, "content was changed"),
        ("DELETE FROM audit_entries WHERE seq = 2", 2, "entry 2 is missing"),
        ("DELETE FROM audit_entries WHERE seq = 5", 5, "missing"),
    ],
)
def test_verify_names_first_broken_entry(
    own_engine: Engine, tamper: str, broken_seq: int, reason: str
) -> None:
    with Session(own_engine) as s, s.begin():
        _write(s, 5)
    with Session(own_engine) as s, s.begin():
        assert audit.verify_chain(s).broken is None
        _drop_triggers(s)
        s.execute(text(tamper))
    with Session(own_engine) as s:
        report = audit.verify_chain(s)
    own_engine.dispose()
    assert report.broken is not None
    assert report.broken.seq == broken_seq
    assert reason in report.broken.reason


# --- the keyed chain and signed checkpoints ---------------------------------------------------


def _rewrite_with_sha256(s: Session, changed_seq: int) -> None:
    """Rewrite the chain from ``changed_seq`` on, recomputing every hash as plain SHA-256: what
    someone with database rights but without the audit key can do."""
    entries = s.execute(select(audit.AuditEntry).order_by(audit.AuditEntry.seq)).scalars().all()
    prev = audit.GENESIS_HASH
    for entry in entries:
        actor = "mallory" if entry.seq == changed_seq else entry.actor
        fields = {"seq": entry.seq, "at": entry.at, "actor": actor, "action": entry.action,
                  "object_type": entry.object_type, "object_id": entry.object_id,
                  "detail": entry.detail, "prev_hash": prev}
        digest = audit.entry_digest(**fields)
        if entry.seq >= changed_seq:
            # placeholders first: prev_hash and entry_hash are UNIQUE
            s.execute(text("UPDATE audit_entries SET actor = :a, prev_hash = :p, entry_hash = :h "
                           "WHERE seq = :s"),
                      {"a": actor, "p": prev, "h": digest, "s": entry.seq})
        prev = digest if entry.seq >= changed_seq else entry.entry_hash
    s.execute(text("UPDATE audit_head SET seq = :s, entry_hash = :h"),
              {"s": entries[-1].seq, "h": prev})


def test_rewrite_with_recomputed_sha256_is_detected(own_engine: Engine) -> None:
    with Session(own_engine) as s, s.begin():
        _write(s, 5)
    with Session(own_engine) as s, s.begin():
        _drop_triggers(s)
        _rewrite_with_sha256(s, 3)
    with Session(own_engine) as s:
        report = audit.verify_chain(s)
    own_engine.dispose()
    assert report.broken is not None and report.broken.seq == 3
    assert "keyed hash does not match" in report.broken.reason


def test_a_chain_is_verified_with_its_own_key_only(own_engine: Engine) -> None:
    with Session(own_engine) as s, s.begin():
        _write(s, 3)
    with Session(own_engine) as s:
        assert audit.verify_chain(s).broken is None
        other = AuditMacKey(b"k" * 32, 0, audit.GENESIS_HASH)
        broken = audit.verify_chain(s, other).broken
    own_engine.dispose()
    assert broken is not None and broken.seq == 1


def test_unkeyed_chain_of_an_older_release_stays_verifiable(
        own_engine: Engine, tmp_path: Path) -> None:
    """Entries written before the key existed are checked with SHA-256 up to the switch point
    the key file records; later entries must be keyed, and the old part cannot be rewritten."""
    with Session(own_engine) as s, s.begin():  # what the previous release wrote
        for i in range(3):
            prev = s.get(audit.AuditHead, 1)
            seq, prev_hash = (prev.seq, prev.entry_hash) if prev else (0, audit.GENESIS_HASH)
            fields = {"seq": seq + 1, "at": utcnow(), "actor": "anh", "action": "old.step",
                      "object_type": "thing", "object_id": str(i), "detail": {},
                      "prev_hash": prev_hash}
            s.add(audit.AuditEntry(**fields, entry_hash=audit.entry_digest(**fields)))
            if prev is None:
                s.add(audit.AuditHead(id=1, seq=1, entry_hash=audit.entry_digest(**fields)))
            else:
                prev.seq, prev.entry_hash = fields["seq"], audit.entry_digest(**fields)
            s.flush()
    Keyring.init(tmp_path / "keys")
    source = audit.KeyringKeySource(tmp_path / "keys")
    with Session(own_engine, info={audit.KEY_SOURCE: source}) as s, s.begin():
        _write(s, 2)  # the first use creates the key, switch point = entry 3
        assert load_audit_key(tmp_path / "keys") == AuditMacKey(
            source(s).key, 3, s.get_one(audit.AuditEntry, 3).entry_hash)
    with Session(own_engine, info={audit.KEY_SOURCE: source}) as s:
        report = audit.verify_chain(s)
        assert (report.broken, report.checked) == (None, 5)
    with Session(own_engine, info={audit.KEY_SOURCE: source}) as s, s.begin():
        _drop_triggers(s)
        _rewrite_with_sha256(s, 2)  # inside the unkeyed part: its recorded end no longer holds
    with Session(own_engine, info={audit.KEY_SOURCE: source}) as s:
        report = audit.verify_chain(s)
    own_engine.dispose()
    assert report.broken is not None and report.broken.seq == 3
    assert "unkeyed part of the chain was rewritten" in report.broken.reason


@pytest.fixture
def service(app: Flask, run_cli: CliRun) -> Flask:
    """An application with its keyring, signing keys and two users (five audit entries)."""
    assert run_cli("keys", "init").exit_code == 0
    for name, role in (("lan", "preparer"), ("hoa", "auditor")):
        added = run_cli("users", "add", name, "--role", role, "--password-stdin",
                        input="mật khẩu đủ dài 123\n")
        assert added.exit_code == 0, added.output
    return app


def _engine(app: Flask) -> Engine:
    engine: Engine = app.extensions["disburse"].engine
    return engine


def test_checkpoint_catches_a_truncated_tail_and_moved_head(
        service: Flask, run_cli: CliRun, tmp_path: Path) -> None:
    for name in ("binh", "chi", "dung"):
        run_cli("users", "add", name, "--role", "auditor", "--password-stdin",
                input="mật khẩu đủ dài 123\n")
    out = tmp_path / "cp.json"
    taken = run_cli("audit", "checkpoint", "--out", str(out))
    assert taken.exit_code == 0, taken.output
    assert "checkpoint of entry 5 written" in taken.output
    body = json.loads(out.read_text())["checkpoint"]
    assert (body["seq"], body["format"]) == (5, "disburse-audit-checkpoint/1")
    intact = run_cli("audit", "verify", "--checkpoint", str(out))
    assert intact.exit_code == 0, intact.output
    assert "checkpoint cp.json holds: entry 5" in intact.output

    with Session(_engine(service)) as s, s.begin():  # cut the last two, move the head back
        _drop_triggers(s)
        s.execute(text("DELETE FROM audit_entries WHERE seq > 3"))
        s.execute(text("UPDATE audit_head SET seq = 3, entry_hash = "
                       "(SELECT entry_hash FROM audit_entries WHERE seq = 3)"))
    alone = run_cli("audit", "verify")
    assert alone.exit_code == 0  # without a checkpoint the shorter chain looks whole...
    caught = run_cli("audit", "verify", "--checkpoint", str(out))
    assert caught.exit_code == 1  # ...the checkpoint proves entries were removed
    assert "entry 5 of the checkpoint" in caught.output
    assert "missing (the chain now ends at 3)" in caught.output


def test_a_forged_or_foreign_checkpoint_is_refused(
        service: Flask, run_cli: CliRun, tmp_path: Path) -> None:
    out = tmp_path / "cp.json"
    assert run_cli("audit", "checkpoint", "--out", str(out)).exit_code == 0
    document = json.loads(out.read_text())
    document["checkpoint"]["seq"] = 1  # point it at an older head
    out.write_text(json.dumps(document))
    forged = run_cli("audit", "verify", "--checkpoint", str(out))
    assert forged.exit_code == 1
    assert "signature of cp.json does not hold" in forged.output
    out.write_text("not json")
    garbage = run_cli("audit", "verify", "--checkpoint", str(out))
    assert garbage.exit_code == 1
    assert "not an audit checkpoint file" in garbage.output
    assert "Traceback" not in garbage.output


def test_checkpoint_defaults_to_the_data_dir_and_nightly_run_writes_one(
        service: Flask, run_cli: CliRun) -> None:
    taken = run_cli("audit", "checkpoint")
    assert taken.exit_code == 0, taken.output
    folder = services(service).settings.data_dir / "audit" / "checkpoints"
    assert len(list(folder.glob("checkpoint-*-seq2.json"))) == 1
    report = NightlyRun(services(service), registry_factory=lambda: None)
    outcome = report.audit_checkpoint()
    assert outcome.counts == {"seq": 2}
    written = sorted(folder.glob("*.json"))
    assert len(written) == 2
    verified = run_cli("audit", "verify", *[a for p in written for a in ("--checkpoint", str(p))])
    assert verified.exit_code == 0, verified.output


def test_rewritten_chain_fails_cli_verify(service: Flask, run_cli: CliRun) -> None:
    with Session(_engine(service)) as s, s.begin():
        _drop_triggers(s)
        _rewrite_with_sha256(s, 1)
    result = run_cli("audit", "verify")
    assert result.exit_code == 1
    assert "BROKEN at entry 1" in result.output


# --- --actor: an existing, active user or the command's own system actor --------------------


def test_actor_must_be_an_existing_active_user(service: Flask, run_cli: CliRun) -> None:
    nobody = run_cli("beneficiaries", "show", "1", "--reveal", "--actor", "nobody")
    assert nobody.exit_code == 2
    assert "Invalid value for '--actor': no user named 'nobody'" in nobody.output
    reserved = run_cli("users", "disable", "lan", "--actor", "system:nightly")
    assert reserved.exit_code == 2
    assert "reserved for automated runs" in reserved.output
    assert run_cli("users", "disable", "lan", "--actor", "hoa").exit_code == 0
    disabled = run_cli("users", "disable", "hoa", "--actor", "lan")
    assert disabled.exit_code == 2
    assert "user 'lan' is disabled" in disabled.output
    with Session(_engine(service)) as s:
        actors = s.execute(select(audit.AuditEntry.actor, audit.AuditEntry.action)
                           .order_by(audit.AuditEntry.seq)).all()
    assert [tuple(a) for a in actors] == [
        ("system:cli", "user.add"), ("system:cli", "user.add"), ("hoa", "user.disable")]
