"""The bank simulator's HTTP API (see the package docstring for the contract).

A submission is handled under the store's lock from the MsgId look-up to the recording of its
outcome, so two concurrent retries of one file cannot both be processed. Errors are
``application/problem+json`` (RFC 9457). Fault injection and the admin return endpoint exist
only when the app is created with ``faults=True``.
"""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Final

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from disburse.core.signing import PublicKey, key_id_for, public_key_pem
from disburse.entry.banksim.store import BankStore
from disburse.entry.banksim.submission import (
    BankConfig,
    ReturnRefusal,
    SubmissionDesk,
    problem_body,
    utc_now,
)

_JSON: Final = "application/json"
_PROBLEM_JSON: Final = "application/problem+json"
_FAULT_CHECKS: Final = {
    "latency_ms": lambda v: type(v) is int and 0 <= v <= 600_000,
    "fail_next": lambda v: type(v) is int and v >= 0,
    "drop_next": lambda v: type(v) is int and v >= 0,
    "duplicate_returns": lambda v: type(v) is bool,
    "out_of_order": lambda v: type(v) is bool,
}


class ProblemError(Exception):
    """An error answered as problem+json; raised inside views, rendered once."""

    def __init__(self, status: int, slug: str, title: str, detail: str,
                 **extra: Any) -> None:
        """Describe the problem: HTTP status, a stable slug for ``type``, title, detail."""
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.extra = extra


def json_response(payload: Any, status: int = 200, mimetype: str = _JSON) -> Response:
    """Serialise ``payload`` as compact UTF-8 JSON."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status=status, mimetype=mimetype)


def problem_response(error: ProblemError) -> Response:
    """Render a ``ProblemError``."""
    body = problem_body(error.status, error.slug, error.title, error.detail, **error.extra)
    response = Response(body.encode("utf-8"), status=error.status, mimetype=_PROBLEM_JSON)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="banksim"'
    return response


@dataclass
class FaultState:
    """Injected faults, shared by the server threads."""

    latency_ms: int = 0
    fail_next: int = 0
    drop_next: int = 0
    duplicate_returns: bool = False
    out_of_order: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply a ``POST /v1/_faults`` body; unknown keys or bad values raise 400."""
        bad = [key for key, value in settings.items()
               if key not in _FAULT_CHECKS or not _FAULT_CHECKS[key](value)]
        if bad:
            raise ProblemError(400, "invalid-faults", "Invalid fault settings",
                               f"unknown key or bad value: {', '.join(sorted(bad))}")
        with self._lock:
            for key, value in settings.items():
                setattr(self, key, value)

    def reset(self) -> None:
        """Clear every fault."""
        self.configure({"latency_ms": 0, "fail_next": 0, "drop_next": 0,
                        "duplicate_returns": False, "out_of_order": False})

    def take(self, name: str) -> bool:
        """Consume one of ``fail_next`` / ``drop_next``; True when this request gets it."""
        with self._lock:
            left: int = getattr(self, name)
            if left <= 0:
                return False
            setattr(self, name, left - 1)
            return True

    def settings(self) -> dict[str, Any]:
        """Return the current settings."""
        with self._lock:
            return {key: getattr(self, key) for key in _FAULT_CHECKS}


def _drop_connection() -> None:
    """Close the client's socket so it gets no response; werkzeug then logs a dropped peer."""
    connection = request.environ.get("werkzeug.socket")
    if isinstance(connection, socket.socket):
        connection.shutdown(socket.SHUT_RDWR)


