"""Where a beneficiary is paid: bank account, e-wallet (by mobile number) or cash."""

from __future__ import annotations

import re
from functools import cache
from typing import Final

from beneficiaries.reference import Bank, BankKind, load_banks
from beneficiaries.rules._cells import DIGITS, clean_cell, looks_like_excel_number, show
from beneficiaries.rules.errors import RuleError
from beneficiaries.rules.text import bank_form

BIN_FIELD: Final = "bank_bin"
ACCOUNT_FIELD: Final = "account_number"
PHONE_FIELD: Final = "phone"
ACCOUNT_MIN_DIGITS: Final = 6
ACCOUNT_MAX_DIGITS: Final = 19

#: Vietnamese mobile numbers since the 2018 renumbering: 03x, 05x, 07x, 08x, 09x + 7 digits.
_MOBILE: Final = re.compile(r"0[35789][0-9]{8}")
_PHONE_SEPARATORS: Final = re.compile(r"[ .()-]")
_ACCOUNT_SEPARATORS: Final = re.compile(r"[ -]")
_COUNTRY_PREFIXES: Final = ("+84", "0084")
_BARE_COUNTRY_CODE: Final = "84"
_BARE_INTERNATIONAL_LENGTH: Final = 11
_CHANNEL_KIND: Final = {"bank": BankKind.BANK, "ewallet": BankKind.EWALLET}
_KIND_EN: Final = {BankKind.BANK: "a bank", BankKind.EWALLET: "an e-wallet"}
_KIND_VI: Final = {BankKind.BANK: "ngân hàng", BankKind.EWALLET: "ví điện tử"}
_CHANNEL_EN: Final = {"bank": "bank transfer", "ewallet": "e-wallet"}
_CHANNEL_VI: Final = {"bank": "chuyển khoản", "ewallet": "ví điện tử"}


def _mobile(raw: str) -> tuple[str | None, bool]:
    """Return (number, lost_zero): the 0xxxxxxxxx form, or None and whether a 0 was dropped."""
    text = _PHONE_SEPARATORS.sub("", clean_cell(raw).removeprefix("'"))
    for prefix in _COUNTRY_PREFIXES:
        if text.startswith(prefix):
            # "+84 0912..." happens: the trunk 0 written after the country code.
            text = "0" + text[len(prefix):].removeprefix("0")
    if text.startswith(_BARE_COUNTRY_CODE) and len(text) == _BARE_INTERNATIONAL_LENGTH:
        text = "0" + text[len(_BARE_COUNTRY_CODE):]
    if _MOBILE.fullmatch(text):
        return text, False
    return None, bool(_MOBILE.fullmatch("0" + text))


def normalize_phone(raw: str | None) -> tuple[str | None, list[RuleError]]:
    """Normalise a Vietnamese mobile number to ten digits starting with 0.

    Spaces, dots, dashes and brackets are separators; ``+84``, ``0084`` and a bare ``84`` are
    replaced by 0. A blank cell is not a finding (the phone column is optional).

    Args:
        raw: The cell value.

    Returns:
        The number (None if blank or invalid) and the findings: ``phone_leading_zero_lost``
        (nine digits that are a mobile number without its 0), ``phone_shape``.
    """
    if raw is None or not clean_cell(raw):
        return None, []
    number, lost_zero = _mobile(raw)
    if number is not None:
        return number, []
    if lost_zero:
        return None, [RuleError(
            "phone_leading_zero_lost", PHONE_FIELD,
            "The phone number has 9 digits: its leading 0 was probably lost (Excel drops it).",
            "Số điện thoại chỉ có 9 chữ số: có lẽ đã mất số 0 ở đầu (Excel tự bỏ số 0).",
        )]
    return None, [RuleError(
        "phone_shape", PHONE_FIELD,
        "The phone number is not a Vietnamese mobile number (10 digits starting with 0).",
        "Số điện thoại không phải số di động Việt Nam (10 chữ số, bắt đầu bằng 0).",
    )]


def validate_payment_target(
    channel: str, bank_bin: str | None, account: str | None
) -> tuple[str | None, str | None, list[RuleError]]:
    """Check the bank or e-wallet details a channel needs.

    ``bank`` needs a known bank BIN and an account of 6-19 digits (spaces and dashes are
    separators; leading zeros are kept). ``ewallet`` needs a known e-wallet BIN and a wallet
    number that is a Vietnamese mobile number. ``cash`` needs neither and ignores both. A BIN
    may also be given as the bank's code or short name ("VCB", "Vietcombank").

    Args:
        channel: ``"bank"``, ``"ewallet"`` or ``"cash"`` (from ``parse_channel``).
        bank_bin: The bank cell.
        account: The account or wallet number cell.

    Returns:
        ``(bin, account, findings)``; bin and account are None unless valid. Findings:
        ``channel_unknown``, ``bin_missing``, ``bin_unknown``, ``bin_wrong_channel``,
        ``account_missing``, ``account_shape``, ``wallet_shape``.
    """
    if channel == "cash":
        return None, None, []
    if channel not in _CHANNEL_KIND:
        return None, None, [RuleError(
            "channel_unknown", "channel",
            f"Unknown payment channel {show(channel)}.",
            f"Hình thức nhận {show(channel)} không hợp lệ.",
        )]
    bin_value, errors = _resolve_bin(bank_bin, channel)
    if channel == "bank":
        number, account_errors = _bank_account(account)
    else:
        number, account_errors = _wallet(account)
    return bin_value, number, errors + account_errors


