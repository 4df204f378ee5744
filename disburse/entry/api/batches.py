"""JSON API of payment batches under ``/api/v1/batches``: list, detail, state changes, files.

Each view loads its input with a schema, calls a service, and dumps the result. The request's
unit of work commits or rolls back; views never commit and never catch errors. Who may do what
is decided by the services (maker-checker lives in ``approval.py``); the role lists here only
keep bank users and anonymous callers out early.

Payment files are written to, and served from, the directory the outbox sends from
(``DATA_DIR/payment_files/<batch id>/``, as ``disburse batch files`` does by default). A file is
served only when its bytes still have the SHA-256 recorded when it was signed. The full file
goes to administrators only, manifests and signatures to every staff reader, and each download
is audited (see ``disburse.payments.downloads`` for the matrix and its reasons).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from flask import Blueprint, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue

from beneficiaries.registry import HttpPopulationRegistry
from beneficiaries.schemas import load_params
from disburse.core.clock import business_date, utcnow
from disburse.core.users import Role
from disburse.entry.auth import current_user, roles_required
from disburse.entry.context import close_request_session, request_session, services
from disburse.payments import service
from disburse.payments.downloads import FilePart, download_payment_file
from disburse.payments.files import write_batch_files
from disburse.payments.models import PaymentFile
from disburse.payments.preparation import prepare_and_build
from disburse.payments.queries import batch_payment_files
from disburse.payments.routing import load_routing
from disburse.payments.schemas import (
    BatchPageSchema,
    BatchQuerySchema,
    BatchSummarySchema,
    CreateBatchSchema,
    NoBodySchema,
    PaymentFileSchema,
    ReasonSchema,
)
from disburse.payments.storage import payment_files_root

batch_api = Blueprint("batch_api", __name__, url_prefix="/api/v1/batches")

#: Staff who may read batches and download their files (banks have their own API).
READERS: Final = (Role.PREPARER, Role.APPROVER, Role.AUDITOR, Role.ADMIN)
#: Who may build, submit and (re-)write files: the maker side.
MAKERS: Final = (Role.PREPARER, Role.ADMIN)
#: Who may reach approve: preparers too, so that the service can refuse a preparer with the
#: maker-checker reason rather than a bare role error.
APPROVE_CALLERS: Final = (Role.PREPARER, Role.APPROVER, Role.ADMIN)
CHECKERS: Final = (Role.APPROVER, Role.ADMIN)
CANCELLERS: Final = (Role.PREPARER, Role.APPROVER, Role.ADMIN)


def _json_body() -> Any:
    """The request's JSON body; an empty or non-JSON body counts as ``{}`` for the schema."""
    body = request.get_json(silent=True)
    return {} if body is None else body


def _files_dir(batch_id: int) -> Path:
    """Where a batch's files live: the directory the outbox sends them from."""
    return payment_files_root(services().settings.data_dir) / str(batch_id)


def _file_rows(files: list[PaymentFile]) -> list[dict[str, Any]]:
    """Dump files with the links to the file, its signature and its manifest."""
    rows: list[dict[str, Any]] = PaymentFileSchema(many=True).dump(files)
    for row, f in zip(rows, files, strict=True):
        ids: dict[str, Any] = {"batch_id": f.batch_id, "file_id": f.id}
        row["links"] = {"file": url_for(".download_file", **ids),
                        "signature": url_for(".download_part", part="signature", **ids),
                        "manifest": url_for(".download_part", part="manifest", **ids)}
    return rows


def _detail(batch_id: int, status: int = 200) -> ResponseReturnValue:
    """Answer with the batch summary and its files."""
    session = request_session()
    body: dict[str, Any] = BatchSummarySchema(exclude=("files",)).dump(
        service.batch_summary(session, batch_id))
    body["files"] = _file_rows(batch_payment_files(session, batch_id))  # dumped with their links
    response = jsonify(body)
    response.status_code = status
    if status == 201:
        response.headers["Location"] = url_for(".show_batch", batch_id=batch_id)
    return response


@batch_api.get("/")
@roles_required(*READERS)
def list_batches() -> ResponseReturnValue:
    """List batches newest first, filtered by programme, period and state, a page at a time."""
    params = load_params(BatchQuerySchema(), request.args)
    page, per_page = params.pop("page"), params.pop("per_page")
    offset = (page - 1) * per_page
    # list_batches has a limit but no offset: ask for one page more than needed and cut.
    found = service.list_batches(request_session(), limit=offset + per_page + 1, **params)
    return jsonify(BatchPageSchema().dump({
        "items": found[offset:offset + per_page], "page": page, "per_page": per_page,
        "has_more": len(found) > offset + per_page}))


@batch_api.get("/<int:batch_id>")
@roles_required(*READERS)
def show_batch(batch_id: int) -> ResponseReturnValue:
    """Show a batch: totals by route and bank, exclusions, approval, allowed actions, files."""
    return _detail(batch_id)


