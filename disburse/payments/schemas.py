"""Marshmallow schemas of the batch API: query and body input, JSON output.

Input schemas refuse unknown fields (a misspelt filter must not silently list everything) and
turn a bad parameter into ``ValidationFailed`` (422 problem+json, through ``load_params``).
Money is an integer of dong everywhere (``Integer(strict=True)``), never a float.
"""

from __future__ import annotations

from typing import Final

from marshmallow import RAISE, Schema, fields, validate

from beneficiaries.programmes import PROGRAMMES
from disburse.core.params import page_field
from disburse.core.periods import PERIOD_RE
from disburse.payments.lifecycle import BatchState

#: Largest page a client may ask for.
MAX_PER_PAGE: Final = 200
_PERIOD = validate.Regexp(PERIOD_RE, error="YYYY-MM expected (e.g. 2026-11)")
_PROGRAMME = validate.OneOf(list(PROGRAMMES))


def _money() -> fields.Integer:
    return fields.Integer(strict=True)


class BatchQuerySchema(Schema):
    """Filters and paging of ``GET /api/v1/batches``."""

    class Meta:
        unknown = RAISE

    programme = fields.String(validate=_PROGRAMME)
    period = fields.String(validate=_PERIOD)
    state = fields.String(validate=validate.OneOf([s.value for s in BatchState]))
    page = page_field(maximum=10_000)
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class CreateBatchSchema(Schema):
    """Body of ``POST /api/v1/batches``: the programme, the period and optionally a province."""

    class Meta:
        unknown = RAISE

    programme = fields.String(required=True, validate=_PROGRAMME)
    period = fields.String(required=True, validate=_PERIOD)
    province = fields.String(load_default=None, allow_none=True,
                             validate=validate.Regexp(r"^\d{2}$", error="2 digits expected"))


class ReasonSchema(Schema):
    """Body of reject and cancel: the reason (the service asks for at least 5 characters)."""

    class Meta:
        unknown = RAISE

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class NoBodySchema(Schema):
    """Body of submit, approve and file writing: nothing (an empty object is fine)."""

    class Meta:
        unknown = RAISE


class BatchRowSchema(Schema):
    """One batch in a listing."""

    id = fields.Integer()
    programme = fields.String()
    period = fields.String()
    province_code = fields.String(allow_none=True)
    state = fields.String()
    preparer = fields.String()
    count = fields.Integer()
    total = _money()
    created_at = fields.String()


class BatchPageSchema(Schema):
    """One page of batches, newest first."""

    items = fields.List(fields.Nested(BatchRowSchema))
    page = fields.Integer()
    per_page = fields.Integer()
    has_more = fields.Boolean()


class RouteTotalSchema(Schema):
    """Count and total of one route."""

    route = fields.String()
    count = fields.Integer()
    total = _money()


class BankTotalSchema(Schema):
    """Count and total of one creditor bank (``bank_bin`` null for cash)."""

    bank_bin = fields.String(allow_none=True)
    count = fields.Integer()
    total = _money()


class ExclusionSchema(Schema):
    """How many beneficiaries were left out for one reason, and the first ids."""

    count = fields.Integer()
    beneficiary_ids = fields.List(fields.Integer())


class ApprovalSchema(Schema):
    """The live approval, pinned to the batch hash, count and total."""

    id = fields.Integer()
    approver = fields.String()
    at = fields.String()
    batch_hash = fields.String()
    count = fields.Integer()
    total = _money()


class PaymentFileSchema(Schema):
    """A written, signed payment file with the links to download it and its companions."""

    id = fields.Integer()
    route = fields.String()
    part_no = fields.Integer()
    layout = fields.String()
    msg_id = fields.String()
    file_name = fields.String()
    sha256 = fields.String()
    size = fields.Integer()
    nb_of_txs = fields.Integer()
    ctrl_sum = _money()
    batch_hash = fields.String()
    key_id = fields.String()
    created_at = fields.DateTime()
    links = fields.Dict(keys=fields.String(), values=fields.String())


class BatchSummarySchema(Schema):
    """A batch's detail: totals by route and bank, exclusions, approval, actions, files."""

    batch_id = fields.Integer()
    programme = fields.String()
    period = fields.String()
    province_code = fields.String(allow_none=True)
    state = fields.String()
    preparer = fields.String()
    requested_execution_date = fields.String()
    count = fields.Integer()
    total = _money()
    content_hash = fields.String()
    arrears_total = _money()
    rerouted = fields.Integer()
    excluded = fields.Integer()
    by_route = fields.List(fields.Nested(RouteTotalSchema))
    by_bank = fields.List(fields.Nested(BankTotalSchema))
    exclusions = fields.Dict(keys=fields.String(), values=fields.Nested(ExclusionSchema))
    reason = fields.String(allow_none=True)
    approval = fields.Nested(ApprovalSchema, allow_none=True)
    allowed_actions = fields.List(fields.String())
    files = fields.List(fields.Nested(PaymentFileSchema))


__all__ = [
    "MAX_PER_PAGE",
    "BatchPageSchema",
    "BatchQuerySchema",
    "BatchRowSchema",
    "BatchSummarySchema",
    "CreateBatchSchema",
    "NoBodySchema",
    "PaymentFileSchema",
    "ReasonSchema",
]
