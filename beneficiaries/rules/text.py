"""Names: normal forms, the bank form, holder-name comparison."""

from __future__ import annotations

import re
import unicodedata
from difflib import SequenceMatcher
from functools import lru_cache
from typing import Final

from beneficiaries.rules._cells import INVISIBLE
from beneficiaries.rules.errors import RuleError, Severity

#: Longest full name accepted; real Vietnamese names are far shorter.
MAX_NAME_LENGTH: Final = 100

#: Letters with no Unicode decomposition, so stripping marks alone would drop them, mapped to
#: the ASCII that banks and passports write for them. đ/Đ above all; Ð/ð (eth) come from
#: legacy Vietnamese encodings (VNI, TCVN3) that borrowed the Icelandic letter for Đ; the rest
#: are the Latin letters of foreign-born beneficiaries' names. Curly apostrophes become ``'``.
_TRANSLITERATIONS: Final = str.maketrans({
    "đ": "d", "Đ": "D", "ð": "d", "Ð": "D", "ø": "o", "Ø": "O", "æ": "ae", "Æ": "AE",
    "œ": "oe", "Œ": "OE", "ł": "l", "Ł": "L", "þ": "th", "Þ": "TH", "ı": "i",
    "\u2018": "'", "\u2019": "'", "\u02bc": "'",
})
#: What a bank form may hold: upper-case letters, digits, space and the punctuation of the
#: SWIFT/EPC Latin character set that pain.001 names are restricted to by banks.
BANK_FORM_PUNCTUATION: Final = "'-.,()/+?:"
_NOT_BANK_FORM: Final = re.compile(r"[^A-Z0-9 '\-.,()/+?:]+")
#: ASCII control characters that are not whitespace (``str.split`` handles the rest).
_CONTROLS: Final = re.compile(r"[\x00-\x08\x0e-\x1b\x7f]")
#: A name may hold letters, spaces, dots, hyphens and apostrophes (Ê Đê names: H'Hen Niê).
_NAME_BAD_CHARS: Final = re.compile(r"[^\w '’.\-]|[\d_]")
#: Banks drop apostrophes from holder names and treat other punctuation as a break.
_APOSTROPHES: Final = re.compile(r"['`]")
_NOT_ALNUM: Final = re.compile(r"[^A-Z0-9]+")


def normalize_name(s: str) -> str:
    """Return a name in its stored form: NFC, invisible marks removed, whitespace collapsed.

    Args:
        s: The name as read from a cell (may be NFD from a Mac, hold no-break spaces, ...).

    Returns:
        The name with single spaces between words and none at either end.
    """
    if not s.isascii():
        s = INVISIBLE.sub("", unicodedata.normalize("NFC", s))
    return " ".join(s.split())


def validate_name(raw: str, *, field: str = "full_name") -> tuple[str | None, list[RuleError]]:
    """Normalise a person's name and check that it looks like one.

    Args:
        raw: The cell value.
        field: The list column, for the error (``full_name`` or ``account_holder``).

    Returns:
        The NFC name (None when empty) and the findings: ``name_empty``, ``name_characters``
        (digits or symbols), ``name_too_long``.
    """
    name = normalize_name(raw)
    if not name:
        return None, [RuleError("name_empty", field, "The name is empty.", "Họ tên bị trống.")]
    errors: list[RuleError] = []
    bad = _NAME_BAD_CHARS.findall(name)
    if bad:
        chars = " ".join(sorted(set(bad)))
        errors.append(RuleError(
            "name_characters", field,
            f"The name contains characters that are not letters: {chars}",
            f"Họ tên chứa ký tự không phải chữ cái: {chars}",
        ))
    if len(name) > MAX_NAME_LENGTH:
        errors.append(RuleError(
            "name_too_long", field,
            f"The name has {len(name)} characters; at most {MAX_NAME_LENGTH} are allowed.",
            f"Họ tên dài {len(name)} ký tự; tối đa {MAX_NAME_LENGTH} ký tự.",
        ))
    return name, errors