@batch_api.post("/")
@roles_required(*MAKERS)
def create_batch() -> ResponseReturnValue:
    """Build a draft batch for a programme and period (re-verifying stale beneficiaries)."""
    params = load_params(CreateBatchSchema(), _json_body())
    svc = services()
    settings = svc.settings
    actor = current_user().name
    # The renewal of stale checks and the build run in transactions of their own (the
    # registry is asked with no writer lock held); the sign-in's transaction ends first, and
    # the answer is read in a new one that sees the committed batch.
    close_request_session()
    with HttpPopulationRegistry(settings.registry_url, settings.registry_token,
                                batch_size=settings.registry_batch_size) as registry:
        summary = prepare_and_build(
            svc.session_factory, svc.keyring(), registry, programme=params["programme"],
            period=params["period"], province=params["province"], actor=actor,
            routing=load_routing(settings.routes_file),
            max_age_days=settings.verification_max_age_days, today=business_date())
    return _detail(summary.batch_id, 201)


@batch_api.post("/<int:batch_id>/submit")
@roles_required(*MAKERS)
def submit_batch(batch_id: int) -> ResponseReturnValue:
    """Ask for approval: draft -> pending_approval, pinning the current hash."""
    load_params(NoBodySchema(), _json_body())
    service.submit_batch(request_session(), batch_id, actor=current_user().name)
    return _detail(batch_id)


@batch_api.post("/<int:batch_id>/approve")
@roles_required(*APPROVE_CALLERS)
def approve_batch(batch_id: int) -> ResponseReturnValue:
    """Approve as the checker; the preparer of the batch is refused (403)."""
    load_params(NoBodySchema(), _json_body())
    service.approve_batch(request_session(), batch_id, actor=current_user().name)
    return _detail(batch_id)


@batch_api.post("/<int:batch_id>/reject")
@roles_required(*CHECKERS)
def reject_batch(batch_id: int) -> ResponseReturnValue:
    """Send a pending batch back to draft with the checker's reason."""
    params = load_params(ReasonSchema(), _json_body())
    service.reject_batch(request_session(), batch_id, actor=current_user().name,
                         reason=params["reason"])
    return _detail(batch_id)


@batch_api.post("/<int:batch_id>/cancel")
@roles_required(*CANCELLERS)
def cancel_batch(batch_id: int) -> ResponseReturnValue:
    """Cancel a batch that was never submitted to a bank, with a reason."""
    params = load_params(ReasonSchema(), _json_body())
    service.cancel_batch(request_session(), batch_id, actor=current_user().name,
                         reason=params["reason"])
    return _detail(batch_id)


@batch_api.post("/<int:batch_id>/files")
@roles_required(*MAKERS)
def write_files(batch_id: int) -> ResponseReturnValue:
    """Write (or re-write, byte-identical) and sign the files of an approved batch."""
    load_params(NoBodySchema(), _json_body())
    svc = services()
    files = write_batch_files(
        request_session(), svc.keyring(), batch_id, out_dir=_files_dir(batch_id),
        actor=current_user().name, routing=load_routing(svc.settings.routes_file),
        key_dir=svc.settings.key_dir, now=utcnow())
    return jsonify({"items": _file_rows(files)})


@batch_api.get("/<int:batch_id>/files")
@roles_required(*READERS)
def list_files(batch_id: int) -> ResponseReturnValue:
    """List a batch's payment files (empty until they are written)."""
    session = request_session()
    service.batch_summary(session, batch_id)  # 404 for an unknown batch
    return jsonify({"items": _file_rows(batch_payment_files(session, batch_id))})


def _send(batch_id: int, file_id: int, part: FilePart) -> ResponseReturnValue:
    """Send a checked, audited part of a payment file (``downloads`` decides who may)."""
    user = current_user()
    found = download_payment_file(
        request_session(), payment_files_root(services().settings.data_dir), batch_id,
        file_id, part, actor=user.name, role=user.role)
    return send_file(found.path, mimetype=found.mimetype, as_attachment=True,
                     download_name=found.name)


@batch_api.get("/<int:batch_id>/files/<int:file_id>")
@roles_required(*READERS)
def download_file(batch_id: int, file_id: int) -> ResponseReturnValue:
    """Download a payment file byte for byte (administrators only; audited).

    The file must still have the SHA-256 recorded when it was signed.
    """
    return _send(batch_id, file_id, FilePart.FILE)


@batch_api.get("/<int:batch_id>/files/<int:file_id>/<any(signature, manifest):part>")
@roles_required(*READERS)
def download_part(batch_id: int, file_id: int, part: str) -> ResponseReturnValue:
    """Download a payment file's detached signature or its manifest (audited)."""
    return _send(batch_id, file_id, FilePart(part))