class _Bank:
    """The request handlers, bound to one configuration, store and fault state."""

    def __init__(self, config: BankConfig, store: BankStore, desk: SubmissionDesk,
                 faults: FaultState | None) -> None:
        self.config = config
        self.store = store
        self.desk = desk
        self.faults = faults
        self._token = config.token.encode("utf-8") if config.token else None

    def authorise(self) -> None:
        """Reject the request unless it carries the bearer token (when one is configured)."""
        if self._token is None:
            return
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                presented.strip().encode("utf-8"), self._token):
            raise ProblemError(401, "unauthorized", "Unauthorized",
                               "a valid bearer token is required")

    def fail_if_asked(self) -> None:
        """Answer 500 before doing anything when ``fail_next`` is set (faults enabled only)."""
        if self.faults is not None and self.faults.take("fail_next"):
            self.store.bump("failed")
            raise ProblemError(500, "injected-fault", "Injected fault",
                               "this failure was injected for testing")

    def delay_or_drop(self) -> None:
        """After processing: wait ``latency_ms``, then drop the connection if asked."""
        if self.faults is None:
            return
        if self.faults.latency_ms:
            time.sleep(self.faults.latency_ms / 1000)
        if self.faults.take("drop_next"):
            self.store.bump("dropped")
            _drop_connection()

    def submit(self) -> Response:
        """``POST /v1/payment-files``: receive, verify, decide and answer one payment file."""
        self.authorise()
        self.store.bump("submissions_received")
        self.fail_if_asked()
        msg_id = request.headers.get("Idempotency-Key", "").strip()
        upload = request.files.get("file")
        if not 0 < len(msg_id) <= 35 or not msg_id.isprintable():
            raise ProblemError(400, "idempotency-key-required", "Idempotency-Key required",
                               "send the file's MsgId (1 to 35 characters) as Idempotency-Key")
        if upload is None:
            raise ProblemError(400, "file-required", "File required",
                               "the multipart body must have a 'file' part")
        signature = request.files.get("signature")
        manifest = request.files.get("manifest")
        answer = self.desk.receive(
            msg_id, upload.read(), signature.read() if signature else None,
            manifest.read() if manifest else None,
            duplicate_returns=self.faults is not None and self.faults.duplicate_returns,
        )
        response = Response(answer.body.encode("utf-8"), status=answer.http_status,
                            mimetype=_JSON if answer.http_status < 400 else _PROBLEM_JSON)
        if answer.replayed:
            response.headers["Idempotent-Replayed"] = "true"
        self.delay_or_drop()
        return response

    def status(self, msg_id: str) -> Response:
        """``GET /v1/payment-files/<msg_id>/status``."""
        self.authorise()
        return json_response(self.desk.status(msg_id))

    def list_returns(self) -> Response:
        """``GET /v1/returns``: files available and not yet acknowledged."""
        self.authorise()
        rows = self.store.pending_returns(time.time())
        if self.faults is not None and self.faults.out_of_order:
            rows.reverse()
        return json_response([{"name": row.name, "kind": row.kind, "sha256": row.sha256,
                               "created_at": row.created_at} for row in rows])

    def download(self, name: str) -> Response:
        """``GET /v1/returns/<name>`` (the XML) or ``/v1/returns/<name>.sig`` (its signature)."""
        self.authorise()
        wants_signature = name.endswith(".sig")
        found = self.store.return_file(name.removesuffix(".sig") if wants_signature else name)
        if found is None or found[0].available_at > time.time():
            raise ProblemError(404, "return-file-not-found", "Return file not found",
                               f"no return file {name!r}")
        row, content, signature = found
        if wants_signature:
            return Response(signature, mimetype="application/octet-stream")
        response = Response(content, mimetype="application/xml")
        response.headers["X-Content-SHA256"] = row.sha256
        return response

    def acknowledge(self, name: str) -> Response:
        """``POST /v1/returns/<name>/ack``: mark a file picked up (idempotent)."""
        self.authorise()
        acked_at = self.store.acknowledge(name, utc_now().isoformat())
        if acked_at is None:
            raise ProblemError(404, "return-file-not-found", "Return file not found",
                               f"no return file {name!r}")
        return json_response({"name": name, "acked_at": acked_at})

    def return_payment(self) -> Response:
        """``POST /v1/_admin/return-payment``: a settled payment comes back with a reason."""
        self.authorise()
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("end_to_end_id"), str):
            raise ProblemError(400, "invalid-request", "Invalid request",
                               "the body must be an object with end_to_end_id")
        reason = body.get("reason", "AC04")
        if not (isinstance(reason, str) and len(reason) == 4 and reason.isalnum()
                and reason.isascii()):
            raise ProblemError(400, "invalid-request", "Invalid request",
                               "reason must be a 4-character ISO return reason code")
        result = self.desk.return_payment(body["end_to_end_id"], reason.upper())
        if isinstance(result, ReturnRefusal):
            raise ProblemError(result.status, result.slug, "Cannot return the payment",
                               result.detail)
        return json_response(result, 201)

    def fault_snapshot(self) -> dict[str, Any]:
        """Return the fault settings and the counters."""
        counters = self.store.counters()
        names = ("submissions_received", "processed", "replays", "rejected", "failed",
                 "dropped")
        settings = self.faults.settings() if self.faults is not None else {}
        return {**settings, "counters": {name: counters.get(name, 0) for name in names}}


