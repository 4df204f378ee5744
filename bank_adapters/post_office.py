"""Post-office cash adapter: export the signed cash list, import the paid/unpaid reports.

The post office exchanges files through folders, like a file-exchange bank (see
``bank_adapters.file_exchange`` for the layout and the atomic-write convention):

* ``outbox/``: the cash list XLSX of a province (one sheet per commune) with its ``.sig``
  and manifest, written by ``submit``;
* ``inbox/``: the paid/unpaid reports (XLSX or CSV with Vietnamese headers) the post office
  writes back, each with a ``.sig`` made with its registered key.

``fetch_returns`` hands the reports over unchanged, as bytes, for storage and signature
checking; reading them is reconciliation's concern (``reconciliation.parsers.post_office``,
reached through the one intake path, ``reconciliation.intake``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

from bank_adapters.file_exchange import FileExchangeAdapter
from bank_adapters.protocol import ReturnFile

#: Report types the post office sends back; anything else in its inbox is left alone.
REPORT_SUFFIXES: Final = (".xlsx", ".csv")


class PostOfficeAdapter(FileExchangeAdapter):
    """Folder exchange with the post office: cash lists out, paid/unpaid reports in."""

    def __init__(self, root: Path, bank_bin: str) -> None:
        """Create the adapter for the post office's exchange tree at ``root``."""
        super().__init__(root, bank_bin)

    def fetch_returns(self) -> list[ReturnFile]:
        """Return the paid/unpaid reports in the inbox (with their ``.sig`` when present)."""
        return [found for found in super().fetch_returns()
                if found.name.lower().endswith(REPORT_SUFFIXES)]


__all__ = ["REPORT_SUFFIXES", "PostOfficeAdapter"]
