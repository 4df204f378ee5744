"""The verification JSON API against a real population-registry process on 127.0.0.1.

A small synthetic population is served by ``python -m disburse.entry.popdb serve``; its lists
(with injected identity defects and their answer key) are imported, then runs, listings and
overrides go through the Flask test client, as staff would use them.
"""

from __future__ import annotations

import json
import socket
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from beneficiaries.models import Beneficiary
from beneficiaries.service import ImportOptions, import_list
from beneficiaries.synth import DefectRates, write_lists, write_population_csv
from beneficiaries.verification.models import Outcome, Verification, VerificationOverride
from disburse.core import users
from disburse.core.audit import AuditEntry
from disburse.core.config import Settings
from disburse.core.keyring import Keyring
from disburse.core.users import Role, add_user
from disburse.entry.api.verification import verification_api
from disburse.entry.context import services
from tests.e2e.conftest import PopdbLauncher, PopdbProcess

PASSWORD = "correct horse battery"
USERS = {"prep": Role.PREPARER, "appr": Role.APPROVER, "audi": Role.AUDITOR,
         "boss": Role.ADMIN}
PROBLEM = "application/problem+json"
TODAY = date(2026, 11, 23)
RUNS = "/api/v1/verifications/runs"
#: What the lists' injected defects should be judged as (other kinds are switched off).
RATES = DefectRates(wrong_name=0.05, wrong_dob=0.05, deceased=0.05, unknown_id=0.05,
                    invalid_account=0.0, duplicate_row=0.0, nfd_name=0.0,
                    lost_leading_zero=0.0)


@dataclass(frozen=True)
class World:
    """The registry process and the lists it should judge, shared by the module's tests."""

    server: PopdbProcess
    lists: Path
    key: dict[str, Any]

    def expected(self, programme: str | None = None) -> Counter[str]:
        """Outcome counts the answer key predicts for one programme's list (or all lists)."""
        counts: Counter[str] = Counter()
        for info in self.key["files"].values():
            if programme in (None, info["programme"]):
                counts.update(d["expect"] for d in info["defects"])
                counts[Outcome.VERIFIED.value] += info["rows"] - len(info["defects"])
        return counts


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """A 600-person population served by a registry process, and its four lists."""
    root = tmp_path_factory.mktemp("verification-api")
    population = root / "population.csv"
    write_population_csv(population, 600, seed=5, deceased_share=0.05, today=TODAY)
    summary = write_lists(population, root / "lists", seed=5, rates=RATES, lang="en")
    key = json.loads(summary.answer_key.read_text(encoding="utf-8"))
    launcher = PopdbLauncher(root)
    try:
        yield World(launcher.start(population, faults=False), root / "lists", key)
    finally:
        launcher.stop_all()


@pytest.fixture
def api(app: Flask, settings: Settings, world: World,
        monkeypatch: pytest.MonkeyPatch) -> Iterator[Flask]:
    """The app with the verification blueprint, pointed at the registry, lists imported."""
    # Production argon2 costs ~0.4 s a hash and a check; passwords are not under test here.
    monkeypatch.setattr(users, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024,
                                                         parallelism=1))
    if "verification_api" not in app.blueprints:
        app.register_blueprint(verification_api)
    svc = services(app)
    svc.settings = settings.with_overrides(registry_url=world.server.base_url,
                                           registry_token=world.server.token)
    keyring = Keyring.init(settings.key_dir)
    with svc.session_factory() as session:
        for name, role in USERS.items():
            add_user(session, name, role, PASSWORD, actor="test")
        for name, info in world.key["files"].items():
            report = import_list(session, keyring, world.lists / name,
                                 programme=info["programme"], actor="test", today=TODAY,
                                 options=ImportOptions(accept_valid=True))
            assert report.counts.added == info["rows"], report.counts
        session.commit()
    yield app


@pytest.fixture
def client(api: Flask) -> FlaskClient:
    """A test client of the app."""
    return api.test_client()


def run(client: FlaskClient, user: str = "prep", **body: Any) -> TestResponse:
    """Start a verification run as ``user``."""
    return client.post(RUNS, json=body, auth=(user, PASSWORD))


def listing(client: FlaskClient, query: str = "", user: str = "audi") -> dict[str, Any]:
    """GET one page of outcomes as ``user`` and return its JSON (asserting 200)."""
    response = client.get(f"/api/v1/verifications?{query}", auth=(user, PASSWORD))
    assert response.status_code == 200, response.get_json()
    page: dict[str, Any] = response.get_json()
    return page


