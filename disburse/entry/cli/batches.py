"""``disburse batch``: build monthly payment batches and move them through maker-checker."""

from __future__ import annotations

from typing import Any

import click
from flask.cli import AppGroup

from beneficiaries.programmes import PROGRAMMES
from beneficiaries.registry import HttpPopulationRegistry
from disburse.core.clock import business_date
from disburse.core.lang import pick
from disburse.core.uow import unit_of_work
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.banknames import bank_label
from disburse.entry.cli.output import echo_json, echo_table, say
from disburse.entry.context import services
from disburse.payments import service
from disburse.payments.lifecycle import BatchState
from disburse.payments.preparation import prepare_and_build
from disburse.payments.routing import load_routing

batch_group = AppGroup("batch", help="Monthly payment batches and their approval.")


def _print_summary(data: dict[str, Any]) -> None:
    province = data["province_code"]
    say(f"đợt chi trả {data['batch_id']}: {data['programme']} kỳ {data['period']}"
        f"{' tỉnh ' + province if province else ''} [{data['state']}] "
        f"người lập {data['preparer']}",
        f"batch {data['batch_id']}: {data['programme']} {data['period']}"
        f"{' province ' + province if province else ''} "
        f"[{data['state']}] prepared by {data['preparer']}")
    say(f"số lệnh {data['count']:,}  tổng {data['total']:,} VND  "
        f"truy lĩnh {data['arrears_total']:,} VND  chuyển sang tiền mặt {data['rerouted']}",
        f"instructions {data['count']:,}  total {data['total']:,} VND  "
        f"arrears {data['arrears_total']:,} VND  re-routed to cash {data['rerouted']}")
    say(f"ngày thực hiện {data['requested_execution_date']}  mã băm {data['content_hash']}",
        f"execution date {data['requested_execution_date']}  hash {data['content_hash']}")
    for row in data["by_route"]:
        say(f"  tuyến {row['route']:<16} {row['count']:>9,}  {row['total']:>18,}",
            f"  route {row['route']:<16} {row['count']:>9,}  {row['total']:>18,}")
    for row in data["by_bank"]:
        label = (bank_label(row["bank_bin"]) if row["bank_bin"]
                 else pick("tiền mặt", "cash"))
        say(f"  ngân hàng {label:<30} {row['count']:>9,}  {row['total']:>18,}",
            f"  bank  {label:<30} {row['count']:>9,}  {row['total']:>18,}")
    for reason, entry in data["exclusions"].items():
        say(f"  loại ra {reason}: {entry['count']}", f"  excluded {reason}: {entry['count']}")
    if data["approval"]:
        a = data["approval"]
        say(f"người phê duyệt {a['approver']} lúc {a['at']} (mã băm {a['batch_hash']})",
            f"approved by {a['approver']} at {a['at']} (hash {a['batch_hash']})")
    if data["reason"]:
        say(f"lý do: {data['reason']}", f"reason: {data['reason']}")


@batch_group.command("create")
@click.option("--program", "programme", required=True, type=click.Choice(list(PROGRAMMES)))
@click.option("--period", required=True, help="YYYY-MM")
@click.option("--province", default=None, help="2-digit province code (default: all)")
@actor_option(system=None, help="the preparer building the batch")
@click.option("--json", "as_json", is_flag=True)
def create_command(programme: str, period: str, province: str | None, actor: str,
                   as_json: bool) -> None:
    """Build a draft batch for PROGRAM and PERIOD (stale checks are renewed first)."""
    svc = services()
    settings = svc.settings
    registry = HttpPopulationRegistry(settings.registry_url, settings.registry_token,
                                      batch_size=settings.registry_batch_size)
    with registry:  # stale checks renewed and committed first; then the build's transaction
        summary = prepare_and_build(
            svc.session_factory, svc.keyring(), registry, programme=programme, period=period,
            province=province, actor=actor, routing=load_routing(settings.routes_file),
            max_age_days=settings.verification_max_age_days, today=business_date())
    if as_json:
        echo_json(summary.to_dict())
    else:
        _print_summary(summary.to_dict())


@batch_group.command("submit")
@click.argument("batch_id", type=int)
@actor_option(system=None, help="the batch's preparer")
def submit_command(batch_id: int, actor: str) -> None:
    """Submit batch BATCH_ID for approval."""
    with unit_of_work(services().session_factory, write=True) as session:
        batch = service.submit_batch(session, batch_id, actor=actor)
        say(f"đợt chi trả {batch.id}: {batch.state}: {batch.count:,} lệnh, "
            f"{batch.total:,} VND, mã băm {batch.content_hash}",
            f"batch {batch.id} is {batch.state}: {batch.count:,} instructions, "
            f"{batch.total:,} VND, hash {batch.content_hash}")


