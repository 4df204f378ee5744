"""The Flask application factory and the per-request unit of work.

Every request gets one transaction: a request with a writing method (POST, PUT, PATCH, DELETE)
takes the database's write lock before its first read (SQLite ``BEGIN IMMEDIATE``), so the
credentials it checks and the state it reads are what it changes. The transaction commits
before the answer leaves, so a commit that fails is answered as a failure, never as a success.
A clash with a concurrent transaction (lock wait ran out, serialization failure, a unique key
taken at the same moment) answers 409 ``concurrent_change``, never 500. Every answer carries the
security headers of :data:`SECURITY_HEADERS`.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, request
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException

from disburse.core import audit
from disburse.core.config import Settings
from disburse.core.db import contention_conflict, make_engine, make_session_factory
from disburse.core.errors import ConcurrentChange, DomainError, Unauthorized
from disburse.core.params import BoundedIntConverter, NamedConverterRule
from disburse.core.private_files import restrict_umask
from disburse.entry.context import Services, problem_response

#: Headers on every answer. The policy fits a JSON API and server-rendered pages that load
#: only their own CSS, scripts and images: nothing inline, no framing, no plugins, no
#: foreign form targets.
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": ("default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
                                "form-action 'self'; object-src 'none'"),
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}
#: The challenge a 401 answer names, by blueprint; the bank API takes bearer tokens.
CHALLENGES: dict[str | None, str] = {"bank_api": 'Bearer realm="disburse-bank"'}
DEFAULT_CHALLENGE = 'Basic realm="disburse", charset="UTF-8"'
log = logging.getLogger(__name__)


def create_app(config: Settings | dict[str, Any] | None = None, *, web: bool = True) -> Flask:
    """Create the web application.

    Args:
        config: ``Settings``, or a dict of overrides on top of the ``DISBURSE_*`` environment,
            or None for the environment alone.
        web: register the API blueprints; a command-line run that serves no request leaves
            them out, so that it does not import every domain's API at start-up.
    """
    restrict_umask()  # the database, stored imports and payment files: owner-only (0600/0700)
    settings = config if isinstance(config, Settings) else Settings.from_env(**(config or {}))
    app = Flask("disburse")
    # <int:...> in every blueprint refuses ids beyond 64 bits with a 404 naming the parameter
    app.url_rule_class = NamedConverterRule
    app.url_map.converters["int"] = BoundedIntConverter
    app.config.update(SECRET_KEY=settings.secret_key, TESTING=settings.testing,
                      MAX_CONTENT_LENGTH=settings.max_upload_bytes)
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    # every session of this app keys the audit chain with this app's keyring
    factory.configure(info={audit.KEY_SOURCE: audit.KeyringKeySource(settings.key_dir)})
    app.extensions["disburse"] = Services(settings, engine, factory)
    _register_errors(app)
    _register_security_headers(app)
    _register_request_transaction(app)
    if web:
        _register_blueprints(app)
    return app


def _register_request_transaction(app: Flask) -> None:
    @app.after_request
    def _commit(response: Response) -> Response:
        # Commit here, not at teardown: a commit that fails must change the answer, and at
        # teardown the status line is already decided.
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return response
        try:
            if g.get("rollback_only", False):
                session.rollback()
                return response
            session.commit()
        except Exception as error:  # the answer becomes the failure; nothing was saved
            session.rollback()
            return _failure_response(error)
        finally:
            session.close()
        return response

    @app.teardown_request
    def _finish(exc: BaseException | None) -> None:
        # Only when the answer could not be built at all: nothing is committed here.
        session: Session | None = g.pop("db_session", None)
        if session is None:
            return
        try:
            session.rollback()
        finally:
            session.close()


def _register_security_headers(app: Flask) -> None:
    @app.after_request
    def _headers(response: Response) -> Response:
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        # Answers hold personal data and payment files: no cache keeps a copy. (Static assets,
        # once pages have them, may be cached.)
        if request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        if response.status_code == 401 and "WWW-Authenticate" not in response.headers:
            response.headers["WWW-Authenticate"] = CHALLENGES.get(request.blueprint,
                                                                  DEFAULT_CHALLENGE)
        return response


def _failure_response(error: Exception) -> Response:
    """The answer for an unexpected exception: 409 for a clash with a concurrent transaction,
    500 (logged with its traceback) for anything else."""
    conflict = contention_conflict(error)
    if conflict is not None:
        log.warning("concurrent change refused: %s", error)
        return _conflict_response(conflict)
    log.exception("unhandled error", exc_info=error)
    return problem_response({"type": "about:blank", "title": "Internal Server Error",
                             "status": 500,
                             "detail": "an unexpected error occurred; it has been logged"})


def _conflict_response(conflict: ConcurrentChange) -> Response:
    response = problem_response(conflict.to_problem())
    response.headers["Retry-After"] = "1"
    return response


def _register_errors(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain(error: DomainError) -> Response:
        g.rollback_only = True
        if isinstance(error, ConcurrentChange):
            return _conflict_response(error)
        response = problem_response(error.to_problem())
        if isinstance(error, Unauthorized):
            response.headers["WWW-Authenticate"] = CHALLENGES.get(request.blueprint,
                                                                  DEFAULT_CHALLENGE)
        return response

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException) -> Response:
        g.rollback_only = True
        status = error.code or 500
        return problem_response({"type": "about:blank", "title": error.name,
                                 "status": status, "detail": error.description})

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response:
        g.rollback_only = True
        return _failure_response(error)


def _register_blueprints(app: Flask) -> None:
    from disburse.entry.api.bank import bank_api
    from disburse.entry.api.batches import batch_api
    from disburse.entry.api.beneficiaries import beneficiaries_api
    from disburse.entry.api.health import health_blueprint
    from disburse.entry.api.reports import report_api
    from disburse.entry.api.verification import verification_api

    app.register_blueprint(health_blueprint)
    app.register_blueprint(beneficiaries_api)
    app.register_blueprint(verification_api)
    app.register_blueprint(bank_api)
    app.register_blueprint(batch_api)
    app.register_blueprint(report_api)
