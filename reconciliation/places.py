"""Province and commune names for reports, and the check that a requested code exists.

Names come from the vietnam-provinces data the registry already validates against
(``beneficiaries.localities``): 34 provinces and 3,321 communes since 2025-07-01.
"""

from __future__ import annotations

from functools import cache

from beneficiaries.localities import commune_sets, province_names
from disburse.core.errors import ValidationFailed

#: How many known communes an error lists before saying how many more there are.
_LISTED_COMMUNES = 20


@cache
def commune_names() -> dict[str, str]:
    """Return the name of each 5-digit commune code (e.g. ``00004`` Phường Ba Đình)."""
    from vietnam_provinces import Ward

    return {f"{int(w.code):05d}": str(w.name) for w in Ward.iter_all()}


def check_place(province: str | None, commune: str | None) -> None:
    """Refuse a province or commune code that does not exist, naming the known ones.

    Args:
        province: A 2-digit province code, or None.
        commune: A 5-digit commune code, or None (of ``province`` when both are given).

    Raises:
        ValidationFailed: an unknown code; the message and ``errors`` name the parameter and
            list the known codes (all provinces; the province's communes, or a sample).
    """
    provinces = province_names()
    if province is not None and province not in provinces:
        known = ", ".join(f"{code} {name}" for code, name in provinces.items())
        raise ValidationFailed(
            f"province: unknown province code {province!r}; the known codes are: {known}",
            errors=[{"parameter": "province",
                     "messages": [f"unknown code {province!r}", f"known: {known}"]}])
    if commune is None:
        return
    sets = commune_sets()
    known_communes = sorted(sets[province]) if province else sorted(commune_names())
    if commune in (sets[province] if province else commune_names()):
        return
    where = f" of province {province}" if province else ""
    shown = ", ".join(f"{c} {commune_names()[c]}" for c in known_communes[:_LISTED_COMMUNES])
    more = len(known_communes) - _LISTED_COMMUNES
    listed = shown + (f" and {more} more" if more > 0 else "")
    raise ValidationFailed(
        f"commune: unknown commune code {commune!r}{where}; known codes: {listed}",
        errors=[{"parameter": "commune",
                 "messages": [f"unknown code {commune!r}{where}", f"known: {listed}"]}])


__all__ = ["check_place", "commune_names"]
