"""``disburse banks``, ``disburse outbox`` and ``disburse batch send``.

``batch send`` records the submissions and moves the batch to ``submitted`` in one
transaction, then delivers; ``outbox deliver`` is what the scheduler runs. Both go through
``bank_adapters.outbox``, so a file is never sent twice.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from bank_adapters import banks
from bank_adapters.choose import AdapterRegistry, endpoints
from bank_adapters.outbox import (
    DeliveryReport,
    deliver_pending,
    enqueue_batch,
    list_submissions,
)
from beneficiaries.reference import load_banks
from disburse.core.errors import ValidationFailed
from disburse.core.lang import pick
from disburse.core.signing import PrivateKey
from disburse.core.uow import unit_of_work
from disburse.core.users import Role, require_role
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.banknames import bank_label
from disburse.entry.cli.output import echo_table, say
from disburse.entry.context import Services, services
from disburse.payments.queries import batch_payment_files
from disburse.payments.routing import load_routing
from disburse.payments.storage import (
    check_stored_files,
    payment_files_root,
    stage_payment_files,
)
from reconciliation.intake import fetch_and_take_in

banks_group = AppGroup("banks", help="Registered banks and their API tokens.")
outbox_group = AppGroup("outbox", help="Submissions of payment files to banks.")


def _echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


@banks_group.command("add")
@click.option("--bin", "bank_bin", required=True, help="6-digit NAPAS BIN")
@click.option("--name", required=True)
@click.option("--route", required=True, help="route name in the routing configuration")
@click.option("--public-key", "public_key", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PEM public key that verifies the bank's return files")
@click.option("--profile", default=None, help="JSON object: API timeouts, token_env, TLS paths")
@click.option("--api-url", default=None, help="base URL of the bank's API")
@actor_option
def banks_add(bank_bin: str, name: str, route: str, public_key: Path, profile: str | None,
              api_url: str | None, actor: str) -> None:
    """Register a bank with its public key."""
    try:
        profile_data = json.loads(profile) if profile else {}
    except json.JSONDecodeError as error:
        raise ValidationFailed(f"--profile is not JSON: {error}") from None
    if not isinstance(profile_data, dict):
        raise ValidationFailed("--profile must be a JSON object")
    svc = services()
    with unit_of_work(svc.session_factory, write=True) as session:
        bank = banks.add_bank(session, bank_bin=bank_bin, name=name, route=route,
                              public_key_pem=public_key.read_text(encoding="ascii"),
                              actor=actor, profile=profile_data, api_base_url=api_url,
                              routing=load_routing(svc.settings.routes_file))
        say(f"đã đăng ký ngân hàng {bank.bin} {bank.name} (tuyến {bank.route})",
            f"registered bank {bank.bin} {bank.name} (route {bank.route})")


@banks_group.command("token")
@click.argument("bank_bin")
@actor_option
def banks_token(bank_bin: str, actor: str) -> None:
    """Issue a new API token for BANK_BIN; it is printed once and only its hash is kept."""
    with unit_of_work(services().session_factory, write=True) as session:
        token = banks.issue_token(session, bank_bin, actor=actor)
    click.echo(token)
    click.echo(f"(user {banks.bank_user_name(bank_bin)}; the previous token no longer works)",
               err=True)


@banks_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def banks_list(as_json: bool) -> None:
    """List registered banks."""
    with unit_of_work(services().session_factory) as session:
        rows = [{"bin": b.bin, "name": b.name, "route": b.route, "api_url": b.api_base_url,
                 "has_token": b.token_hash is not None} for b in banks.list_banks(session)]
    if as_json:
        _echo_json(rows)
        return
    echo_table((("BIN", "BIN"), ("Ngân hàng", "name"), ("Tên trong bảng ngân hàng", "bank table"),
                ("Tuyến", "route"), ("Địa chỉ API", "API URL"), ("Mã truy cập", "token")),
               ((row["bin"], row["name"], _table_name(str(row["bin"])), row["route"],
                 row["api_url"],
                 pick("có", "token") if row["has_token"] else pick("chưa có", "no token"))
                for row in rows))


def _table_name(bank_bin: str) -> str:
    """The bank's short name in the Vietnamese bank table, ``-`` when it is not there."""
    known = load_banks().get(bank_bin)
    return known.short_name if known is not None else "-"


def _registered_names(svc: Services) -> dict[str, str]:
    """The registered banks' names by BIN."""
    with unit_of_work(svc.session_factory) as session:
        return {bank.bin: bank.name for bank in banks.list_banks(session)}


def _registry(svc: Services) -> AdapterRegistry:
    with unit_of_work(svc.session_factory) as session:
        registered = endpoints(banks.list_banks(session))

    def signing_key() -> PrivateKey:
        from disburse.core.signing_keys import load_signing_key

        return load_signing_key(svc.settings.key_dir, svc.keyring())[0]

    return AdapterRegistry(load_routing(svc.settings.routes_file), svc.settings, registered,
                           signing_key=signing_key)


