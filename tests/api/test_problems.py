"""HTTP errors are application/problem+json, and a failed request rolls back."""

from __future__ import annotations

from flask import Blueprint, Flask
from sqlalchemy import select

from disburse.core import audit
from disburse.core.errors import NotFound
from disburse.core.keyring import Keyring
from disburse.entry.context import request_session, services


def test_health(app: Flask) -> None:
    response = app.test_client().get("/health")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_unknown_route_is_problem_json(app: Flask) -> None:
    response = app.test_client().get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json()["title"] == "Not Found"


def _app_with_probe(app: Flask) -> Flask:
    probe = Blueprint("probe", __name__)

    @probe.post("/probe/<mode>")
    def write_then(mode: str) -> dict[str, str]:
        audit.record(request_session(), actor="t", action="probe", object_type="p",
                     object_id=mode)
        if mode == "fail":
            raise NotFound("no such beneficiary 42")
        if mode == "crash":
            raise RuntimeError("boom at /secret/path")
        return {"ok": mode}

    app.register_blueprint(probe)
    Keyring.init(services(app).settings.key_dir)  # the audit trail is keyed with the keyring
    return app


def _probe_count(app: Flask) -> int:
    with services(app).session_factory() as s:
        return len(s.execute(select(audit.AuditEntry.seq)).all())


def test_domain_error_rolls_back_and_is_problem_json(app: Flask) -> None:
    client = _app_with_probe(app).test_client()
    response = client.post("/probe/fail")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["detail"] == "no such beneficiary 42"
    assert body["code"] == "not_found"
    assert _probe_count(app) == 0
    assert client.post("/probe/ok").status_code == 200
    assert _probe_count(app) == 1


def test_unexpected_error_hides_traceback(app: Flask) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = _app_with_probe(app).test_client().post("/probe/crash")
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert "secret" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)
    assert _probe_count(app) == 0
