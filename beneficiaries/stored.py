"""What an import keeps on disk, sealed with the keyring: the original, rejected rows, report.

Each import has a private directory ``<store>/import-<id>/`` (mode 0700) holding at most:

- ``original<suffix>.sealed``: the file exactly as it was uploaded (evidence of what was
  imported; every citizen ID of the list is in it);
- ``rejected.xlsx.sealed``: the refused rows with the reason on each, for staff to fix;
- ``report.json.sealed``: the full import report (row findings quote dates and names, and the
  absent list names people).

All three are sealed files (``disburse.core.sealed_files``), each bound to its own field, so one
cannot be served as another. Imports stored before sealing may still hold the plaintext
names (``original.csv``, ``rejected.xlsx``, ``report.json``): they are read as they are, and
``seal_legacy`` seals them in place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any

from beneficiaries.importers import RawRow
from beneficiaries.models import ListImport
from beneficiaries.report import ImportReport, RowFinding, write_rejected_xlsx
from disburse.core.keyring import Keyring
from disburse.core.private_files import private_dir
from disburse.core.sealed_files import (
    CHUNK_SIZE,
    SUFFIX,
    SealedWriter,
    open_sealed,
    read_sealed_bytes,
    seal_bytes,
    seal_file,
)


class StoredPart(StrEnum):
    """A file an import keeps."""

    ORIGINAL = "original"
    REJECTED = "rejected"
    REPORT = "report"


_FIELDS = {StoredPart.ORIGINAL: "list_import.original",
           StoredPart.REJECTED: "list_import.rejected_rows",
           StoredPart.REPORT: "list_import.report"}
_PLAIN_NAMES = {StoredPart.REJECTED: "rejected.xlsx", StoredPart.REPORT: "report.json"}


def import_dir(store_dir: Path, import_id: int) -> Path:
    """Create (0700) and return the directory of one import's stored files."""
    return private_dir(store_dir / f"import-{import_id}")


def store_original(keyring: Keyring, target: Path, source: Path) -> Path:
    """Seal a copy of the uploaded file into the import's directory ``target``."""
    path = target / f"original{source.suffix.lower()}{SUFFIX}"
    seal_file(keyring, _FIELDS[StoredPart.ORIGINAL], source, path)
    return path


def store_report(keyring: Keyring, target: Path, report: ImportReport) -> None:
    """Seal the full report as JSON into the import's directory ``target``."""
    data = json.dumps(report.to_dict(), ensure_ascii=False, indent=1).encode("utf-8")
    seal_bytes(keyring, _FIELDS[StoredPart.REPORT], data, target / f"report.json{SUFFIX}")


def store_rejected(keyring: Keyring, target: Path, headers: dict[str, str],
                   rows: list[RawRow], findings: dict[int, list[RowFinding]]) -> None:
    """Write the rejected-rows workbook straight into a sealed file (no plaintext copy)."""
    path = target / f"rejected.xlsx{SUFFIX}"
    with SealedWriter(keyring, _FIELDS[StoredPart.REJECTED], path) as out:
        write_rejected_xlsx(out, headers, rows, findings)


def _find(record: ListImport, part: StoredPart) -> tuple[Path, bool] | None:
    """The stored file of ``part`` and whether it is sealed, or None when there is none."""
    if record.stored_dir is None:
        return None
    directory = Path(record.stored_dir)
    if part is StoredPart.ORIGINAL:
        candidates = sorted(directory.glob("original*"))
        sealed = [p for p in candidates if p.name.endswith(SUFFIX)]
        plain = [p for p in candidates if not p.name.endswith((SUFFIX, ".tmp"))]
        found = sealed or plain
        return (found[0], bool(sealed)) if found else None
    sealed_path = directory / f"{_PLAIN_NAMES[part]}{SUFFIX}"
    if sealed_path.is_file():
        return sealed_path, True
    plain_path = directory / _PLAIN_NAMES[part]
    return (plain_path, False) if plain_path.is_file() else None


def has_part(record: ListImport, part: StoredPart) -> bool:
    """Whether the import kept ``part``."""
    return _find(record, part) is not None


def download_name(record: ListImport, part: StoredPart) -> str:
    """The name a download of ``part`` is offered under (the suffix as stored)."""
    found = _find(record, part)
    name = found[0].name if found else _PLAIN_NAMES.get(part, "original")
    return f"import-{record.id}-{name.removesuffix(SUFFIX)}"


def open_part(keyring: Keyring, record: ListImport, part: StoredPart) -> Iterator[bytes] | None:
    """Open a stored file for streaming: its plaintext chunks, or None when it was not kept.

    The header is checked and the file key unwrapped before this returns, so a file that
    cannot be opened raises ``DecryptionFailed`` here, not half-way through a response.
    """
    found = _find(record, part)
    if found is None:
        return None
    path, sealed = found
    if sealed:
        return open_sealed(keyring, _FIELDS[part], path).chunks()
    return _plain_chunks(path)


def _plain_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while block := handle.read(CHUNK_SIZE):
            yield block


def read_report(keyring: Keyring, record: ListImport) -> dict[str, Any]:
    """The stored report of an import as data ({} when none was stored)."""
    found = _find(record, StoredPart.REPORT)
    if found is None:
        return {}
    path, sealed = found
    data = (read_sealed_bytes(keyring, _FIELDS[StoredPart.REPORT], path) if sealed
            else path.read_bytes())
    report: dict[str, Any] = json.loads(data.decode("utf-8"))
    return report


def seal_legacy(keyring: Keyring, directory: Path) -> int:
    """Seal the plaintext files of imports stored before sealing, in place; return how many.

    Each is sealed to its new name first and removed only then, so an interruption leaves
    either file readable.
    """
    done = 0
    for import_path in sorted(p for p in directory.glob("import-*") if p.is_dir()):
        private_dir(import_path)
        for plain in sorted(import_path.iterdir()):
            if plain.name.endswith((SUFFIX, ".tmp")):
                continue
            part = (StoredPart.ORIGINAL if plain.name.startswith("original")
                    else {v: k for k, v in _PLAIN_NAMES.items()}.get(plain.name))
            if part is None:
                continue
            seal_file(keyring, _FIELDS[part], plain, plain.with_name(plain.name + SUFFIX))
            plain.unlink()
            done += 1
    return done
