"""``disburse verify``: check beneficiaries against the population registry."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask.cli import AppGroup, with_appcontext

from beneficiaries.programmes import PROGRAMMES
from beneficiaries.registry import HttpPopulationRegistry
from beneficiaries.verification import service
from disburse.core.uow import unit_of_work
from disburse.entry.cli.actor import actor_option
from disburse.entry.cli.output import echo_json
from disburse.entry.context import services

verify_group = AppGroup("verification", help="Verification outcomes and overrides.")


@click.command("verify")
@click.option("--program", "programme", type=click.Choice(list(PROGRAMMES)))
@click.option("--province", help="2-digit province code")
@click.option("--stale-only", is_flag=True, help="only beneficiaries whose check is stale")
@actor_option(system="nightly")
@click.option("--json", "as_json", is_flag=True)
@with_appcontext
def verify_command(programme: str | None, province: str | None, stale_only: bool, actor: str,
                   as_json: bool) -> None:
    """Verify beneficiaries against the population registry and print counts per outcome."""
    svc = services()
    settings = svc.settings
    scope = service.VerifyScope(programme, province, stale_only,
                                settings.verification_max_age_days)
    registry = HttpPopulationRegistry(settings.registry_url, settings.registry_token,
                                      batch_size=settings.registry_batch_size)
    show_bar = sys.stderr.isatty() and not as_json
    with registry, unit_of_work(svc.session_factory, write=True) as session:
        bar: Any = click.progressbar(length=1, label="verifying", file=sys.stderr) \
            if show_bar else None
        def progress(done: int, total: int) -> None:
            if bar is not None:
                bar.length = total
                bar.update(done - bar.pos)

        summary = service.verify(session, svc.keyring(), registry, scope=scope, actor=actor,
                                 on_progress=progress)
        if bar is not None:
            bar.render_finish()
    if as_json:
        echo_json(summary.to_dict())
        return
    click.echo(f"checked {summary.checked}")
    for outcome, count in sorted(summary.outcomes.items()):
        click.echo(f"  {outcome:22} {count}")
    if summary.suspended_deceased:
        click.echo(f"suspended as deceased: {len(summary.suspended_deceased)} "
                   f"(beneficiary ids {', '.join(map(str, summary.suspended_deceased[:20]))})")


@verify_group.command("override")
@click.argument("verification_id", type=int)
@actor_option(system=None, help="an approver")
@click.option("--reason", required=True)
def override_command(verification_id: int, actor: str, reason: str) -> None:
    """Allow payment despite a mismatch (approver only; audited)."""
    with unit_of_work(services().session_factory, write=True) as session:
        record = service.override(session, verification_id, actor=actor, reason=reason)
        click.echo(f"override {record.id} recorded for verification {verification_id}")