def public_key_response(config_key: PublicKey) -> Response:
    """Return the bank's public key as PEM, with its key id in ``X-Key-Id``."""
    response = Response(public_key_pem(config_key), mimetype="application/x-pem-file")
    response.headers["X-Key-Id"] = key_id_for(config_key)
    return response


def create_banksim_app(config: BankConfig, store: BankStore, desk: SubmissionDesk) -> Flask:
    """Create the bank simulator's Flask app.

    Args:
        config: what the simulator was started with.
        store: its SQLite state.
        desk: the submission logic (verification, decisions, return files).
    """
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 256 * 1024 * 1024
    faults = FaultState() if config.faults else None
    bank = _Bank(config, store, desk, faults)
    _register_routes(app, bank)
    _register_errors(app)
    if faults is not None:
        _register_faults(app, bank, faults)
    return app


def _register_routes(app: Flask, bank: _Bank) -> None:
    @app.get("/health")
    def health() -> Response:
        return json_response({"status": "ok", "bin": bank.config.bank_bin,
                              "accounts": len(bank.config.book)})

    @app.get("/v1/public-key")
    def public_key() -> Response:
        return public_key_response(bank.desk.bank_public_key)

    app.add_url_rule("/v1/payment-files", "submit", bank.submit, methods=["POST"])
    app.add_url_rule("/v1/payment-files/<path:msg_id>/status", "status", bank.status,
                     methods=["GET"])
    app.add_url_rule("/v1/returns", "list_returns", bank.list_returns, methods=["GET"])
    app.add_url_rule("/v1/returns/<name>", "download", bank.download, methods=["GET"])
    app.add_url_rule("/v1/returns/<name>/ack", "ack", bank.acknowledge, methods=["POST"])


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ProblemError)
    def on_problem(error: ProblemError) -> Response:
        return problem_response(error)

    @app.errorhandler(HTTPException)
    def on_http(error: HTTPException) -> Response:
        status = error.code or 500
        slug = (error.name or "error").lower().replace(" ", "-")
        return problem_response(ProblemError(status, slug, error.name,
                                             error.description or error.name))


def _register_faults(app: Flask, bank: _Bank, faults: FaultState) -> None:
    @app.get("/v1/_faults")
    def show_faults() -> Response:
        bank.authorise()
        return json_response(bank.fault_snapshot())

    @app.post("/v1/_faults")
    def set_faults() -> Response:
        bank.authorise()
        settings = request.get_json(silent=True)
        if not isinstance(settings, dict):
            raise ProblemError(400, "invalid-faults", "Invalid fault settings",
                               "the body must be a JSON object")
        faults.configure(settings)
        return json_response(bank.fault_snapshot())

    @app.delete("/v1/_faults")
    def reset_faults() -> Response:
        bank.authorise()
        faults.reset()
        return json_response(bank.fault_snapshot())

    app.add_url_rule("/v1/_admin/return-payment", "return_payment", bank.return_payment,
                     methods=["POST"])