@batch_group.command("approve")
@click.argument("batch_id", type=int)
@actor_option(system=None, help="an approver other than the preparer")
def approve_command(batch_id: int, actor: str) -> None:
    """Approve batch BATCH_ID (a second person with the approver role)."""
    with unit_of_work(services().session_factory, write=True) as session:
        approval = service.approve_batch(session, batch_id, actor=actor)
        say(f"đợt chi trả {batch_id} đã được {approval.approver} phê duyệt: "
            f"{approval.count:,} lệnh, {approval.total:,} VND, mã băm {approval.batch_hash}",
            f"batch {batch_id} approved by {approval.approver}: {approval.count:,} "
            f"instructions, {approval.total:,} VND, hash {approval.batch_hash}")


@batch_group.command("reject")
@click.argument("batch_id", type=int)
@actor_option(system=None, help="an approver")
@click.option("--reason", required=True, help="why (at least 5 characters)")
def reject_command(batch_id: int, actor: str, reason: str) -> None:
    """Reject batch BATCH_ID back to draft, with a reason."""
    with unit_of_work(services().session_factory, write=True) as session:
        batch = service.reject_batch(session, batch_id, actor=actor, reason=reason)
        say(f"đợt chi trả {batch.id} bị từ chối, trở về {batch.state}: {batch.reason}",
            f"batch {batch.id} rejected back to {batch.state}: {batch.reason}")


@batch_group.command("cancel")
@click.argument("batch_id", type=int)
@actor_option(system=None)
@click.option("--reason", required=True, help="why (at least 5 characters)")
def cancel_command(batch_id: int, actor: str, reason: str) -> None:
    """Cancel batch BATCH_ID before it is submitted to a bank (its instructions are freed)."""
    with unit_of_work(services().session_factory, write=True) as session:
        batch = service.cancel_batch(session, batch_id, actor=actor, reason=reason)
        say(f"đợt chi trả {batch.id} đã huỷ (giải phóng {batch.count:,} lệnh, "
            f"{batch.total:,} VND)",
            f"batch {batch.id} cancelled ({batch.count:,} instructions, "
            f"{batch.total:,} VND freed)")


@batch_group.command("edit")
@click.argument("instruction_id", type=int)
@click.option("--amount", type=int, default=None, help="new amount in whole dong")
@click.option("--remove", is_flag=True, help="remove the instruction from its batch")
@actor_option(system=None, help="the batch's preparer")
@click.option("--reason", required=True)
def edit_command(instruction_id: int, amount: int | None, remove: bool, actor: str,
                 reason: str) -> None:
    """Change or remove one instruction; after approval this voids the approval."""
    with unit_of_work(services().session_factory, write=True) as session:
        batch = service.edit_instruction(session, instruction_id, actor=actor, amount=amount,
                                         remove=remove, reason=reason)
        say(f"đợt chi trả {batch.id}: {batch.state}: {batch.count:,} lệnh, {batch.total:,} VND",
            f"batch {batch.id} is {batch.state}: {batch.count:,} instructions, "
            f"{batch.total:,} VND")


@batch_group.command("show")
@click.argument("batch_id", type=int)
@click.option("--json", "as_json", is_flag=True)
def show_command(batch_id: int, as_json: bool) -> None:
    """Show batch BATCH_ID with totals by route and bank, exclusions and approval."""
    with unit_of_work(services().session_factory) as session:
        data = service.batch_summary(session, batch_id)
    if as_json:
        echo_json(data)
    else:
        _print_summary(data)


@batch_group.command("list")
@click.option("--program", "programme", type=click.Choice(list(PROGRAMMES)))
@click.option("--period")
@click.option("--state", type=click.Choice([s.value for s in BatchState]))
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def list_command(programme: str | None, period: str | None, state: str | None, limit: int,
                 as_json: bool) -> None:
    """List the newest batches."""
    with unit_of_work(services().session_factory) as session:
        rows = service.list_batches(session, programme=programme, period=period, state=state,
                                    limit=limit)
    if as_json:
        echo_json(rows)
        return
    echo_table(_LIST_COLUMNS, (
        (row["id"], row["programme"], row["period"], row["province_code"], row["state"],
         f"{row['count']:,}", f"{row['total']:,}", row["preparer"]) for row in rows))


_LIST_COLUMNS = (("ID", "id"), ("Chương trình", "programme"), ("Kỳ", "period"),
                 ("Tỉnh", "province"), ("Trạng thái", "state"), ("Số lệnh", "instructions"),
                 ("Tổng (VND)", "total (VND)"), ("Người lập", "preparer"))
