"""The Flask application factory and the per-request unit of work."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, current_app, g, jsonify
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker
from werkzeug.exceptions import HTTPException

from disburse.config import Settings
from disburse.db import make_engine, make_session_factory
from disburse.errors import DomainError
from disburse.keyring import Keyring
from disburse.private_files import restrict_umask

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


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


def create_app(config: Settings | dict[str, Any] | None = None) -> Flask:
    """Create the web application.

    Args:
        config: ``Settings``, or a dict of overrides on top of the ``DISBURSE_*`` environment,
            or None for the environment alone.
    """
    restrict_umask()  # the database, stored imports and payment files: owner-only (0600/0700)
    settings = config if isinstance(config, Settings) else Settings.from_env(**(config or {}))
    app = Flask("disburse")
    app.config.update(SECRET_KEY=settings.secret_key, TESTING=settings.testing,
                      MAX_CONTENT_LENGTH=512 * 1024 * 1024)
    engine = make_engine(settings.database_url)
    app.extensions["disburse"] = Services(settings, engine, make_session_factory(engine))
    _register_errors(app)
    _register_request_transaction(app)
    _register_blueprints(app)
    return app


def services(app: Flask | None = None) -> Services:
    """Return the ``Services`` of ``app`` (default: the current app)."""
    target = app if app is not None else current_app
    svc: Services = target.extensions["disburse"]
    return svc


def request_session() -> Session:
    """Return this request's session; the request's end commits or rolls it back."""
    if "db_session" not in g:
        g.db_session = services().session_factory()
    session: Session = g.db_session
    return session


def _register_request_transaction(app: Flask) -> None:
    @app.teardown_request
    def _finish(exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return
        try:
            if exc is None and not g.get("rollback_only", False):
                session.commit()
            else:
                session.rollback()
        finally:
            session.close()


def problem_response(problem: dict[str, Any]) -> Response:
    """Return ``problem`` as an ``application/problem+json`` response."""
    response = jsonify(problem)
    response.status_code = int(problem["status"])
    response.mimetype = PROBLEM_JSON
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        g.rollback_only = True
        return problem_response(error.to_problem())

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        g.rollback_only = True
        status = error.code or 500
        return problem_response({"type": "about:blank", "title": error.name,
                                 "status": status, "detail": error.description})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        g.rollback_only = True
        log.exception("unhandled error")
        return problem_response({"type": "about:blank", "title": "Internal Server Error",
                                 "status": 500,
                                 "detail": "an unexpected error occurred; it has been logged"})


def _register_blueprints(app: Flask) -> None:
    from bank_adapters.api import bank_api
    from beneficiaries.api import beneficiaries_api
    from beneficiaries.verification.api import verification_api
    from disburse.api import health_blueprint
    from disburse.batches.api import batch_api
    from reconciliation.report_api import report_api

    app.register_blueprint(health_blueprint)
    app.register_blueprint(beneficiaries_api)
    app.register_blueprint(verification_api)
    app.register_blueprint(bank_api)
    app.register_blueprint(batch_api)
    app.register_blueprint(report_api)
