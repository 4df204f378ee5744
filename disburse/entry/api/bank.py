"""Bank-facing API under ``/api/v1/bank``: a bank pulls its payment files and pushes returns.

Authentication is ``Authorization: Bearer <token>`` (see ``bank_adapters.banks``); the token
names one bank, and every query is scoped to that bank's BIN. Another bank's file answers 404,
exactly like a file that does not exist, so a bank cannot even learn what others are sent.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, g, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from bank_adapters import banks
from bank_adapters.bank_files import bank_payment_file, bank_payment_files
from bank_adapters.models import Bank, ReceivedReturnFile, ReturnFileState, ReturnSource
from bank_adapters.schemas import PaymentFileSchema, ReturnFileSchema
from disburse.core.errors import Unauthorized, ValidationFailed
from disburse.core.params import fit_file_name
from disburse.entry.context import problem_response, request_session, services
from disburse.payments.downloads import FilePart, bank_download
from disburse.payments.models import PaymentFile
from disburse.payments.routing import load_routing
from disburse.payments.storage import payment_files_root
from reconciliation.intake import take_in_return_file
from reconciliation.service import ImportOutcome

bank_api = Blueprint("bank_api", __name__, url_prefix="/api/v1/bank")
F = TypeVar("F", bound=Callable[..., Any])
_PARTS = tuple(part.value for part in FilePart)


def current_bank() -> Bank:
    """Return the bank whose bearer token came with this request.

    Raises:
        Unauthorized: no bearer token, or not a valid one.
    """
    bank: Bank | None = g.get("bank")
    if bank is not None:
        return bank
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("send the bank's API token as Authorization: Bearer <token>")
    bank = banks.bank_for_token(request_session(), token.strip())
    g.bank = bank
    return bank


def bank_required(view: F) -> F:
    """Decorate a view so that only a bank with a valid token may call it."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        current_bank()
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _own_file(file_id: int) -> PaymentFile:
    return bank_payment_file(request_session(), load_routing(services().settings.routes_file),
                             current_bank().bin, file_id)


@bank_api.get("/payment-files")
@bank_required
def list_payment_files() -> ResponseReturnValue:
    """List this bank's payment files, newest first."""
    files = bank_payment_files(request_session(), load_routing(services().settings.routes_file),
                               current_bank().bin)
    return jsonify({"items": PaymentFileSchema(many=True).dump(files)})


@bank_api.get("/payment-files/<int:file_id>")
@bank_required
def show_payment_file(file_id: int) -> ResponseReturnValue:
    """Show one of this bank's payment files with links to its parts."""
    body: dict[str, Any] = PaymentFileSchema().dump(_own_file(file_id))
    body["parts"] = {part: f"{request.base_url}/{part}" for part in _PARTS}
    return jsonify(body)


@bank_api.get("/payment-files/<int:file_id>/<any(file, signature, manifest):part>")
@bank_required
def download_part(file_id: int, part: str) -> ResponseReturnValue:
    """Download the file, its detached signature or its manifest, byte for byte (audited)."""
    download = bank_download(request_session(), payment_files_root(services().settings.data_dir),
                             _own_file(file_id), FilePart(part),
                             actor=banks.bank_user_name(current_bank().bin))
    return send_file(download.path, mimetype=download.mimetype, as_attachment=True,
                     download_name=download.name)


@bank_api.post("/returns")
@bank_required
def upload_return() -> ResponseReturnValue:
    """Receive a return file (``file`` + ``signature``) and take it in: 201 new, 200 a duplicate.

    The file takes the one intake path (``reconciliation.intake``): a signed file is
    reconciled at once, an unsigned or tampered one is quarantined. The answer adds the
    ``outcome`` (applied, quarantined, duplicate, refused) and the reconciliation counts.
    A file refused whole (no record could be read, or more records than the payments sent to
    this bank) answers 422 as problem+json with the same fields; it is recorded, not applied.
    """
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("the multipart body needs a 'file' part",
                               errors=[{"parameter": "file", "messages": ["required"]}])
    signature = request.files.get("signature")
    bank = current_bank()
    svc = services()
    session = request_session()
    report = take_in_return_file(
        session, svc.keyring(), svc.settings, bank_bin=bank.bin,
        file_name=fit_file_name(upload.filename, ReceivedReturnFile.file_name),
        data=upload.read(), signature=signature.read() if signature else None,
        source=ReturnSource.API, actor=banks.bank_user_name(bank.bin))
    duplicate = report.outcome is ImportOutcome.DUPLICATE
    body: dict[str, Any] = ReturnFileSchema().dump(
        session.get_one(ReceivedReturnFile, report.return_file_id))
    if duplicate:
        body["state"] = ReturnFileState.DUPLICATE.value
    body.update(outcome=report.outcome.value, signature=report.signature.value,
                message=report.message, reconciliation=report.reconciliation.summary())
    if report.outcome is ImportOutcome.REFUSED:
        return problem_response({"type": "about:blank", "title": "Return file refused",
                                 "status": 422, "detail": report.message, **body})
    response = jsonify(body)
    response.status_code = 200 if duplicate else 201
    return response
