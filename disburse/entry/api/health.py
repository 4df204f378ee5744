"""HTTP endpoints of the application shell (health); domain APIs register beside it."""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from disburse.entry.context import request_session

health_blueprint = Blueprint("health", __name__)


@health_blueprint.get("/health")
def health() -> ResponseReturnValue:
    """Answer whether the service and its database are up."""
    request_session().execute(text("SELECT 1"))
    return jsonify({"status": "ok"})
