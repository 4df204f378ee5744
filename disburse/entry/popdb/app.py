"""The reference population-registry HTTP service (a stand-in for the national database).

It answers batch and single lookups by citizen ID behind a bearer token, reports errors as
``application/problem+json`` (RFC 9457), and, only when started with faults enabled, lets tests
make it slow or failing through ``/_faults`` without a restart.
"""

from __future__ import annotations

import hmac
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from disburse.entry.popdb.store import CitizenRow, PopulationStore

_JSON: Final = "application/json"
_PROBLEM_JSON: Final = "application/problem+json"
_MAX_REQUEST_ID: Final = 100
_FAULT_KEYS: Final = frozenset({"latency_ms", "fail_rate", "fail_status", "fail_next", "seed"})


class ProblemError(Exception):
    """An error answered as problem+json; raised inside views, turned into a response once."""

    def __init__(self, status: int, slug: str, title: str, detail: str) -> None:
        """Describe the problem: HTTP status, a stable slug for ``type``, title and detail."""
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail


def _json_response(payload: Any, status: int = 200, mimetype: str = _JSON) -> Response:
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return Response(body.encode("utf-8"), status=status, mimetype=mimetype)


def problem_response(status: int, slug: str, title: str, detail: str) -> Response:
    """Build an RFC 9457 problem+json response."""
    payload = {"type": f"urn:popdb:problem:{slug}", "title": title, "status": status,
               "detail": detail}
    response = _json_response(payload, status, _PROBLEM_JSON)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="popdb"'
    return response


def _utc_stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _is_citizen_id(value: object) -> bool:
    return isinstance(value, str) and len(value) == 12 and value.isascii() and value.isdigit()


def citizen_json(row: CitizenRow) -> dict[str, Any]:
    """Turn one stored row into the JSON object of a found citizen."""
    cid, name, birth, gender, province, commune, status, death = row
    return {"citizen_id": cid, "found": True, "full_name": name, "date_of_birth": birth,
            "gender": gender, "status": status, "date_of_death": death,
            "province_code": province, "commune_code": commune}


@dataclass
class FaultState:
    """Injected latency and failures, plus request counters, shared by all server threads."""

    latency_ms: int = 0
    fail_rate: float = 0.0
    fail_status: int = 503
    fail_next: int = 0
    lookup_requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    def configure(self, settings: dict[str, Any]) -> None:
        """Apply a ``POST /_faults`` body (validated here; bad values raise ProblemError)."""
        _validate_fault_settings(settings)
        with self._lock:
            if "seed" in settings:
                self._rng.seed(settings["seed"])
            for key in ("latency_ms", "fail_rate", "fail_status", "fail_next"):
                if key in settings:
                    setattr(self, key, settings[key])

    def reset(self) -> None:
        """Clear faults and counters."""
        with self._lock:
            self.latency_ms, self.fail_rate, self.fail_status, self.fail_next = 0, 0.0, 503, 0
            self.lookup_requests = 0
            self.by_status = {}

    def count_request(self) -> None:
        """Count one lookup request as it arrives (before any injected latency)."""
        with self._lock:
            self.lookup_requests += 1

    def count_status(self, status: int) -> None:
        """Count one answered lookup request by its HTTP status."""
        with self._lock:
            key = str(status)
            self.by_status[key] = self.by_status.get(key, 0) + 1

    def draw(self) -> tuple[float, int | None]:
        """Decide this request's fate: (seconds to wait, status to fail with or None)."""
        with self._lock:
            fail: int | None = None
            if self.fail_next > 0:
                self.fail_next -= 1
                fail = self.fail_status
            elif self.fail_rate > 0 and self._rng.random() < self.fail_rate:
                fail = self.fail_status
            return self.latency_ms / 1000, fail

    def snapshot(self) -> dict[str, Any]:
        """Return the settings and counters as JSON-ready data."""
        with self._lock:
            return {
                "config": {"latency_ms": self.latency_ms, "fail_rate": self.fail_rate,
                           "fail_status": self.fail_status, "fail_next": self.fail_next},
                "stats": {"lookup_requests": self.lookup_requests,
                          "by_status": dict(self.by_status)},
            }


def _validate_fault_settings(settings: dict[str, Any]) -> None:
    unknown = sorted(set(settings) - _FAULT_KEYS)
    if unknown:
        raise ProblemError(400, "invalid-faults", "Invalid fault settings",
                           f"unknown keys: {', '.join(unknown)}")
    checks: dict[str, Callable[[Any], bool]] = {
        "latency_ms": lambda v: type(v) is int and 0 <= v <= 600_000,
        "fail_rate": lambda v: type(v) in (int, float) and 0 <= v <= 1,
        "fail_status": lambda v: type(v) is int and 400 <= v <= 599,
        "fail_next": lambda v: type(v) is int and v >= 0,
        "seed": lambda v: type(v) is int,
    }
    for key, value in settings.items():
        if not checks[key](value):
            raise ProblemError(400, "invalid-faults", "Invalid fault settings",
                               f"{key}={value!r} is out of range")


