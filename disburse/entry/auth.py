"""Who is calling the API: HTTP Basic credentials checked against the users table."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import g, request

from disburse.core.errors import Forbidden, Unauthorized
from disburse.core.users import Role, User, authenticate
from disburse.entry.context import request_session

F = TypeVar("F", bound=Callable[..., Any])


def current_user() -> User:
    """Return the authenticated user of this request.

    Raises:
        Unauthorized: no or wrong credentials.
    """
    user: User | None = g.get("user")
    if user is not None:
        return user
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or not auth.password:
        raise Unauthorized("send HTTP Basic credentials of an active user")
    # throttled per user name and per client address; failures are committed on their own
    user = authenticate(request_session(), auth.username, auth.password,
                        address=request.remote_addr)
    g.user = user
    return user


def roles_required(*roles: Role) -> Callable[[F], F]:
    """Decorate a view so that only users holding one of ``roles`` may call it."""
    allowed = {r.value for r in roles}

    def decorate(view: F) -> F:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user.role not in allowed:
                raise Forbidden(f"role {user.role} may not do this; needs {' or '.join(allowed)}")
            return view(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
