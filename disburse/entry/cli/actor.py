"""The ``--actor`` option of every state-changing command: a real user, or a system actor.

Kept apart from ``disburse.entry.cli.main`` (which imports every command module to register
it), so that command modules can import it without importing the whole command tree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, overload

import click
from click.core import ParameterSource
from flask.cli import ScriptInfo

from disburse.core import users
from disburse.core.errors import DomainError
from disburse.core.uow import unit_of_work
from disburse.entry.context import services

F = TypeVar("F", bound=Callable[..., Any])


@overload
def actor_option(func: F) -> F: ...


@overload
def actor_option(*, system: str | None = "cli",
                 help: str = "user name recorded in the audit trail") -> Callable[[F], F]: ...


def actor_option(func: F | None = None, *, system: str | None = "cli",
                 help: str = "user name recorded in the audit trail") -> F | Callable[[F], F]:
    """Add the ``--actor USER`` option every state-changing command takes.

    A name given on the command line must be an existing, active user (a clear error and exit
    status 2 otherwise). Left out, the actor is the reserved system name ``system:<system>``
    (``system:cli``, ``system:nightly``, ``system:outbox``), which cannot be typed as
    ``--actor`` and cannot be a user name (user names have no colon). With ``system=None`` the
    option is required. Role checks stay with the services (``require_role``).

    Use as ``@actor_option`` or ``@actor_option(system="nightly", help=...)``.
    """
    default = users.system_actor(system) if system is not None else None

    def decorate(command: F) -> F:
        return click.option("--actor", default=default, required=default is None,
                            show_default=default is not None, help=help,
                            callback=_check_actor)(command)

    return decorate(func) if func is not None else decorate


def _check_actor(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or ctx.get_parameter_source(param.name or "actor") in (
            ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP):
        return value  # the command's own system actor
    if users.is_system_actor(value):
        raise click.BadParameter(f"{value!r} is reserved for automated runs; give your user "
                                 "name", ctx=ctx, param=param)
    svc = services(ctx.ensure_object(ScriptInfo).load_app())
    try:
        with unit_of_work(svc.session_factory) as session:
            users.require_active_user(session, value)
    except DomainError as error:
        raise click.BadParameter(error.detail, ctx=ctx, param=param) from None
    return value