class _Registry:
    """The request handlers, bound to one store, token and set of limits."""

    def __init__(self, store: PopulationStore, token: str, max_batch: int,
                 faults: FaultState | None) -> None:
        self.store = store
        self.token = token.encode("utf-8")
        self.max_batch = max_batch
        self.faults = faults

    def authorise(self) -> None:
        """Reject the request unless it carries the bearer token."""
        scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode("utf-8"), self.token
        ):
            raise ProblemError(401, "unauthorized", "Unauthorized",
                               "a valid bearer token is required")

    def inject_faults(self) -> None:
        """Wait and/or fail as configured (no-op unless faults are enabled)."""
        if self.faults is None:
            return
        delay, fail_status = self.faults.draw()
        if delay:
            time.sleep(delay)
        if fail_status is not None:
            raise ProblemError(fail_status, "injected-fault", "Injected fault",
                               "this failure was injected for testing")

    def read_lookup(self) -> tuple[list[str], str]:
        """Parse and check a batch-lookup body; returns (unique IDs in order, request id)."""
        try:
            body = json.loads(request.get_data(cache=False))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ProblemError(400, "malformed-json", "Malformed JSON", str(exc)) from None
        if not isinstance(body, dict) or not isinstance(body.get("citizen_ids"), list):
            raise ProblemError(400, "invalid-request", "Invalid request",
                               "the body must be an object with a citizen_ids list")
        ids: list[Any] = body["citizen_ids"]
        if len(ids) > self.max_batch:
            raise ProblemError(413, "batch-too-large", "Batch too large",
                               f"{len(ids)} citizen IDs; at most {self.max_batch} per request")
        bad = [i for i, value in enumerate(ids) if not _is_citizen_id(value)]
        if bad:
            raise ProblemError(400, "invalid-citizen-id", "Invalid citizen ID",
                               f"citizen_ids[{bad[0]}] is not a 12-digit string "
                               f"({len(bad)} invalid)")
        return list(dict.fromkeys(ids)), _request_id(body.get("request_id"))

    def lookup(self) -> Response:
        """``POST /v1/citizens/lookup``: answer a batch, one result per distinct ID."""
        self.authorise()
        self.inject_faults()
        ids, request_id = self.read_lookup()
        found = self.store.lookup(ids)
        results = [citizen_json(found[cid]) if cid in found
                   else {"citizen_id": cid, "found": False} for cid in ids]
        return _json_response({"request_id": request_id, "results": results,
                               "served_at": _utc_stamp()})

    def lookup_one(self, citizen_id: str) -> Response:
        """``GET /v1/citizens/<id>``: one citizen, or 404 when the registry has no such ID."""
        self.authorise()
        self.inject_faults()
        if not _is_citizen_id(citizen_id):
            raise ProblemError(400, "invalid-citizen-id", "Invalid citizen ID",
                               f"{citizen_id!r} is not a 12-digit citizen ID")
        row = self.store.lookup([citizen_id]).get(citizen_id)
        if row is None:
            raise ProblemError(404, "citizen-not-found", "Citizen not found",
                               f"no citizen with ID {citizen_id}")
        return _json_response({**citizen_json(row), "served_at": _utc_stamp()})


def _request_id(value: object) -> str:
    if value is None:
        return uuid.uuid4().hex
    if not isinstance(value, str) or not 0 < len(value) <= _MAX_REQUEST_ID:
        raise ProblemError(400, "invalid-request", "Invalid request",
                           f"request_id must be a string of 1 to {_MAX_REQUEST_ID} characters")
    return value


def create_popdb_app(
    db_path: Path, token: str, *, max_batch: int = 1000, max_body_bytes: int = 256 * 1024,
    faults: bool = False,
) -> Flask:
    """Create the population-registry app over a database loaded by ``load_population``.

    Args:
        db_path: the loaded SQLite database (opened read-only).
        token: the bearer token clients must present.
        max_batch: most citizen IDs accepted in one lookup (more gives 413).
        max_body_bytes: largest request body accepted (more gives 413).
        faults: enable the ``/_faults`` endpoints (tests only).
    """
    if not token:
        raise ValueError("the popdb token must not be empty")
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = max_body_bytes
    state = FaultState() if faults else None
    registry = _Registry(PopulationStore(db_path), token, max_batch, state)
    _register_routes(app, registry)
    _register_errors(app)
    if state is not None:
        _register_faults(app, registry, state)
    return app


def _register_routes(app: Flask, registry: _Registry) -> None:
    @app.get("/health")
    def health() -> Response:
        return _json_response({"status": "ok", "records": registry.store.records})

    app.add_url_rule("/v1/citizens/lookup", "lookup", registry.lookup, methods=["POST"])
    app.add_url_rule("/v1/citizens/<citizen_id>", "lookup_one", registry.lookup_one,
                     methods=["GET"])


def _register_errors(app: Flask) -> None:
    @app.errorhandler(ProblemError)
    def on_problem(error: ProblemError) -> Response:
        return problem_response(error.status, error.slug, error.title, error.detail)

    @app.errorhandler(HTTPException)
    def on_http(error: HTTPException) -> Response:
        status = error.code or 500
        slug = (error.name or "error").lower().replace(" ", "-")
        return problem_response(status, slug, error.name, error.description or error.name)


def _register_faults(app: Flask, registry: _Registry, state: FaultState) -> None:
    # Counted on arrival, so a client that timed out has still been counted.
    @app.before_request
    def count_arrival() -> None:
        if request.path.startswith("/v1/"):
            state.count_request()

    @app.after_request
    def count_answer(response: Response) -> Response:
        if request.path.startswith("/v1/"):
            state.count_status(response.status_code)
        return response

    @app.get("/_faults")
    def show_faults() -> Response:
        registry.authorise()
        return _json_response(state.snapshot())

    @app.post("/_faults")
    def set_faults() -> Response:
        registry.authorise()
        settings = request.get_json(silent=True)
        if not isinstance(settings, dict):
            raise ProblemError(400, "invalid-faults", "Invalid fault settings",
                               "the body must be a JSON object")
        state.configure(settings)
        return _json_response(state.snapshot())

    @app.delete("/_faults")
    def reset_faults() -> Response:
        registry.authorise()
        state.reset()
        return _json_response(state.snapshot())
