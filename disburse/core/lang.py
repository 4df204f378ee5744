"""The language of the command line's text: Vietnamese by default, English on request.

``DISBURSE_LANG=vi|en`` chooses it (read on every call, so a test or a sub-process can set
it). Text output and one-line errors pick the words of that language; ``--json`` output and
the API's problem documents are machine contracts and stay as they are. The Vietnamese words
are those of ``GLOSSARY.md``.
"""

from __future__ import annotations

import os
from enum import StrEnum


class Lang(StrEnum):
    """A language the command line speaks."""

    VI = "vi"
    EN = "en"


#: The environment variable that chooses the language.
LANG_ENV = "DISBURSE_LANG"
DEFAULT_LANG = Lang.VI


def current_lang() -> Lang:
    """Return the language chosen by ``DISBURSE_LANG`` (Vietnamese when unset or unknown)."""
    value = os.environ.get(LANG_ENV, "").strip().lower()
    try:
        return Lang(value) if value else DEFAULT_LANG
    except ValueError:
        return DEFAULT_LANG


def pick(vi: str, en: str) -> str:
    """Return the Vietnamese or the English text of one message, in the current language."""
    return en if current_lang() is Lang.EN else vi


__all__ = ["DEFAULT_LANG", "LANG_ENV", "Lang", "current_lang", "pick"]