def override(client: FlaskClient, verification_id: int, user: str = "appr",
             reason: str = "checked the paper ID card at the commune office") -> TestResponse:
    """Ask to override one outcome as ``user``."""
    return client.post(f"/api/v1/verifications/{verification_id}/override",
                       json={"reason": reason}, auth=(user, PASSWORD))


def free_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (it was free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _first(client: FlaskClient, outcome: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = listing(client, f"outcome={outcome}&per_page=1")["items"]
    assert items, f"the lists should contain a {outcome}"
    return items[0]


def _scalar(app: Flask, statement: Any) -> Any:
    with services(app).session_factory() as session:
        return session.execute(statement).scalar_one()


def test_run_counts_every_outcome_the_answer_key_predicts(api: Flask, client: FlaskClient,
                                                          world: World) -> None:
    response = run(client, user="boss")
    assert response.status_code == 200, response.get_json()
    summary = response.get_json()
    expected = world.expected()
    assert summary["outcomes"] == dict(expected)
    assert summary["checked"] == expected.total()
    assert len(summary["suspended_deceased"]) == expected["deceased"] > 0
    suspended = _scalar(api, select(func.count()).select_from(Beneficiary).where(
        Beneficiary.status == "suspended"))
    assert suspended == expected["deceased"]
    with services(api).session_factory() as session:
        actors = session.execute(select(Verification.actor).distinct()).scalars().all()
    assert actors == ["boss"]  # the authenticated user, not a name the client chose


def test_run_scope_limits_the_check(client: FlaskClient, world: World) -> None:
    response = run(client, programme="unemployment")
    assert response.status_code == 200
    assert response.get_json()["outcomes"] == dict(world.expected("unemployment"))
    assert listing(client)["total"] == world.expected("unemployment").total()


def test_deceased_are_listed_with_their_date_of_death(client: FlaskClient,
                                                      world: World) -> None:
    suspended = set(run(client).get_json()["suspended_deceased"])
    page = listing(client, "outcome=deceased&per_page=500")
    assert page["total"] == world.expected()["deceased"]
    assert {item["beneficiary_id"] for item in page["items"]} == suspended
    for item in page["items"]:
        assert item["outcome"] == "deceased"
        assert date.fromisoformat(item["date_of_death"]) <= TODAY
        assert len(item["evidence_digest"]) == 64 and not item["overridden"]


@pytest.mark.parametrize(("query", "size"), [
    ("per_page=7", 7),
    ("per_page=7&page=2", 7),
    ("per_page=500&programme=revolutionary", None),
    ("per_page=500&outcome=not_found", None),
    ("per_page=500&outcome=verified&programme=pension", None),
])
def test_filters_and_pages(client: FlaskClient, world: World, query: str,
                           size: int | None) -> None:
    assert run(client).status_code == 200
    page = listing(client, query)
    params = dict(part.split("=") for part in query.split("&"))
    if "outcome" in params or "programme" in params:
        wanted = world.expected(params.get("programme"))
        total = wanted[params["outcome"]] if "outcome" in params else wanted.total()
    else:
        total = world.expected().total()
    assert page["total"] == total
    assert len(page["items"]) == (size if size is not None else total)
    ids = [item["id"] for item in page["items"]]
    assert ids == sorted(ids, reverse=True)  # newest first
    assert all(item["outcome"] == params.get("outcome", item["outcome"])
               for item in page["items"])


def test_pages_do_not_overlap(client: FlaskClient, world: World) -> None:
    assert run(client).status_code == 200
    first = listing(client, "per_page=50")["items"]
    second = listing(client, "per_page=50&page=2")["items"]
    assert len(first) == len(second) == 50
    assert not {i["id"] for i in first} & {i["id"] for i in second}
    last = -(-world.expected().total() // 50)
    assert listing(client, f"per_page=50&page={last + 1}")["items"] == []


def test_latest_only_hides_earlier_checks_and_province_filters(api: Flask,
                                                               client: FlaskClient) -> None:
    assert run(client).status_code == 200
    assert run(client, user="appr").status_code == 200  # suspended people are not re-checked
    some = _first(client, "verified")
    history = listing(client, f"beneficiary_id={some['beneficiary_id']}&latest_only=false")
    assert [item["actor"] for item in history["items"]] == ["appr", "prep"]
    latest = listing(client, f"beneficiary_id={some['beneficiary_id']}")
    assert [item["id"] for item in latest["items"]] == [some["id"]]
    province = _scalar(api, select(Beneficiary.province_code).where(
        Beneficiary.id == some["beneficiary_id"]))
    in_province = _scalar(api, select(func.count()).select_from(Beneficiary).where(
        Beneficiary.province_code == province))
    assert listing(client, f"province={province}&latest_only=true")["total"] == in_province


def test_approver_override_is_recorded_and_audited(api: Flask, client: FlaskClient) -> None:
    assert run(client).status_code == 200
    mismatch = _first(client, "name_mismatch")
    response = override(client, mismatch["id"])
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["verification_id"], body["beneficiary_id"], body["actor"]) == (
        mismatch["id"], mismatch["beneficiary_id"], "appr")
    shown = listing(client, f"beneficiary_id={mismatch['beneficiary_id']}")["items"]
    assert shown[0]["overridden"] is True
    with services(api).session_factory() as session:
        entry = session.execute(select(AuditEntry).where(
            AuditEntry.action == "verification.override")).scalar_one()
        assert (entry.actor, entry.object_id) == ("appr", str(mismatch["id"]))
        assert entry.detail["outcome"] == "name_mismatch"
    again = override(client, mismatch["id"])
    assert again.status_code == 409 and again.mimetype == PROBLEM


@pytest.mark.parametrize(("user", "outcome", "reason", "status"), [
    ("prep", "name_mismatch", "checked the paper ID card", 403),
    ("audi", "dob_mismatch", "checked the paper ID card", 403),
    ("boss", "dob_mismatch", "checked the paper ID card", 403),
    ("appr", "verified", "checked the paper ID card", 409),
    ("appr", "deceased", "checked the paper ID card", 409),
    ("appr", "dob_mismatch", "ok", 422),
])
def test_override_refusals_are_problems(api: Flask, client: FlaskClient, user: str,
                                        outcome: str, reason: str, status: int) -> None:
    assert run(client).status_code == 200
    response = override(client, _first(client, outcome)["id"], user=user, reason=reason)
    assert response.status_code == status
    assert response.mimetype == PROBLEM and response.get_json()["status"] == status
    assert _scalar(api, select(func.count()).select_from(VerificationOverride)) == 0


def test_override_of_an_unknown_check_is_404(client: FlaskClient) -> None:
    response = override(client, 999_999)
    assert response.status_code == 404 and response.mimetype == PROBLEM


@pytest.mark.parametrize("fault", ["closed port", "wrong token"])
def test_unreachable_registry_is_never_verified(api: Flask, client: FlaskClient, world: World,
                                                fault: str) -> None:
    svc = services(api)
    svc.settings = (svc.settings.with_overrides(registry_url=f"http://127.0.0.1:{free_port()}")
                    if fault == "closed port"
                    else svc.settings.with_overrides(registry_token="not-the-token"))
    response = run(client)
    assert response.status_code == 200, response.get_json()
    summary = response.get_json()
    assert summary["outcomes"] == {"registry_unavailable": world.expected().total()}
    assert summary["suspended_deceased"] == []
    verified = _scalar(api, select(func.count()).select_from(Verification).where(
        Verification.outcome != "registry_unavailable"))
    assert verified == 0


@pytest.mark.parametrize(("method", "url"), [
    ("post", RUNS), ("get", "/api/v1/verifications"),
    ("post", "/api/v1/verifications/1/override"),
])
def test_unauthenticated_is_401(api: Flask, client: FlaskClient, method: str,
                                url: str) -> None:
    response = getattr(client, method)(url, json={"reason": "checked the paper ID card"})
    assert response.status_code == 401 and response.mimetype == PROBLEM
    assert _scalar(api, select(func.count()).select_from(Verification)) == 0


def test_auditor_reads_but_may_not_run(api: Flask, client: FlaskClient) -> None:
    response = run(client, user="audi")
    assert response.status_code == 403 and response.mimetype == PROBLEM
    assert _scalar(api, select(func.count()).select_from(Verification)) == 0
    assert listing(client, user="audi")["total"] == 0


@pytest.mark.parametrize(("query", "parameter"), [
    ("outcome=alive", "outcome"), ("province=1", "province"), ("per_page=501", "per_page"),
    ("colour=red", "colour"), ("latest_only=perhaps", "latest_only"),
])
def test_bad_query_is_422_naming_the_parameter(client: FlaskClient, query: str,
                                               parameter: str) -> None:
    response = client.get(f"/api/v1/verifications?{query}", auth=("audi", PASSWORD))
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert [e["parameter"] for e in response.get_json()["errors"]] == [parameter]


@pytest.mark.parametrize("body", [{"programme": "lottery"}, {"stale_only": "often"},
                                  {"everyone": True}])
def test_bad_run_request_is_422_and_checks_nothing(api: Flask, client: FlaskClient,
                                                   body: dict[str, Any]) -> None:
    response = client.post(RUNS, json=body, auth=("prep", PASSWORD))
    assert response.status_code == 422 and response.mimetype == PROBLEM
    assert _scalar(api, select(func.count()).select_from(Verification)) == 0
