"""Marshmallow schemas of the beneficiary API: query and form input, JSON output.

Input schemas turn a bad parameter into ``ValidationFailed`` (422 problem+json) that names the
parameter; output schemas fix the shape of what the API returns. Money is an integer of dong.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePath
from typing import Any, Final

from marshmallow import RAISE, Schema, ValidationError, fields, post_load, validate
from werkzeug.datastructures import FileStorage
from werkzeug.utils import secure_filename

from beneficiaries.models import BeneficiaryStatus
from beneficiaries.programmes import PROGRAMMES, Channel
from disburse.core.errors import ValidationFailed
from disburse.core.params import page_field

#: Largest page a client may ask for; bigger exports go through the CLI.
MAX_PER_PAGE: Final = 500
#: File types an uploaded list may have (the importers read exactly these).
UPLOAD_SUFFIXES: Final = (".csv", ".xlsx")
#: Letters that ``secure_filename`` would drop because they do not decompose to ASCII.
_ASCII_FOLD: Final = str.maketrans({"đ": "d", "Đ": "D"})


def load_params(schema: Schema, data: Mapping[str, Any]) -> dict[str, Any]:
    """Load request parameters with ``schema``.

    Raises:
        ValidationFailed: naming every bad parameter and what is wrong with it.
    """
    try:
        loaded: dict[str, Any] = schema.load(data)
    except ValidationError as error:
        problems = error.messages_dict
        raise ValidationFailed(
            f"invalid parameter(s): {', '.join(sorted(problems))}",
            errors=[{"parameter": name, "messages": _as_list(messages)}
                    for name, messages in sorted(problems.items())],
        ) from None
    return loaded


def _as_list(messages: Any) -> list[str]:
    if isinstance(messages, list):
        return [str(m) for m in messages]
    return [str(messages)]


def readable_filename(original: str) -> str:
    """Return a safe, still readable display name for an uploaded file.

    Vietnamese letters are folded to ASCII first (``Đà Nẵng`` -> ``Da_Nang``) so that
    ``secure_filename`` keeps them instead of dropping them.
    """
    name = PurePath(original.replace("\\", "/")).name.translate(_ASCII_FOLD)
    safe = secure_filename(name)
    suffix = PurePath(original).suffix.lower()
    return safe if safe and safe != suffix.lstrip(".") else f"upload{suffix}"


class UploadField(fields.Field[FileStorage]):
    """A multipart file whose name ends in .csv or .xlsx."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> FileStorage:
        if not isinstance(value, FileStorage) or not value.filename:
            raise ValidationError("send the list as a multipart file part named 'file'")
        suffix = PurePath(value.filename).suffix.lower()
        if suffix not in UPLOAD_SUFFIXES:
            raise ValidationError(
                f"only {' or '.join(UPLOAD_SUFFIXES)} files are accepted, got {suffix or 'none'}")
        return value


class BeneficiaryQuerySchema(Schema):
    """Filters and paging of ``GET /beneficiaries``.

    Unknown parameters are refused: a misspelt filter must not silently list everyone.
    """

    class Meta:
        unknown = RAISE

    programme = fields.String(validate=validate.OneOf(list(PROGRAMMES)))
    province = fields.String(validate=validate.Regexp(r"^\d{2}$", error="2 digits expected"))
    commune = fields.String(validate=validate.Regexp(r"^\d{5}$", error="5 digits expected"))
    status = fields.String(validate=validate.OneOf([s.value for s in BeneficiaryStatus]))
    channel = fields.String(validate=validate.OneOf([c.value for c in Channel]))
    page = page_field()
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class ImportFormSchema(Schema):
    """The multipart form of ``POST /imports``: the file, the programme and the mode."""

    class Meta:
        unknown = RAISE

    file = UploadField(required=True)
    programme = fields.String(required=True, validate=validate.OneOf(list(PROGRAMMES)))
    accept_valid = fields.Boolean(load_default=False)
    end_missing = fields.Boolean(load_default=False)

    @post_load
    def _describe_file(self, data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        upload: FileStorage = data["file"]
        filename = upload.filename or ""
        data["suffix"] = PurePath(filename).suffix.lower()
        data["display_name"] = readable_filename(filename)
        return data


class SourceSchema(Schema):
    """Which import and row a beneficiary came from."""

    import_id = fields.Integer()
    row = fields.Integer()


class BeneficiarySchema(Schema):
    """One beneficiary as listed: citizen ID and account masked."""

    id = fields.Integer()
    programme = fields.String()
    citizen_id = fields.String()
    full_name = fields.String()
    date_of_birth = fields.String()
    gender = fields.String()
    province_code = fields.String()
    commune_code = fields.String()
    locality_version = fields.String()
    monthly_amount = fields.Integer(strict=True)
    coefficient_x100 = fields.Integer(strict=True, allow_none=True)
    channel = fields.String()
    bank_bin = fields.String(allow_none=True)
    account_number = fields.String(allow_none=True)
    account_holder = fields.String(allow_none=True)
    status = fields.String()
    status_reason = fields.String(allow_none=True)
    review_flags = fields.List(fields.String())
    source = fields.Nested(SourceSchema)
    version = fields.Integer()


class HistoryEntrySchema(Schema):
    """One change in a beneficiary's history (account numbers never appear)."""

    version = fields.Integer()
    change = fields.String()
    changed = fields.Dict()
    actor = fields.String()
    import_id = fields.Integer(allow_none=True)
    reason = fields.String(allow_none=True)
    at = fields.String()


class BeneficiaryDetailSchema(BeneficiarySchema):
    """One beneficiary with its history."""

    history = fields.List(fields.Nested(HistoryEntrySchema))


class BeneficiaryPageSchema(Schema):
    """One page of beneficiaries."""

    items = fields.List(fields.Nested(BeneficiarySchema))
    total = fields.Integer()
    page = fields.Integer()
    per_page = fields.Integer()


class RowFindingSchema(Schema):
    """A finding about one cell: file, row, column as written, code and messages."""

    file = fields.String()
    row = fields.Integer()
    column = fields.String()
    code = fields.String()
    severity = fields.String()
    message_en = fields.String()
    message_vi = fields.String()


class ImportCountsSchema(Schema):
    """How many rows went where."""

    rows = fields.Integer()
    added = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    rejected = fields.Integer()
    flagged = fields.Integer()
    absent = fields.Integer()
    ended = fields.Integer()


class ImportReportSchema(Schema):
    """The report of one import, as the service returns it and stores it."""

    import_id = fields.Integer(allow_none=True)
    programme = fields.String()
    file_name = fields.String()
    file_sha256 = fields.String()
    outcome = fields.String()
    mode = fields.String()
    message = fields.String()
    counts = fields.Nested(ImportCountsSchema)
    errors = fields.List(fields.Nested(RowFindingSchema))
    flags = fields.List(fields.Nested(RowFindingSchema))
    absent = fields.List(fields.Dict())
    ignored_columns = fields.List(fields.String())
    previous_import_id = fields.Integer(allow_none=True)


class ListImportSchema(Schema):
    """The database record of an import: who, when, which file, what happened."""

    id = fields.Integer()
    programme = fields.String()
    file_name = fields.String()
    file_sha256 = fields.String()
    file_size = fields.Integer()
    actor = fields.String()
    at = fields.DateTime()
    accept_valid = fields.Boolean()
    end_missing = fields.Boolean()
    outcome = fields.String()
    counts = fields.Nested(ImportCountsSchema)