@lru_cache(maxsize=1 << 16)  # names repeat across a list and a national batch
def bank_form(s: str) -> str:
    """Return the upper-case ASCII form banks use for account names (the one bank-name rule).

    Used for the names a bank profile with ``ascii_upper_names`` gets in its payment files, and
    for comparing names with account holders. Steps: letters with no decomposition are
    transliterated (đ/Đ -> D, Ø -> O, Æ -> AE, curly apostrophes -> ``'``, see
    ``_TRANSLITERATIONS``); the text is decomposed with NFKD, which also folds full-width
    letters, ligatures and other compatibility forms (``Ｎ`` -> N, ``ﬁ`` -> FI); everything
    still outside ASCII, the combining marks above all, is dropped (a script with no ASCII form,
    e.g. Chinese, leaves nothing); control characters are dropped; any other character outside
    ``A-Z 0-9 space`` and ``BANK_FORM_PUNCTUATION`` becomes a space; whitespace is collapsed.

    Args:
        s: Any text, typically a Vietnamese name in NFC or NFD.

    Returns:
        ASCII upper case, e.g. ``"Nguyễn Thị Đào"`` -> ``"NGUYEN THI DAO"``, possibly empty.
    """
    if not s.isascii():
        # upper() before NFKD: a few capitals (e.g. of ǰ) only exist as letter + mark.
        decomposed = unicodedata.normalize("NFKD", s.translate(_TRANSLITERATIONS).upper())
        # again after NFKD: a letter + mark can decompose to one of them (Ǿ -> Ø + acute)
        s = decomposed.translate(_TRANSLITERATIONS).encode("ascii", "ignore").decode("ascii")
    if not s.isprintable():  # cheap test first: control characters are rare
        s = _CONTROLS.sub("", s)
    # upper() again after folding: NFKD can yield lower-case ASCII (ª -> a).
    return " ".join(_NOT_BANK_FORM.sub(" ", s.upper()).split())


@lru_cache(maxsize=1 << 16)  # names repeat across a list; the key is a pure function
def _compare_key(name: str) -> str:
    """Bank form without punctuation: what a bank keeps of a holder name."""
    return " ".join(_NOT_ALNUM.sub(" ", _APOSTROPHES.sub("", bank_form(name))).split())


def compare_holder_name(full_name: str, holder: str) -> list[RuleError]:
    """Compare the beneficiary's name with the bank account holder's name.

    Equal in bank form (case, diacritics and punctuation ignored) is a match. The same words
    in another order ("Văn A Nguyễn") is flagged for review. Anything else is an error; the
    similarity ratio in its message helps the reviewer but never turns it into an accept.
    A blank name on either side gives no finding: emptiness is reported by ``validate_name``.

    Args:
        full_name: The beneficiary's full name.
        holder: The account holder's name from the list.

    Returns:
        No finding, a review ``holder_name_token_order`` or an error ``holder_name_mismatch``.
    """
    if full_name == holder:  # equal texts have equal keys: no finding, whatever they are
        return []
    expected, given = _compare_key(full_name), _compare_key(holder)
    if not expected or not given or expected == given:
        return []
    if sorted(expected.split()) == sorted(given.split()):
        return [RuleError(
            "holder_name_token_order", "account_holder",
            "The account holder's name has the same words as the full name in another order.",
            "Tên chủ tài khoản có cùng các từ với họ tên nhưng theo thứ tự khác.",
            Severity.REVIEW,
        )]
    percent = round(100 * SequenceMatcher(None, expected, given, autojunk=False).ratio())
    return [RuleError(
        "holder_name_mismatch", "account_holder",
        f"The account holder's name does not match the full name ({percent}% similar).",
        f"Tên chủ tài khoản không khớp với họ tên (giống {percent}%).",
    )]
