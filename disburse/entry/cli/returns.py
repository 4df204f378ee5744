"""``disburse returns``: import bank return files, list and resolve reconciliation exceptions."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup
from sqlalchemy.orm import Session

from bank_adapters.banks import sole_bank_bin
from bank_adapters.models import ReturnSource
from disburse.core.errors import ValidationFailed
from disburse.core.params import MAX_PAGE
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, require_role
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.banknames import bank_label
from disburse.entry.cli.output import echo_json, echo_table, say
from disburse.entry.context import services
from reconciliation.exceptions import close_batch, list_exceptions, resolve_exception
from reconciliation.intake import take_in_return_file
from reconciliation.models import ExceptionState, QueueKind
from reconciliation.service import ImportOutcome, ReturnImportReport

returns_group = AppGroup("returns", help="Bank return files and the reconciliation queue.")


def _bank_for(session: Session, given: str | None) -> str:
    """The ``--bank`` BIN, or the only registered bank when none is given."""
    if given:
        return given
    only = sole_bank_bin(session)
    if only is None:
        raise ValidationFailed("say which bank sent the file: --bank BIN")
    return only


@returns_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--bank", "bank_bin", help="BIN of the sending bank (default: the only one)")
@click.option("--signature", "signature_file",
              type=click.Path(dir_okay=False, path_type=Path),
              help="detached signature (default: FILE.sig beside the file)")
@actor_option
@click.option("--json", "as_json", is_flag=True)
def import_command(file: Path, bank_bin: str | None, signature_file: Path | None, actor: str,
                   as_json: bool) -> None:
    """Import a return file; exit 1 when it is quarantined (bad or missing signature) or
    refused whole (no record in it, or more records than the payments sent to the bank)."""
    svc = services()
    size = file.stat().st_size
    if size > svc.settings.max_upload_bytes:  # the web's request limit, here too
        raise ValidationFailed(
            f"{file.name}: the file is {size / 2**20:,.1f} MiB; the upload limit is "
            f"{svc.settings.max_upload_mb} MiB (setting DISBURSE_MAX_UPLOAD_MB)")
    sig_path = signature_file or file.with_name(file.name + ".sig")
    signature = sig_path.read_bytes() if sig_path.is_file() else None
    with unit_of_work(svc.session_factory, write=True) as session:
        # the same intake path as the bank API upload and the scheduler's fetch
        report = take_in_return_file(
            session, svc.keyring(), svc.settings, bank_bin=_bank_for(session, bank_bin),
            file_name=file.name, data=file.read_bytes(), signature=signature,
            source=ReturnSource.CLI, actor=actor)
    if as_json:
        echo_json(report.to_dict())
    else:
        _print_report(report)
    if report.outcome in (ImportOutcome.QUARANTINED, ImportOutcome.REFUSED):
        sys.exit(1)


def _print_report(report: ReturnImportReport) -> None:
    bank = bank_label(report.bank_bin)
    say(f"{report.file_name} từ {bank}: {report.outcome.value} "
        f"(chữ ký số {report.signature.value}); {report.message}",
        f"{report.file_name} from {bank}: {report.outcome.value} "
        f"(signature {report.signature.value}); {report.message}")
    click.echo(f"sha256 {report.sha256}  size {report.size}  "
               f"return file {report.return_file_id}")
    r = report.reconciliation
    if report.outcome is ImportOutcome.APPLIED:
        click.echo(f"records {r.records}  new {r.stored}  duplicates {r.duplicates}  "
                   f"parse errors {r.parse_errors}  state changes {r.events}  "
                   f"new exceptions {r.exceptions}")
        for change, count in sorted(r.state_changes.items()):
            click.echo(f"  {change}: {count}")
        for kind, count in sorted(r.exception_kinds.items()):
            click.echo(f"  exception {kind}: {count}")
        for batch_id, state in sorted(r.batches.items()):
            click.echo(f"  batch {batch_id} -> {state}")


@returns_group.command("exceptions")
@click.option("--state", type=click.Choice([s.value for s in ExceptionState] + ["all"]),
              default=ExceptionState.OPEN.value, show_default=True)
@click.option("--kind", type=click.Choice([k.value for k in QueueKind]))
@click.option("--page", default=1, show_default=True, type=click.IntRange(1, MAX_PAGE))
@click.option("--per-page", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--json", "as_json", is_flag=True)
def exceptions_command(state: str, kind: str | None, page: int, per_page: int,
                       as_json: bool) -> None:
    """List the reconciliation exceptions queue."""
    with unit_of_work(services().session_factory) as session:
        listing = list_exceptions(session, state=None if state == "all" else state, kind=kind,
                                  page=page, per_page=per_page)
    if as_json:
        echo_json(listing)
        return
    say(f"{listing['total']} ngoại lệ ({state})", f"{listing['total']} exceptions ({state})")
    echo_table((("ID", "id"), ("Loại", "kind"), ("Trạng thái", "state"),
                ("Mã giao dịch", "end-to-end id"), ("Số tiền", "amount"),
                ("Trạng thái ngân hàng", "bank status"), ("Mã lý do", "reason code"),
                ("Chi tiết", "detail")),
               ((item["id"], item["kind"], item["state"], item["end_to_end_id"] or None,
                 item["amount"] or None, item["status"] or None, item["reason_code"] or None,
                 item["detail"].get("message") or item["detail"].get("reason", ""))
                for item in listing["items"]))


@returns_group.command("resolve")
@click.argument("exception_id", type=int)
@actor_option(system=None, help="the auditor (or admin) resolving it")
@click.option("--note", required=True, help="why it is resolved")
def resolve_command(exception_id: int, actor: str, note: str) -> None:
    """Resolve one open exception with a note (auditor or admin)."""
    with unit_of_work(services().session_factory, write=True) as session:
        item = resolve_exception(session, exception_id, actor=actor, note=note)
    click.echo(f"exception {item['id']} ({item['kind']}) resolved by {item['resolved_by']}")


@click.command("close")
@click.argument("batch_id", type=int)
@actor_option(system=None, help="an auditor or admin")
def batch_close_command(batch_id: int, actor: str) -> None:
    """Close settled batch BATCH_ID once no open exception concerns it."""
    with unit_of_work(services().session_factory, write=True) as session:
        require_role(session, actor, Role.AUDITOR, Role.ADMIN)
        state = close_batch(session, batch_id, actor=actor)
    click.echo(f"batch {batch_id} is {state}")
