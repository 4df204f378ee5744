"""Bank names beside BINs in the command line's text output.

A BIN alone (``970436``) means nothing to most staff: the name comes from the registered
banks first (the name the department gave it), then from the Vietnamese bank table shipped
in ``beneficiaries.reference``; a BIN in neither prints alone.
"""

from __future__ import annotations

from collections.abc import Mapping

from beneficiaries.reference import load_banks


def bank_label(bank_bin: str | None, registered: Mapping[str, str] | None = None) -> str:
    """Return ``BIN (short name)`` for ``bank_bin``; ``-`` when there is none."""
    if not bank_bin:
        return "-"
    name = (registered or {}).get(bank_bin)
    if name is None:
        known = load_banks().get(bank_bin)
        name = known.short_name if known is not None else None
    return f"{bank_bin} ({name})" if name else bank_bin


__all__ = ["bank_label"]
