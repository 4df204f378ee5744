"""Money is an integer number of dong everywhere; VND has no minor unit."""

from __future__ import annotations

from typing import NewType

Dong = NewType("Dong", int)


def dong(value: int) -> Dong:
    """Return ``value`` as dong, refusing anything that is not a positive ``int``.

    Raises:
        TypeError: for floats, Decimals, bools and strings: money never passes through them.
        ValueError: for zero or negative amounts.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amounts are whole dong as int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"amount must be positive, got {value}")
    return Dong(value)


def format_vnd(amount: int) -> str:
    """Format ``amount`` the Vietnamese way: 1.500.000 ₫."""
    return f"{amount:,}".replace(",", ".") + " ₫"
