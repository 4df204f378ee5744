"""``disburse beneficiaries``: import lists, list and show beneficiaries, get templates."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask.cli import AppGroup

from beneficiaries import queries, service
from beneficiaries.importers import check_file_size
from beneficiaries.models import ImportOutcome
from beneficiaries.programmes import PROGRAMMES
from beneficiaries.report import ImportReport
from beneficiaries.stored import StoredPart, seal_legacy
from beneficiaries.templates import template_csv, template_xlsx
from disburse.core.clock import business_date
from disburse.core.private_files import open_private
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, require_role
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.output import echo_json, echo_table, say
from disburse.entry.context import services

beneficiaries_group = AppGroup("beneficiaries", help="Beneficiary registry and list imports.")


@beneficiaries_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--program", "programme", required=True, type=click.Choice(list(PROGRAMMES)))
@actor_option(system=None, help="the preparer importing the list")
@click.option("--accept-valid", is_flag=True, help="write the valid rows, report the rest")
@click.option("--end-missing", is_flag=True,
              help="end beneficiaries of the file's communes who are absent from it")
@click.option("--json", "as_json", is_flag=True)
def import_command(file: Path, programme: str, actor: str, accept_valid: bool,
                   end_missing: bool, as_json: bool) -> None:
    """Import a beneficiary list (CSV or XLSX); exit 1 when the file is rejected."""
    svc = services()
    check_file_size(file, svc.settings.max_upload_bytes)  # the web's request limit, here too
    options = service.ImportOptions(accept_valid=accept_valid, end_missing=end_missing,
                                    store_dir=svc.settings.data_dir / "imports")
    with unit_of_work(svc.session_factory, write=True) as session:
        require_role(session, actor, Role.PREPARER, Role.ADMIN)
        report = service.import_list(session, svc.keyring(), file, programme=programme,
                                     actor=actor, today=business_date(), options=options)
    if as_json:
        echo_json(report.to_dict())
    else:
        _print_report(report)
    if report.outcome == ImportOutcome.REJECTED.value:
        sys.exit(1)


def _print_report(report: ImportReport) -> None:
    c = report.counts
    say(f"lần nhập {report.import_id}: {report.file_name} ({report.programme}) "
        f"{report.outcome}: {report.message}",
        f"import {report.import_id}: {report.file_name} ({report.programme}) "
        f"{report.outcome}: {report.message}")
    say(f"số dòng {c.rows}  thêm {c.added}  cập nhật {c.updated}  không đổi {c.unchanged}  "
        f"bị từ chối {c.rejected}  cần xem {c.flagged}  vắng {c.absent}  dừng {c.ended}",
        f"rows {c.rows}  added {c.added}  updated {c.updated}  unchanged {c.unchanged}  "
        f"rejected {c.rejected}  flagged {c.flagged}  absent {c.absent}  ended {c.ended}")
    for finding in (report.errors + report.flags)[:50]:
        say(f"  {finding.file}: dòng {finding.row}: {finding.column}: "
            f"[{finding.code}] {finding.message_vi}",
            f"  {finding.file}: row {finding.row}: {finding.column}: "
            f"[{finding.code}] {finding.message_en}")
    more = len(report.errors) + len(report.flags) - 50
    if more > 0:
        say(f"  ... và {more} dòng nữa (xem báo cáo đã lưu hoặc --json)",
            f"  ... and {more} more (see the stored report or --json)")


@beneficiaries_group.command("template")
@click.option("--lang", type=click.Choice(["vi", "en"]), default="vi", show_default=True)
@click.option("--format", "fmt", type=click.Choice(["xlsx", "csv"]), default="xlsx",
              show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def template_command(lang: str, fmt: str, out: Path) -> None:
    """Write the list template with English or Vietnamese headers."""
    out.write_bytes(template_xlsx(lang) if fmt == "xlsx" else template_csv(lang))
    click.echo(f"wrote {out}")


@beneficiaries_group.command("list")
@click.option("--program", "programme", type=click.Choice(list(PROGRAMMES)))
@click.option("--province")
@click.option("--commune")
@click.option("--status", type=click.Choice(["active", "suspended", "ended"]))
@click.option("--channel", type=click.Choice(["bank", "ewallet", "cash"]))
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_command(programme: str | None, province: str | None, commune: str | None,
                 status: str | None, channel: str | None, limit: int, as_json: bool) -> None:
    """List beneficiaries matching the filters (citizen IDs masked)."""
    filters = queries.BeneficiaryFilter(programme, province, commune, status, channel)
    with unit_of_work(services().session_factory) as session:
        page = queries.list_beneficiaries(session, services().keyring(), filters,
                                          limit=limit, offset=0)
    if as_json:
        echo_json(page)
        return
    say(f"{page['total']} người thụ hưởng", f"{page['total']} beneficiaries")
    echo_table(_LIST_COLUMNS, (
        (item["id"], item["programme"], item["citizen_id"], item["full_name"],
         f"{item['province_code']}/{item['commune_code']}", f"{item['monthly_amount']:,}",
         item["channel"], item["status"]) for item in page["items"]))


_LIST_COLUMNS = (("ID", "id"), ("Chương trình", "programme"), ("CCCD", "citizen ID"),
                 ("Họ và tên", "full name"), ("Tỉnh/Xã", "province/commune"),
                 ("Số tiền/tháng", "monthly amount"), ("Hình thức nhận", "channel"),
                 ("Trạng thái", "status"))


@beneficiaries_group.command("show")
@click.argument("beneficiary_id", type=int)
@click.option("--reveal", is_flag=True, help="show the full citizen ID and account (audited)")
@actor_option
def show_command(beneficiary_id: int, reveal: bool, actor: str) -> None:
    """Show one beneficiary with its history."""
    # revealing writes an audit entry
    with unit_of_work(services().session_factory, write=reveal) as session:
        detail = queries.show_beneficiary(session, services().keyring(), beneficiary_id,
                                          reveal=reveal, actor=actor)
    echo_json(detail)


@beneficiaries_group.command("stored-file")
@click.argument("import_id", type=int)
@click.option("--part", type=click.Choice([p.value for p in StoredPart]), default="rejected",
              show_default=True, help="the rejected-rows workbook, the original or the report")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--actor", required=True, help="the preparer, auditor or admin reading it")
def stored_file_command(import_id: int, part: str, out: Path, actor: str) -> None:
    """Write a stored file of an import, decrypted, to OUT (mode 0600; audited)."""
    svc = services()
    with unit_of_work(svc.session_factory) as session:
        require_role(session, actor, Role.PREPARER, Role.AUDITOR, Role.ADMIN)
        found = queries.open_stored_file(session, svc.keyring(), import_id, StoredPart(part),
                                         actor=actor)
        with open_private(out) as handle:  # inside the transaction: no file, no audit entry
            for chunk in found.chunks:
                handle.write(chunk)
    click.echo(f"wrote {out} ({found.name})")


@beneficiaries_group.command("seal-stored")
def seal_stored_command() -> None:
    """Seal import files stored in plain text before sealing existed (run once after upgrading)."""
    svc = services()
    count = seal_legacy(svc.keyring(), svc.settings.data_dir / "imports")
    click.echo(f"sealed {count} stored file(s)")