def _deliver(svc: Services, actor: str) -> DeliveryReport:
    return deliver_pending(svc.session_factory, _registry(svc),
                           files_root=payment_files_root(svc.settings.data_dir), actor=actor)


def _print_report(report: DeliveryReport) -> None:
    for msg_id, state in sorted(report.states.items()):
        click.echo(f"{msg_id}\t{state}")
    for route in sorted(report.breaker_open):
        say(f"tuyến {route}: tạm ngắt, để lại cho lần chạy sau",
            f"route {route}: circuit open, left for the next run", err=True)
    say(f"{report.submits} lần gửi, {report.status_queries} lần hỏi trạng thái",
        f"{report.submits} submission(s), {report.status_queries} status query(ies)")


@outbox_group.command("deliver")
@actor_option(system="outbox")
def outbox_deliver(actor: str) -> None:
    """Send pending submissions and resolve unknown ones (what the scheduler runs)."""
    svc = services()
    report = _deliver(svc, actor)
    _print_report(report)
    if report.count_open():
        sys.exit(3)  # something is still pending or unknown: the scheduler retries later


@outbox_group.command("list")
@click.option("--batch", "batch_id", type=int, default=None)
@click.option("--state", default=None)
@click.option("--json", "as_json", is_flag=True)
def outbox_list(batch_id: int | None, state: str | None, as_json: bool) -> None:
    """List submissions with their state and attempts."""
    with unit_of_work(services().session_factory) as session:
        rows = [{"id": s.id, "batch_id": s.batch_id, "route": s.route, "msg_id": s.msg_id,
                 "state": s.state, "attempts": s.attempts, "last_error": s.last_error,
                 "updated_at": s.updated_at}
                for s in list_submissions(session, batch_id=batch_id, state=state)]
    if as_json:
        _echo_json(rows)
        return
    echo_table((("ID", "id"), ("Đợt chi trả", "batch"), ("Tuyến", "route"), ("MsgId", "msg id"),
                ("Trạng thái", "state"), ("Số lần gửi", "attempts"),
                ("Lỗi gần nhất", "last error")),
               ((row["id"], row["batch_id"], row["route"], row["msg_id"], row["state"],
                 row["attempts"], row["last_error"] or "") for row in rows))


@outbox_group.command("fetch-returns")
@actor_option(system="outbox")
@click.option("--json", "as_json", is_flag=True)
def outbox_fetch_returns(actor: str, as_json: bool) -> None:
    """Collect return files from every registered bank, take them in, acknowledge them.

    Each file is verified, kept and reconciled in its own transaction and acknowledged at
    the bank only after it committed. Exit status 1 when a bank or a file failed.
    """
    svc = services()
    report = fetch_and_take_in(svc.session_factory, svc.keyring(), svc.settings,
                               _registry(svc), actor=actor)
    if as_json:
        _echo_json(report.to_dict())
    else:
        names = _registered_names(svc)
        echo_table((("Ngân hàng", "bank"), ("Tệp", "file"), ("Kết quả", "outcome"),
                    ("Số bản ghi", "records"), ("Thay đổi trạng thái", "state changes")),
                   ((bank_label(found.bank_bin, names), found.name, found.outcome,
                     found.records, found.events) for found in report.files))
        for bank_bin, error in sorted(report.failed_banks.items()):
            say(f"ngân hàng {bank_label(bank_bin, names)}: không lấy được tệp: {error}",
                f"bank {bank_label(bank_bin, names)}: fetch failed: {error}", err=True)
    if report.failed:
        sys.exit(1)


def _stage_and_check(svc: Services, batch_id: int, files_dir: Path | None) -> None:
    """Copy the batch's files from ``files_dir`` into the store (checked), then check the store.

    The outbox sends from the store only: every file must be there with the SHA-256 recorded
    when it was signed, its detached signature and its manifest.
    """
    root = payment_files_root(svc.settings.data_dir)
    with unit_of_work(svc.session_factory) as session:
        files = batch_payment_files(session, batch_id)
        if files_dir is not None:
            stage_payment_files(files, files_dir, root, svc.settings.key_dir)
        check_stored_files(files, root, svc.settings.key_dir)


@click.command("send")
@with_appcontext
@click.argument("batch_id", type=int)
@actor_option(system=None, help="the user sending the batch")
@click.option("--files-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="take the files from this directory (checked, copied into the store); "
                   "not needed after `batch files --out`, which puts them in the store too")
def batch_send(batch_id: int, actor: str, files_dir: Path | None) -> None:
    """Check the signed files, record the submissions (batch -> submitted), deliver them."""
    svc = services()
    _stage_and_check(svc, batch_id, files_dir)
    with unit_of_work(svc.session_factory, write=True) as session:
        require_role(session, actor, Role.PREPARER, Role.APPROVER, Role.ADMIN)
        rows = enqueue_batch(session, batch_id, actor=actor)
    say(f"đợt chi trả {batch_id}: đã ghi nhận {len(rows)} lần gửi",
        f"batch {batch_id}: {len(rows)} submission(s) recorded")
    _print_report(_deliver(svc, actor))


__all__ = ["banks_group", "batch_send", "outbox_group"]
