"""JSON API of the reports under ``/api/v1/reports``: cashless figures, trend, exceptions, batches.

Staff roles only (auditor, approver, preparer, admin). A bad or unknown parameter is a 422
problem document naming it. The figures are the ones ``disburse report ... --format json``
prints; ``format=csv|xlsx|png`` on the cashless report downloads the same figures as a file.
``/worklist`` (and ``/worklist/trend``) is the conversion worklist of
``disburse report worklist``.
"""

from __future__ import annotations

import io
from typing import Any, Final

from flask import Blueprint, jsonify, request, send_file
from flask.typing import ResponseReturnValue
from marshmallow import Schema, ValidationError, fields, validate, validates

from beneficiaries.programmes import PROGRAMMES
from beneficiaries.schemas import load_params
from disburse.core.periods import PERIOD_RE
from disburse.core.users import Role
from disburse.entry.auth import roles_required
from disburse.entry.context import request_session, services
from reconciliation import reports
from reconciliation.metrics import (
    GROUP_KEYS,
    MetricsFilter,
    cashless_report,
    cashless_trend,
    load_targets,
    parse_by,
)
from reconciliation.worklist import WorklistFilter, worklist, worklist_trend

report_api = Blueprint("report_api", __name__, url_prefix="/api/v1/reports")

