"""Marshmallow schemas of the bank-facing API: what a bank sees of its files and returns."""

from __future__ import annotations

from marshmallow import Schema, fields


class PaymentFileSchema(Schema):
    """A payment file as its bank sees it (no beneficiary data; that is inside the file)."""

    id = fields.Integer()
    batch_id = fields.Integer()
    route = fields.String()
    part_no = fields.Integer()
    layout = fields.String()
    msg_id = fields.String()
    file_name = fields.String()
    sha256 = fields.String()
    size = fields.Integer(strict=True)
    nb_of_txs = fields.Integer(strict=True)
    ctrl_sum = fields.Integer(strict=True)
    key_id = fields.String()
    created_at = fields.DateTime()


class ReturnFileSchema(Schema):
    """A return file as recorded: its state says whether it will be applied."""

    id = fields.Integer()
    bank_bin = fields.String()
    source = fields.String()
    file_name = fields.String()
    sha256 = fields.String()
    size = fields.Integer(strict=True)
    signature_valid = fields.Boolean()
    state = fields.String()
    reason = fields.String(allow_none=True)
    received_at = fields.DateTime()
