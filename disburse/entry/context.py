"""What blueprints and commands share: the app's services, the request's session, problems.

``create_app`` (in ``disburse.entry.app``) puts a ``Services`` on the app; blueprints and
commands reach it through ``services()``, and a request's one transaction through
``request_session()``. Kept apart from the factory, which imports every blueprint to register
it, so that blueprints and commands import this without importing the whole application.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, has_request_context, jsonify, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from disburse.core.config import Settings
from disburse.core.db import open_session
from disburse.core.keyring import Keyring

PROBLEM_JSON = "application/problem+json"
#: Methods that change data: their transaction takes the write lock up front.
WRITING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass
class Services:
    """What entry points need: settings, the engine, the session factory and the keyring."""

    settings: Settings
    engine: Engine
    session_factory: sessionmaker[Session]
    _keyring: Keyring | None = field(default=None, repr=False)

    def keyring(self) -> Keyring:
        """Load the keyring on first use (commands that need no keys work without one)."""
        if self._keyring is None:
            self._keyring = Keyring.load(self.settings.key_dir)
        return self._keyring

    def reset_keyring(self) -> None:
        """Forget the loaded keyring (after ``keys init`` or ``keys rotate``)."""
        self._keyring = None


def services(app: Flask | None = None) -> Services:
    """Return the ``Services`` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    svc: Services = target.extensions["disburse"]
    return svc


def request_session() -> Session:
    """Return this request's session; the request's end commits or rolls it back.

    The session of a writing request (POST, PUT, PATCH, DELETE) takes the write lock when its
    transaction begins, before authentication reads the users table.
    """
    if "db_session" not in g:
        write = has_request_context() and request.method in WRITING_METHODS
        g.db_session = open_session(services().session_factory, write=write)
    session: Session = g.db_session
    return session


def close_request_session() -> None:
    """End this request's transaction now, keeping nothing it wrote.

    For a view whose service runs transactions of its own from the session factory (e.g. to
    call another service with no writer lock held): the request's transaction, begun by the
    sign-in, would otherwise hold the lock they wait for. A later ``request_session()``
    opens a new session, committed or rolled back at the request's end as usual. Objects the
    closed session loaded (the signed-in user) stay readable.
    """
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.close()


def problem_response(problem: dict[str, Any]) -> Response:
    """Return ``problem`` as an ``application/problem+json`` response."""
    response = jsonify(problem)
    response.status_code = int(problem["status"])
    response.mimetype = PROBLEM_JSON
    return response


__all__ = [
    "PROBLEM_JSON",
    "WRITING_METHODS",
    "Services",
    "close_request_session",
    "problem_response",
    "request_session",
    "services",
]