READERS: Final = (Role.AUDITOR, Role.APPROVER, Role.PREPARER, Role.ADMIN)
PERIOD: Final = validate.Regexp(PERIOD_RE, error="must be a month, YYYY-MM")
MIMETYPES: Final = {
    "csv": "text/csv; charset=utf-8", "png": "image/png",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


class ScopeSchema(Schema):
    """Programme, province, commune and grouping of a cashless request."""

    programme = fields.String(validate=validate.OneOf(list(PROGRAMMES)))
    # checked against the known codes by the reports themselves (the error lists them)
    province = fields.String(validate=validate.Length(max=8))
    commune = fields.String(validate=validate.Length(max=8))
    by = fields.String(load_default="")

    @validates("by")
    def _known_keys(self, value: str, **_: Any) -> None:
        unknown = sorted({k.strip() for k in value.split(",") if k.strip()} - set(GROUP_KEYS))
        if unknown:
            raise ValidationError(f"unknown: {', '.join(unknown)}; use {', '.join(GROUP_KEYS)}")


class CashlessQuerySchema(ScopeSchema):
    """Parameters of ``GET /cashless``."""

    period = fields.String(validate=PERIOD)
    format = fields.String(load_default="json",
                           validate=validate.OneOf(["json", "csv", "xlsx", "png"]))


class TrendQuerySchema(ScopeSchema):
    """Parameters of ``GET /cashless/trend`` (``from`` and ``to`` are required)."""

    period_from = fields.String(data_key="from", required=True, validate=PERIOD)
    period_to = fields.String(data_key="to", required=True, validate=PERIOD)


class WorklistQuerySchema(Schema):
    """Parameters of ``GET /worklist`` (one period) and ``GET /worklist/trend`` (a range)."""

    period = fields.String(validate=PERIOD)
    period_from = fields.String(data_key="from", validate=PERIOD)
    period_to = fields.String(data_key="to", validate=PERIOD)
    province = fields.String(validate=validate.Length(max=8))
    commune = fields.String(validate=validate.Length(max=8))
    format = fields.String(load_default="json", validate=validate.OneOf(["json", "csv", "xlsx"]))


class ExceptionQuerySchema(Schema):
    """Parameters of ``GET /exceptions``."""

    state = fields.String(load_default="open",
                          validate=validate.OneOf(["open", "resolved", "all"]))
    kind = fields.String(validate=validate.Length(max=40))


def _filters(params: dict[str, Any]) -> MetricsFilter:
    names = ("programme", "province", "commune", "period", "period_from", "period_to")
    return MetricsFilter(**{name: params.get(name) for name in names})


@report_api.get("/cashless")
@roles_required(*READERS)
def cashless() -> ResponseReturnValue:
    """Cashless figures by the requested groups, with the total and the targets."""
    params = load_params(CashlessQuerySchema(), request.args)
    filters, by, fmt = _filters(params), parse_by(params["by"]), params["format"]
    session = request_session()
    if fmt == "json":
        return jsonify(cashless_report(session, filters, by, load_targets()).to_dict())
    if fmt == "png":
        data = reports.cashless_png(
            cashless_report(session, filters, ("programme", "province"), load_targets()))
    elif fmt == "csv":
        data = reports.CASHLESS_TEXT_WRITERS["csv"](
            cashless_report(session, filters, by, load_targets()))
    else:
        data = reports.cashless_xlsx(
            cashless_report(session, filters, by, load_targets()),
            cashless_report(session, filters, ("programme", "province", "commune"),
                            load_targets()),
            reports.open_exceptions(session), reports.payment_files(session, filters),
            by_province=cashless_report(session, filters, ("province",), load_targets()),
            rejections=reports.rejections(session, filters))
    return send_file(io.BytesIO(data), mimetype=MIMETYPES[fmt], as_attachment=True,
                     download_name=f"cashless-{filters.period or 'all'}.{fmt}")


@report_api.get("/cashless/trend")
@roles_required(*READERS)
def cashless_trend_view() -> ResponseReturnValue:
    """Figures for each month from ``from`` to ``to``, in total and by the requested groups."""
    params = load_params(TrendQuerySchema(), request.args)
    report = cashless_trend(request_session(), _filters(params), parse_by(params["by"]),
                            load_targets())
    return jsonify(report.to_dict())


def _worklist_filter(params: dict[str, Any]) -> WorklistFilter:
    names = ("period", "province", "commune", "period_from", "period_to")
    return WorklistFilter(**{name: params.get(name) for name in names})


def _download(data: bytes, fmt: str, name: str) -> ResponseReturnValue:
    return send_file(io.BytesIO(data), mimetype=MIMETYPES[fmt], as_attachment=True,
                     download_name=f"{name}.{fmt}")


@report_api.get("/worklist")
@roles_required(*READERS)
def worklist_view() -> ResponseReturnValue:
    """The conversion worklist of one period: per commune, who is still paid in cash or by a
    failed account, what is missing and the contact the list gave."""
    params = load_params(WorklistQuerySchema(), request.args)
    filters = _worklist_filter(params)
    items = worklist(request_session(), services().keyring(), filters)
    fmt, name = params["format"], f"worklist-{filters.period}"
    if fmt == "json":
        return jsonify({"period": filters.period, "unit": "people", "total": len(items),
                        "items": items})
    data = (reports.worklist_csv(items) if fmt == "csv"
            else reports.worklist_xlsx(items, filters.period or ""))
    return _download(data, fmt, name)


@report_api.get("/worklist/trend")
@roles_required(*READERS)
def worklist_trend_view() -> ResponseReturnValue:
    """People on the worklist per commune and month from ``from`` to ``to``."""
    params = load_params(WorklistQuerySchema(), request.args)
    trend = worklist_trend(request_session(), _worklist_filter(params))
    fmt = params["format"]
    if fmt == "json":
        return jsonify(trend)
    data = reports.trend_csv(trend) if fmt == "csv" else reports.trend_xlsx(trend)
    return _download(data, fmt, f"worklist-trend-{trend['from']}-{trend['to']}")


@report_api.get("/exceptions")
@roles_required(*READERS)
def exceptions() -> ResponseReturnValue:
    """The reconciliation exceptions queue (open by default)."""
    params = load_params(ExceptionQuerySchema(), request.args)
    state = None if params["state"] == "all" else params["state"]
    items = reports.open_exceptions(request_session(), state=state, kind=params.get("kind"))
    return jsonify({"total": len(items), "items": items})


@report_api.get("/batches/<int:batch_id>")
@roles_required(*READERS)
def batch(batch_id: int) -> ResponseReturnValue:
    """A batch: its summary, reconciliation figures, payment files and open exceptions."""
    return jsonify(reports.batch_report(request_session(), batch_id))
