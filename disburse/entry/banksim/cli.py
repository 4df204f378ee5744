"""``banksim`` commands: serve the bank simulator, or print its public key.

The lead registers the group as ``disburse banksim``; ``python -m disburse.entry.banksim`` runs
it on its own, which is how the end-to-end tests start a real simulator process.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import click

from beneficiaries.reference import load_banks
from disburse.core.serving import exit_cleanly_on_sigterm, serve_forever
from disburse.core.signing import PublicKey, load_public_key_pem, public_key_pem
from disburse.entry.banksim.app import create_banksim_app
from disburse.entry.banksim.book import AccountBook, load_account_book
from disburse.entry.banksim.store import BankStore
from disburse.entry.banksim.submission import BankConfig, SubmissionDesk, load_or_create_bank_key

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)
_DIR = click.Path(file_okay=False, path_type=Path)
_DB = click.Path(dir_okay=False, path_type=Path)


def _check_bin(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    if not (len(value) == 6 and value.isdigit()):
        raise click.BadParameter("must be a 6-digit NAPAS BIN")
    return value


@click.group(name="banksim")
def banksim() -> None:
    """Bank simulator: a separate bank service to test payment files against."""


@banksim.command("public-key")
@click.option("--bin", "bank_bin", required=True, callback=_check_bin, help="The bank's BIN.")
@click.option("--key-dir", required=True, type=_DIR, help="Where the bank's key lives.")
def public_key_command(bank_bin: str, key_dir: Path) -> None:
    """Print the bank's public key (PEM), creating its key pair if missing."""
    key = load_or_create_bank_key(key_dir, bank_bin)
    click.echo(public_key_pem(key.public_key()).decode("ascii"), nl=False)


def _load_book(accounts: Path) -> AccountBook:
    """Load the book; on bad rows print every error and exit non-zero (no traceback)."""
    book, errors = load_account_book(accounts)
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        raise click.ClickException(f"{accounts}: {len(errors)} bad row(s); nothing served")
    return book


def _load_service_key(path: Path) -> PublicKey:
    try:
        return load_public_key_pem(path.read_bytes())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--service-public-key") from None


@banksim.command("serve")
@click.option("--bin", "bank_bin", required=True, callback=_check_bin, help="The bank's BIN.")
@click.option("--port", required=True, type=click.IntRange(0, 65535), help="0 picks a free port.")
@click.option("--accounts", required=True, type=_FILE, help="The account book CSV.")
@click.option("--service-public-key", required=True, type=_FILE,
              help="PEM public key that verifies the service's payment files.")
@click.option("--key-dir", required=True, type=_DIR,
              help="Directory of the bank's own signing key (created if missing).")
@click.option("--token", envvar="BANKSIM_TOKEN", default=None,
              help="Bearer token clients must send (none: no authentication).")
@click.option("--camt-delay", default=0.0, show_default=True, type=click.FloatRange(0, 86400),
              help="Seconds before a camt.054 becomes available.")
@click.option("--faults", is_flag=True, help="Enable fault injection (tests only).")
@click.option("--db", type=_DB, default=None, help="Database file (default: a temporary one).")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--access-log", is_flag=True, help="Log every request to stderr.")
def serve_command(
    bank_bin: str, port: int, accounts: Path, service_public_key: Path, key_dir: Path,
    token: str | None, camt_delay: float, faults: bool, db: Path | None, host: str,
    access_log: bool,
) -> None:
    """Serve the bank simulator until interrupted (SIGTERM or Ctrl-C)."""
    if token is not None and not token.strip():
        raise click.BadParameter("must not be empty", param_hint="--token")
    exit_cleanly_on_sigterm()
    book = _load_book(accounts)
    bin_for_bic = {bank.bic: code for code, bank in load_banks().items() if bank.bic}
    config = BankConfig(bank_bin, book, _load_service_key(service_public_key),
                        token.strip() if token else None, camt_delay, faults, bin_for_bic)
    workdir = None if db is not None else Path(tempfile.mkdtemp(prefix="banksim-"))
    store = BankStore(db if db is not None else Path(str(workdir)) / "banksim.sqlite")
    try:
        desk = SubmissionDesk(config, store, load_or_create_bank_key(key_dir, bank_bin))
        app = create_banksim_app(config, store, desk)
        serve_forever(app, host, port, access_log=access_log, quiet_level=logging.ERROR,
                      banner=lambda bound: f"banksim {bank_bin} listening on "
                                           f"http://{host}:{bound} ({len(book)} accounts)")
    finally:
        store.close()
        if workdir is not None:
            shutil.rmtree(workdir, ignore_errors=True)