@cache
def _bins_by_name() -> dict[str, str]:
    """Map each bank's code and short name (bank form, no spaces) to its BIN.

    A name shared by two BINs is left out: better a finding than a payment to the wrong bank.
    """
    found: dict[str, set[str]] = {}
    for bank in load_banks().values():
        for name in (bank.code, bank.short_name):
            found.setdefault(bank_form(name).replace(" ", ""), set()).add(bank.bin)
    return {name: bins.pop() for name, bins in found.items() if len(bins) == 1}


def _find_bank(text: str) -> Bank | None:
    """The bank named by a BIN, a code or a short name."""
    banks = load_banks()
    if DIGITS.fullmatch(text):
        return banks.get(text)
    bin_value = _bins_by_name().get(bank_form(text).replace(" ", ""))
    return banks.get(bin_value) if bin_value else None


def _resolve_bin(raw: str | None, channel: str) -> tuple[str | None, list[RuleError]]:
    """Find the BIN and check that its kind fits the channel."""
    text = clean_cell(raw or "").removeprefix("'")
    if not text:
        return None, [RuleError(
            "bin_missing", BIN_FIELD,
            f"A bank or e-wallet code is required for {_CHANNEL_EN[channel]}.",
            f"Cần mã ngân hàng hoặc ví điện tử cho hình thức {_CHANNEL_VI[channel]}.",
        )]
    bank = _find_bank(text)
    if bank is None:
        return None, [RuleError(
            "bin_unknown", BIN_FIELD,
            f"{show(text)} is not a known bank BIN or bank code.",
            f"{show(text)} không phải là mã BIN hoặc mã ngân hàng đã biết.",
        )]
    if bank.kind is not _CHANNEL_KIND[channel]:
        return None, [RuleError(
            "bin_wrong_channel", BIN_FIELD,
            f"{bank.bin} ({bank.short_name}) is {_KIND_EN[bank.kind]}, but the channel is "
            f"{_CHANNEL_EN[channel]}.",
            f"{bank.bin} ({bank.short_name}) là {_KIND_VI[bank.kind]}, nhưng hình thức nhận là "
            f"{_CHANNEL_VI[channel]}.",
        )]
    return bank.bin, []


def _account_missing(channel: str) -> RuleError:
    return RuleError(
        "account_missing", ACCOUNT_FIELD,
        f"An account or wallet number is required for {_CHANNEL_EN[channel]}.",
        f"Cần số tài khoản hoặc số ví cho hình thức {_CHANNEL_VI[channel]}.",
    )


def _bank_account(raw: str | None) -> tuple[str | None, list[RuleError]]:
    """A bank account number: 6-19 digits kept as text."""
    text = clean_cell(raw or "").removeprefix("'")
    if not text:
        return None, [_account_missing("bank")]
    number = _ACCOUNT_SEPARATORS.sub("", text)
    if DIGITS.fullmatch(number) and ACCOUNT_MIN_DIGITS <= len(number) <= ACCOUNT_MAX_DIGITS:
        return number, []
    excel_en, excel_vi = "", ""
    if looks_like_excel_number(text):
        excel_en = " Excel stored it as a number; format the column as Text and type it again."
        excel_vi = " Excel đã lưu dưới dạng số; hãy định dạng cột là Văn bản (Text) và nhập lại."
    return None, [RuleError(
        "account_shape", ACCOUNT_FIELD,
        f"A bank account number must have {ACCOUNT_MIN_DIGITS}-{ACCOUNT_MAX_DIGITS} digits."
        + excel_en,
        f"Số tài khoản ngân hàng phải có từ {ACCOUNT_MIN_DIGITS} đến {ACCOUNT_MAX_DIGITS} "
        "chữ số." + excel_vi,
    )]


def _wallet(raw: str | None) -> tuple[str | None, list[RuleError]]:
    """An e-wallet number: the holder's Vietnamese mobile number."""
    if raw is None or not clean_cell(raw):
        return None, [_account_missing("ewallet")]
    number, lost_zero = _mobile(raw)
    if number is not None:
        return number, []
    zero_en = " Its leading 0 was probably lost (Excel drops it)." if lost_zero else ""
    zero_vi = " Có lẽ đã mất số 0 ở đầu (Excel tự bỏ số 0)." if lost_zero else ""
    return None, [RuleError(
        "wallet_shape", ACCOUNT_FIELD,
        "An e-wallet number must be a Vietnamese mobile number (10 digits starting with 0)."
        + zero_en,
        "Số ví điện tử phải là số di động Việt Nam (10 chữ số, bắt đầu bằng 0)." + zero_vi,
    )]
