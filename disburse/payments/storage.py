"""Where signed payment files live on disk, beside their signature and manifest.

One home for the layout, so the writer's callers, the downloads, the outbox and the bank API
find the same files: ``<data_dir>/payment_files/<batch_id>/<file_name>``.
"""

from __future__ import annotations

from pathlib import Path

from disburse.payments.models import PaymentFile


def payment_files_root(data_dir: Path) -> Path:
    """Return where signed payment files live: ``<data_dir>/payment_files/<batch_id>/``."""
    return data_dir / "payment_files"


def payment_file_path(payment_file: PaymentFile, files_root: Path) -> Path:
    """Return the path of a recorded payment file.

    ``file_name`` is taken as is when absolute, else under ``<files_root>/<batch_id>/``.
    """
    name = Path(payment_file.file_name)
    return name if name.is_absolute() else files_root / str(payment_file.batch_id) / name


__all__ = ["payment_file_path", "payment_files_root"]
