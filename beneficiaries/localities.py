"""Administrative units since 2025-07-01: 34 provinces and 3,321 communes (two tiers).

Codes come from the vietnam-provinces package; provinces are written as 2-digit strings and
communes as 5-digit strings, as in lists and in the population registry.
"""

from __future__ import annotations

from functools import cache

from vietnam_provinces import Province, Ward


def province_code_of(value: int) -> str:
    """Return a 2025 province code as the 2-digit string used in lists and the registry."""
    return f"{int(value):02d}"


@cache
def load_communes() -> dict[str, tuple[str, ...]]:
    """Return the 2025 communes (5-digit codes, sorted) of each of the 34 provinces."""
    communes: dict[str, list[str]] = {
        province_code_of(province.code): [] for province in Province.iter_all()
    }
    for ward in Ward.iter_all():
        communes[province_code_of(ward.province_code)].append(f"{int(ward.code):05d}")
    return {code: tuple(sorted(codes)) for code, codes in sorted(communes.items())}


@cache
def commune_sets() -> dict[str, frozenset[str]]:
    """Return the set of 5-digit commune codes of each 2-digit province code (one lookup
    answers both ``is_known_province`` and ``is_commune_of``)."""
    return {code: frozenset(codes) for code, codes in load_communes().items()}


_commune_sets = commune_sets


@cache
def province_names() -> dict[str, str]:
    """Return the 34 province names by 2-digit code."""
    return {province_code_of(p.code): str(p.name) for p in Province.iter_all()}


def is_known_province(code: str) -> bool:
    """Return whether ``code`` is one of the 34 post-2025 province codes."""
    return code in _commune_sets()


def is_commune_of(province: str, commune: str) -> bool:
    """Return whether ``commune`` is a post-2025 commune of ``province``."""
    return commune in _commune_sets().get(province, frozenset())
