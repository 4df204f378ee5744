"""Cashless targets: the shipped default percentages, a file that overrides them, progress."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from disburse.core.errors import ConfigurationError

#: The dimensions a report may be grouped by, in display order.
#: The packaged targets; ``DISBURSE_TARGETS_FILE`` names another file of the same shape.
DEFAULT_TARGETS_FILE: Final = Path(__file__).resolve().parent.parent / "targets_default.json"
#: The rates a target may be set for (in percent in the file).
TARGET_RATES: Final = ("cashless_rate_count", "cashless_rate_amount",
                       "account_holder_cashless_rate", "account_coverage")


@dataclass(frozen=True)
class Targets:
    """Target rates in percent: a default and per-province overrides."""

    default: dict[str, float]
    provinces: dict[str, dict[str, float]]
    source: str

    def for_province(self, province: str | None) -> dict[str, float]:
        """Return the targets that apply to ``province`` (the default where not overridden)."""
        return {**self.default, **self.provinces.get(province or "", {})}


def _percentages(where: str, given: Any) -> dict[str, float]:
    if not isinstance(given, Mapping):
        raise ConfigurationError(f"targets: {where} must be an object of percentages")
    out: dict[str, float] = {}
    for name, value in given.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if name not in TARGET_RATES or not ok or not 0 <= value <= 100:
            raise ConfigurationError(f"targets: {where}.{name} must be one of "
                                     f"{', '.join(TARGET_RATES)} with a percentage 0-100")
        out[str(name)] = float(value)
    return out


def parse_targets(data: Any, source: str = "<data>") -> Targets:
    """Return the targets in ``data`` (``{"default": {...}, "provinces": {"01": {...}}}``).

    Raises:
        ConfigurationError: a missing default, an unknown rate or a value outside 0-100.
    """
    if not isinstance(data, Mapping) or "default" not in data:
        raise ConfigurationError(f"targets: {source} needs a 'default' object")
    provinces = data.get("provinces") or {}
    if not isinstance(provinces, Mapping):
        raise ConfigurationError("targets: 'provinces' must map province codes to objects")
    return Targets(_percentages("default", data["default"]),
                   {str(code): _percentages(f"provinces.{code}", values)
                    for code, values in provinces.items()}, source)


def load_targets(path: Path | None = None) -> Targets:
    """Read the targets from ``path``, ``$DISBURSE_TARGETS_FILE`` or the packaged default.

    Raises:
        ConfigurationError: the file cannot be read or is not valid (see ``parse_targets``).
    """
    chosen = path or Path(os.environ.get("DISBURSE_TARGETS_FILE") or DEFAULT_TARGETS_FILE)
    try:
        data = json.loads(chosen.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigurationError(f"targets: cannot read {chosen}: {error}") from None
    return parse_targets(data, str(chosen))


def progress_against(target: Mapping[str, float],
                     rates: Mapping[str, float | None]) -> list[dict[str, Any]]:
    """Return, per targeted rate, the target (a fraction), the actual rate and whether it is met.

    ``met`` and ``gap`` are None when the group has no rate (nothing to divide by).
    """
    progress = []
    for name in TARGET_RATES:
        if name not in target:
            continue
        wanted, actual = target[name] / 100, rates.get(name)
        progress.append({"rate": name, "target": wanted, "actual": actual,
                         "met": None if actual is None else actual >= wanted - 1e-12,
                         "gap": None if actual is None else max(0.0, wanted - actual)})
    return progress
