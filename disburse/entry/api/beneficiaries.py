"""JSON API of the beneficiary registry under ``/api/v1``: list imports, beneficiaries, templates.

Each view loads its input with a schema, calls a service or query, and dumps the result. The
request's unit of work commits or rolls back; views never commit and never catch errors.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final

from flask import Blueprint, Response, jsonify, request, send_file, url_for
from flask.typing import ResponseReturnValue
from werkzeug.datastructures import FileStorage

from beneficiaries import queries, service
from beneficiaries.models import ImportOutcome
from beneficiaries.report import ImportReport
from beneficiaries.schemas import (
    BeneficiaryDetailSchema,
    BeneficiaryPageSchema,
    BeneficiaryQuerySchema,
    ImportFormSchema,
    ImportReportSchema,
    ListImportSchema,
    load_params,
)
from beneficiaries.stored import StoredPart
from beneficiaries.templates import template_csv, template_xlsx
from disburse.core.clock import business_date
from disburse.core.users import Role
from disburse.entry.auth import current_user, roles_required
from disburse.entry.context import problem_response, request_session, services

beneficiaries_api = Blueprint("beneficiaries_api", __name__, url_prefix="/api/v1")

#: Staff who may read the registry (bank users may not).
READERS: Final = (Role.PREPARER, Role.APPROVER, Role.AUDITOR, Role.ADMIN)
#: The rejected-rows workbook holds unmasked IDs as typed: only who imports or audits.
REJECTED_ROWS_READERS: Final = (Role.PREPARER, Role.AUDITOR, Role.ADMIN)
XLSX_MIMETYPE: Final = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_FILTERS: Final = ("programme", "province", "commune", "status", "channel")
#: HTTP status of an import response by outcome; a rejected file is a 422 problem document.
_IMPORT_STATUS: Final = {ImportOutcome.APPLIED.value: 201,
                         ImportOutcome.DUPLICATE_FILE.value: 200,
                         ImportOutcome.REJECTED.value: 422}


@beneficiaries_api.get("/beneficiaries")
@roles_required(*READERS)
def list_beneficiaries() -> ResponseReturnValue:
    """List beneficiaries matching the filters, one page at a time; IDs masked."""
    params = load_params(BeneficiaryQuerySchema(), request.args)
    filters = queries.BeneficiaryFilter(**{name: params.get(name) for name in _FILTERS})
    page, per_page = params["page"], params["per_page"]
    found = queries.list_beneficiaries(request_session(), services().keyring(), filters,
                                       limit=per_page, offset=(page - 1) * per_page)
    return jsonify(BeneficiaryPageSchema().dump(
        {"items": found["items"], "total": found["total"], "page": page, "per_page": per_page}))


@beneficiaries_api.get("/beneficiaries/<int:beneficiary_id>")
@roles_required(*READERS)
def show_beneficiary(beneficiary_id: int) -> ResponseReturnValue:
    """Show one beneficiary with its history; IDs masked."""
    detail = queries.show_beneficiary(request_session(), services().keyring(), beneficiary_id)
    return jsonify(BeneficiaryDetailSchema().dump(detail))


@beneficiaries_api.post("/imports")
@roles_required(Role.PREPARER, Role.ADMIN)
def create_import() -> ResponseReturnValue:
    """Import an uploaded list: 201 applied, 200 duplicate file, 422 rejected (kept, audited)."""
    form = load_params(ImportFormSchema(), {**request.form.to_dict(), **request.files.to_dict()})
    svc = services()
    options = service.ImportOptions(accept_valid=form["accept_valid"],
                                    end_missing=form["end_missing"],
                                    store_dir=svc.settings.data_dir / "imports",
                                    display_name=form["display_name"])
    with _saved_upload(form["file"], form["suffix"], svc.settings.data_dir / "uploads") as path:
        report = service.import_list(request_session(), svc.keyring(), path,
                                     programme=form["programme"], actor=current_user().name,
                                     today=business_date(), options=options)
    return _import_response(report)


@contextmanager
def _saved_upload(upload: FileStorage, suffix: str, under: Path) -> Iterator[Path]:
    """Save the upload to a private temporary directory, removed afterwards.

    The importers pick the reader by suffix, so the file keeps its original one; the stored
    copy of the import is made by the service.
    """
    under.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=under, prefix="upload-") as directory:
        path = Path(directory) / f"upload{suffix}"
        upload.save(path)
        yield path


def _import_response(report: ImportReport) -> Response:
    """Answer an import; a rejected file is returned, not raised, so its record is kept."""
    body: dict[str, Any] = ImportReportSchema().dump(report)
    status = _IMPORT_STATUS[report.outcome]
    if status == 422:
        return problem_response({
            "type": "https://disburse.invalid/problems/import_rejected",
            "title": "List rejected", "status": 422, "code": "import_rejected",
            "detail": report.message, "report": body})
    response = jsonify(body)
    response.status_code = status
    response.headers["Location"] = url_for(".show_import", import_id=report.import_id)
    return response


@beneficiaries_api.get("/imports/<int:import_id>")
@roles_required(*READERS)
def show_import(import_id: int) -> ResponseReturnValue:
    """Return an import's stored report with the counts and outcome kept in the database."""
    record, report = queries.stored_report(request_session(), services().keyring(), import_id)
    body: dict[str, Any] = ImportReportSchema().dump(report)
    stored = ListImportSchema().dump(record)
    body.update(import_id=record.id, outcome=stored["outcome"], counts=stored["counts"],
                record=stored,
                rejected_xlsx=(url_for(".rejected_rows", import_id=record.id)
                               if queries.has_rejected_rows(record) else None))
    return jsonify(body)


@beneficiaries_api.get("/imports/<int:import_id>/rejected.xlsx")
@roles_required(*REJECTED_ROWS_READERS)
def rejected_rows(import_id: int) -> ResponseReturnValue:
    """Download the rejected rows of an import, with the reason on each row (audited).

    The workbook is stored sealed and decrypted chunk by chunk as it is sent.
    """
    found = queries.open_stored_file(request_session(), services().keyring(), import_id,
                                     StoredPart.REJECTED, actor=current_user().name)
    return Response(found.chunks, mimetype=XLSX_MIMETYPE, headers={
        "Content-Disposition": f"attachment; filename=import-{import_id}-rejected.xlsx"})


@beneficiaries_api.get("/templates/<any(vi, en):lang>.<any(csv, xlsx):fmt>")
@roles_required(*READERS)
def template(lang: str, fmt: str) -> ResponseReturnValue:
    """Download the list template with Vietnamese or English headers."""
    data, mimetype = ((template_xlsx(lang), XLSX_MIMETYPE) if fmt == "xlsx"
                      else (template_csv(lang), "text/csv; charset=utf-8"))
    return send_file(io.BytesIO(data), mimetype=mimetype, as_attachment=True,
                     download_name=f"beneficiary-list-template-{lang}.{fmt}")
