"""CLI for payment files: ``batch files``, ``files verify`` and ``keys export-public``.

The commands are plain click objects; ``register`` adds them to the ``disburse`` groups.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
from flask.cli import AppGroup, with_appcontext

from disburse.core import signing
from disburse.core.clock import utcnow
from disburse.core.signing import SignatureAlg
from disburse.core.signing_keys import export_public, key_id_of, load_public_key
from disburse.core.uow import unit_of_work
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.output import echo_table, say
from disburse.entry.context import services
from disburse.payments.files import verify_payment_file, write_batch_files
from disburse.payments.routing import load_routing

files_group = AppGroup("files", help="Signed payment files: verification.")
_ALGS = [alg.value for alg in SignatureAlg]


@files_group.command("verify")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(path_type=Path, dir_okay=False))
@click.option("--public-key", "public_key_file", default=None,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM public key (default: the service's own key for the manifest's alg)")
@click.pass_context
def files_verify(ctx: click.Context, files: tuple[Path, ...],
                 public_key_file: Path | None) -> None:
    """Check each FILE against FILE.sig and FILE.manifest.json; exit 1 naming each problem."""
    given = (signing.load_public_key_pem(public_key_file.read_bytes())
             if public_key_file is not None else None)
    failed = [file for file in files if not _verify_one(file, given)]
    if failed:
        ctx.exit(1)


def _verify_one(file: Path, given: signing.PublicKey | None) -> bool:
    """Verify one file, print the outcome, and return whether it holds."""
    public_key = given or load_public_key(services().settings.key_dir, _manifest_alg(file))
    problems = verify_payment_file(file, public_key)
    if problems:
        for problem in problems:
            click.echo(f"{file.name}: {problem.code.value} [{problem.field}]: "
                       f"{problem.message}", err=True)
        say(f"LỖI {file.name}: {len(problems)} vấn đề", f"FAILED {file.name}: "
            f"{len(problems)} problem(s)", err=True)
        return False
    manifest = json.loads(signing.manifest_path(file).read_text(encoding="utf-8"))
    click.echo(f"OK {file.name}: MsgId {manifest['msg_id']}, NbOfTxs {manifest['nb_of_txs']}, "
               f"CtrlSum {manifest['ctrl_sum']}, signed with {manifest['alg']} key "
               f"{manifest['key_id']}")
    return True


def _manifest_alg(file: Path) -> SignatureAlg:
    """Return the manifest's algorithm, or Ed25519 when it cannot be read (verify reports it)."""
    try:
        return SignatureAlg(json.loads(signing.manifest_path(file).read_text("utf-8"))["alg"])
    except (OSError, ValueError, KeyError, TypeError):
        return SignatureAlg.ED25519


@click.command("export-public")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="where to write the PEM public key")
@click.option("--alg", type=click.Choice(_ALGS), default=SignatureAlg.ED25519.value,
              show_default=True)
@with_appcontext
def export_public_command(out: Path, alg: str) -> None:
    """Write the public signing key that banks register to check our files."""
    key_dir = services().settings.key_dir
    out.write_bytes(export_public(key_dir, alg))
    click.echo(f"{alg} public key {key_id_of(key_dir, alg)} written to {out}")


@click.command("files")
@click.argument("batch_id", type=int)
@click.option("--out", "out_dir", default=None,
              type=click.Path(file_okay=False, path_type=Path),
              help="output directory (default: where the outbox sends from, "
                   "DATA_DIR/payment_files/BATCH_ID)")
@actor_option(help="user name recorded in the audit trail")
@click.option("--json", "as_json", is_flag=True, help="print the files as JSON")
@with_appcontext
def batch_files_command(batch_id: int, out_dir: Path | None, actor: str, as_json: bool) -> None:
    """Write (or re-write) and sign the payment files of approved batch BATCH_ID.

    Files written with --out DIR are also copied, checked, into the service's store, so that
    `batch send` and the nightly run send exactly these signed bytes without being told DIR.
    """
    from disburse.payments.storage import payment_files_root

    svc = services()
    store = payment_files_root(svc.settings.data_dir)
    out_dir = out_dir or store / str(batch_id)
    with unit_of_work(svc.session_factory, write=True) as session:
        files = write_batch_files(
            session, svc.keyring(), batch_id, out_dir=out_dir, actor=actor,
            routing=load_routing(svc.settings.routes_file), key_dir=svc.settings.key_dir,
            now=utcnow())
        rows = [{"file": str(out_dir / f.file_name), "route": f.route, "part": f.part_no,
                 "msg_id": f.msg_id, "nb_of_txs": f.nb_of_txs, "ctrl_sum": f.ctrl_sum,
                 "sha256": f.sha256, "key_id": f.key_id} for f in files]
    if out_dir.resolve() != (store / str(batch_id)).resolve():
        _copy_into_store(batch_id, out_dir, store)
    if as_json:
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    echo_table((("Tệp", "file"), ("MsgId", "msg id"), ("Số giao dịch", "transactions"),
                ("Tổng tiền", "control sum"), ("SHA-256", "SHA-256")),
               ((row["file"], row["msg_id"], row["nb_of_txs"], row["ctrl_sum"], row["sha256"])
                for row in rows))
    say(f"đợt chi trả {batch_id}: đã ký {len(rows)} tệp trong {out_dir}",
        f"batch {batch_id}: {len(rows)} file(s) signed in {out_dir}")


def _copy_into_store(batch_id: int, out_dir: Path, store: Path) -> None:
    """Put checked copies of the batch's files, just written to ``out_dir``, in the store."""
    from disburse.payments.queries import batch_payment_files
    from disburse.payments.storage import stage_payment_files

    svc = services()
    with unit_of_work(svc.session_factory) as session:
        stage_payment_files(batch_payment_files(session, batch_id), out_dir, store,
                            svc.settings.key_dir)


def register(root: click.Group, keys: click.Group, batch: click.Group | None = None) -> None:
    """Add ``files`` to ``root``, ``export-public`` to ``keys`` and ``files`` to ``batch``."""
    root.add_command(files_group)
    keys.add_command(export_public_command)
    if batch is not None:
        batch.add_command(batch_files_command)
