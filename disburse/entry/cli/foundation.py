"""CLI commands of the application shell: db, users, keys and audit."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.exc import DBAPIError

from disburse.core import audit, audit_checkpoint, logins, users
from disburse.core.errors import ValidationFailed
from disburse.core.keyring import Keyring, create_audit_key, reencrypt_all
from disburse.core.lang import pick
from disburse.core.signing_keys import ensure_signing_keys
from disburse.core.uow import unit_of_work
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.output import echo_table
from disburse.entry.context import Services, services

db_group = AppGroup("db", help="Database schema migrations (Alembic).")
users_group = AppGroup("users", help="Users and their roles.")
keys_group = AppGroup("keys", help="Encryption keys for personal data at rest.")
audit_group = AppGroup("audit", help="The hash-chained audit trail.")


def _run_alembic(action: str, *args: str) -> None:
    from alembic import command  # heavy: only the db commands load it

    from disburse.entry.migrate import alembic_config

    svc = services()
    config = alembic_config(svc.settings.database_url)
    with svc.engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, *args)


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Upgrade the database schema to REVISION (default: head)."""
    _run_alembic("upgrade", revision)
    click.echo(f"database at {revision}")


@db_group.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Downgrade the database schema to REVISION (default: one step back)."""
    _run_alembic("downgrade", revision)
    click.echo(f"database downgraded to {revision}")


@db_group.command("current")
def db_current() -> None:
    """Show the schema revision the database is at."""
    _run_alembic("current")


def _read_password(from_stdin: bool) -> str:
    if from_stdin or not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    value: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return value


@users_group.command("add")
@click.argument("name")
@click.option("--role", "role", required=True, type=click.Choice([r.value for r in users.Role]))
@click.option("--bank", "bank_bin", default=None, help="BIN of the bank (role bank only)")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@actor_option
def users_add(name: str, role: str, bank_bin: str | None, password_stdin: bool,
              actor: str) -> None:
    """Add user NAME with ROLE; the password is prompted for or read from stdin."""
    password = _read_password(password_stdin)
    if not password:
        raise ValidationFailed("no password given")
    with unit_of_work(services().session_factory, write=True) as session:
        user = users.add_user(session, name, users.Role(role), password, actor=actor,
                              bank_bin=bank_bin)
        click.echo(f"added user {user.name} ({user.role})")


@users_group.command("list")
def users_list() -> None:
    """List users with their role and whether they are active."""
    with unit_of_work(services().session_factory) as session:
        rows = [(user.name, user.role + (f" bank={user.bank_bin}" if user.bank_bin else ""),
                 pick("đang hoạt động", "active") if user.active else pick("bị vô hiệu hoá",
                                                                        "disabled"))
                for user in users.list_users(session)]
    echo_table((("Tên đăng nhập", "user"), ("Vai trò", "role"), ("Trạng thái", "state")),
               rows)


@users_group.command("disable")
@click.argument("name")
@actor_option
def users_disable(name: str, actor: str) -> None:
    """Disable user NAME."""
    with unit_of_work(services().session_factory, write=True) as session:
        users.disable_user(session, name, actor=actor)
        click.echo(f"disabled user {name}")


@users_group.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="read the password from standard input")
@actor_option
def users_set_password(name: str, password_stdin: bool, actor: str) -> None:
    """Set a new password for user NAME (prompted for, or read from stdin)."""
    password = _read_password(password_stdin)
    if not password:
        raise ValidationFailed("no password given")
    with unit_of_work(services().session_factory, write=True) as session:
        users.set_password(session, name, password, actor=actor)
    click.echo(f"set a new password for user {name}")


@users_group.command("unlock")
@click.argument("name")
@actor_option
def users_unlock(name: str, actor: str) -> None:
    """Lift the sign-in lockout and failure count of user NAME."""
    with unit_of_work(services().session_factory, write=True) as session:
        lifted = logins.unlock(session, name, actor=actor)
    click.echo(f"unlocked user {name}" if lifted else f"user {name} was not locked")


@keys_group.command("init")
def keys_init() -> None:
    """Create the keyring and the file-signing keys in DISBURSE_KEY_DIR (files mode 0600).

    On an existing keyring, only missing signing keys are created; nothing is replaced.
    """
    svc = services()
    key_dir = svc.settings.key_dir
    created = not (key_dir / "keyring.json").exists()
    if created:
        Keyring.init(key_dir)
        svc.reset_keyring()
    ensure_signing_keys(key_dir, svc.keyring())
    _ensure_audit_key(svc)
    state = "created" if created else "already present; missing signing and audit keys added"
    click.echo(f"keyring {state} in {key_dir}")


def _ensure_audit_key(svc: Services) -> None:
    """Create the audit chain's HMAC key if missing, the chain's current head as switch point.

    Before ``db upgrade`` there is no chain to read: the chain then starts keyed from entry 1.
    """
    source = audit.KeyringKeySource(svc.settings.key_dir)
    try:
        with unit_of_work(svc.session_factory) as session:
            source(session)
    except DBAPIError:  # no audit tables yet: nothing unkeyed to carry over
        create_audit_key(svc.settings.key_dir, legacy_until=0, legacy_head=audit.GENESIS_HASH)


@keys_group.command("rotate")
@actor_option
def keys_rotate(actor: str) -> None:
    """Add a new data-key version and re-encrypt all personal data with it."""
    svc = services()
    keyring = svc.keyring().add_version(svc.settings.key_dir)
    svc.reset_keyring()
    with unit_of_work(svc.session_factory, write=True) as session:
        count = reencrypt_all(session, keyring)
        audit.record(session, actor=actor, action="keys.rotate", object_type="keyring",
                     object_id=str(keyring.current), detail={"reencrypted": count})
    click.echo(f"key version {keyring.current} is current; re-encrypted {count} values")


@audit_group.command("verify")
@click.option("--checkpoint", "checkpoints", multiple=True,
              type=click.Path(dir_okay=False, path_type=Path),
              help="a signed checkpoint (from `audit checkpoint` or the nightly run) the chain "
                   "must still contain; may be repeated")
def audit_verify(checkpoints: tuple[Path, ...]) -> None:
    """Walk the audit chain (keyed hashes); exit 1 naming the first broken entry.

    With --checkpoint, also check each checkpoint's signature and that the chain still holds
    its head entry with the same hash: a truncated tail or a moved head is caught this way.
    """
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        report = audit.verify_chain(session)
        found = [audit_checkpoint.verify_file(session, path, key_dir=svc.settings.key_dir)
                 for path in checkpoints]
    if report.broken is not None:
        click.echo(f"audit chain BROKEN at entry {report.broken.seq}: {report.broken.reason} "
                   f"({report.checked} entries before it hold)", err=True)
        sys.exit(1)
    problems = [f"audit chain BROKEN against checkpoint {path.name}: {problem}"
                for path, (_, problem) in zip(checkpoints, found, strict=True) if problem]
    for problem in problems:
        click.echo(problem, err=True)
    if problems:
        sys.exit(1)
    click.echo(f"audit chain intact: {report.checked} entries")
    for path, (checkpoint, _) in zip(checkpoints, found, strict=True):
        click.echo(f"checkpoint {path.name} holds: entry {checkpoint.seq} of "
                   f"{checkpoint.at.isoformat()}")


@audit_group.command("checkpoint")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="where to write it (default: DATA_DIR/audit/checkpoints/)")
def audit_checkpoint_command(out: Path | None) -> None:
    """Export a checkpoint of the chain's head (seq, hash, time) signed with the service key."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        checkpoint, path = audit_checkpoint.export(
            session, key_dir=svc.settings.key_dir, keyring=svc.keyring(),
            data_dir=svc.settings.data_dir, out=out)
    click.echo(f"checkpoint of entry {checkpoint.seq} written to {path}")
