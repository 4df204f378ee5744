"""JSON API of verification under ``/api/v1``: run checks, list outcomes, override mismatches.

Each view loads its input with a schema, calls a service or query, and dumps the result. The
request's unit of work commits or rolls back; views never commit and never catch errors.
"""

from __future__ import annotations

from typing import Any, Final

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue

from beneficiaries.registry import HttpPopulationRegistry
from beneficiaries.schemas import load_params
from beneficiaries.verification import queries, service
from beneficiaries.verification.schemas import (
    OverrideRequestSchema,
    OverrideSchema,
    RunRequestSchema,
    RunSummarySchema,
    VerificationPageSchema,
    VerificationQuerySchema,
)
from disburse.core.users import Role
from disburse.entry.auth import current_user, roles_required
from disburse.entry.context import request_session, services

verification_api = Blueprint("verification_api", __name__, url_prefix="/api/v1")

#: Staff who may read outcomes (bank users may not: outcomes name who is deceased).
READERS: Final = (Role.PREPARER, Role.APPROVER, Role.AUDITOR, Role.ADMIN)
#: Staff who may start a run (an auditor only reads).
RUNNERS: Final = (Role.PREPARER, Role.APPROVER, Role.ADMIN)
_FILTERS: Final = ("outcome", "programme", "province", "beneficiary_id", "latest_only")


def _json_body() -> Any:
    """The request's JSON body; an empty or non-JSON body counts as ``{}`` for the schema."""
    body = request.get_json(silent=True)
    return {} if body is None else body


@verification_api.post("/verifications/runs")
@roles_required(*RUNNERS)
def run_verification() -> ResponseReturnValue:
    """Check the beneficiaries in scope against the registry; return counts per outcome.

    An unreachable registry is not an error: its checks are recorded ``registry_unavailable``.
    """
    params = load_params(RunRequestSchema(), _json_body())
    svc = services()
    settings = svc.settings
    scope = service.VerifyScope(params["programme"], params["province"], params["stale_only"],
                                settings.verification_max_age_days)
    with HttpPopulationRegistry(settings.registry_url, settings.registry_token,
                                batch_size=settings.registry_batch_size) as registry:
        summary = service.verify(request_session(), svc.keyring(), registry, scope=scope,
                                 actor=current_user().name)
    return jsonify(RunSummarySchema().dump(summary.to_dict()))


@verification_api.get("/verifications")
@roles_required(*READERS)
def list_verifications() -> ResponseReturnValue:
    """List recorded checks, newest first (by default each beneficiary's latest only)."""
    params = load_params(VerificationQuerySchema(), request.args)
    filters = queries.VerificationFilter(**{name: params[name] for name in _FILTERS
                                            if name in params})
    found = queries.list_verifications(request_session(), filters, params["page"],
                                       params["per_page"])
    return jsonify(VerificationPageSchema().dump(found))


@verification_api.post("/verifications/<int:verification_id>/override")
@roles_required(Role.APPROVER)
def override_verification(verification_id: int) -> ResponseReturnValue:
    """Record an approver's override of a mismatch (the service checks the role again)."""
    params = load_params(OverrideRequestSchema(), _json_body())
    record = service.override(request_session(), verification_id, actor=current_user().name,
                              reason=params["reason"])
    return jsonify(OverrideSchema().dump(record)), 201
