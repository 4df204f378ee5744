"""Marshmallow schemas of the verification API: run and override input, query parameters, output.

Input schemas refuse unknown members (a misspelt filter must not silently widen a run or a
listing); ``beneficiaries.schemas.load_params`` turns their errors into a 422 problem.
"""

from __future__ import annotations

from marshmallow import RAISE, Schema, fields, validate

from beneficiaries.programmes import PROGRAMMES
from beneficiaries.schemas import MAX_PER_PAGE
from beneficiaries.verification.models import Outcome
from disburse.core.params import id_field, page_field

_PROVINCE = validate.Regexp(r"^\d{2}$", error="2 digits expected")


class RunRequestSchema(Schema):
    """The JSON body of ``POST /verifications/runs``: which beneficiaries to check."""

    class Meta:
        unknown = RAISE

    programme = fields.String(load_default=None, validate=validate.OneOf(list(PROGRAMMES)))
    province = fields.String(load_default=None, validate=_PROVINCE)
    stale_only = fields.Boolean(load_default=False)


class RunSummarySchema(Schema):
    """What a run did: how many were checked, counts per outcome, who was suspended."""

    checked = fields.Integer()
    outcomes = fields.Dict(keys=fields.String(), values=fields.Integer())
    suspended_deceased = fields.List(fields.Integer())


class VerificationQuerySchema(Schema):
    """Filters and paging of ``GET /verifications``."""

    class Meta:
        unknown = RAISE

    outcome = fields.String(validate=validate.OneOf([o.value for o in Outcome]))
    programme = fields.String(validate=validate.OneOf(list(PROGRAMMES)))
    province = fields.String(validate=_PROVINCE)
    beneficiary_id = id_field()
    #: By default only each beneficiary's latest check: what payment is judged on.
    latest_only = fields.Boolean(load_default=True)
    page = page_field()
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class VerificationSchema(Schema):
    """One recorded check with its evidence digest and whether an approver overrode it."""

    id = fields.Integer()
    beneficiary_id = fields.Integer()
    outcome = fields.String()
    differences = fields.Dict()
    date_of_death = fields.Date(allow_none=True)
    evidence_digest = fields.String()
    checked_at = fields.DateTime()
    actor = fields.String()
    overridden = fields.Boolean()


class VerificationPageSchema(Schema):
    """One page of recorded checks."""

    items = fields.List(fields.Nested(VerificationSchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class OverrideRequestSchema(Schema):
    """The JSON body of ``POST /verifications/<id>/override``."""

    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(max=500))


class OverrideSchema(Schema):
    """A recorded override: which check, who, why and when."""

    id = fields.Integer()
    verification_id = fields.Integer()
    beneficiary_id = fields.Integer()
    actor = fields.String()
    reason = fields.String()
    at = fields.DateTime()
