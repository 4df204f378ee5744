"""Plain data the payment-file writers work on: lines, the file header and a bank's profile.

These are deliberately free of the database: the batch service turns its rows into
``PaymentLine`` objects (in a stream) and hands them to a writer. Every field is checked when an
object is built, so a writer never meets a value the XML schema or a bank would refuse
(length limits, characters XML 1.0 cannot carry, non-integer money).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import BinaryIO, Literal

from beneficiaries.rules import bank_form
from disburse.core.errors import DomainError
from disburse.core.signing import SignatureAlg

PAIN001_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.09"
CURRENCY = "VND"
# ISO ExternalPurpose1Code values used per line: pension payment, benefit (unemployment,
# disability, social allowance).
PURPOSE_CODES = frozenset({"PENS", "BENE"})
# ISO ExternalCategoryPurpose1Code values that fit a social-security disbursement.
CATEGORY_PURPOSE_CODES = frozenset({"PENS", "SSBE", "GOVT", "BENE"})
# Keys a CSV bank layout may pick its columns from (see ``csv_layout``).
CSV_COLUMN_KEYS = frozenset({
    "end_to_end_id", "amount", "currency", "creditor_name", "creditor_account",
    "creditor_bin", "creditor_bic", "purpose", "remittance", "province_code",
    "commune_code", "phone", "msg_id", "execution_date", "debtor_account",
})
# The largest amount and control sum the schema accepts (xs:decimal, totalDigits 18).
MAX_SCHEMA_AMOUNT = 10**18 - 1

# XML 1.0 cannot carry C0 controls (tab/newline are legal XML but break one-line bank fields),
# DEL, lone surrogates or the two non-characters; refusing them here keeps every writer simple.
_FORBIDDEN_CHARS = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_BIN = re.compile(r"[0-9]{6}")
_BIC = re.compile(r"[A-Z0-9]{4}[A-Z]{2}[A-Z0-9]{2}([A-Z0-9]{3})?")


class Layout(StrEnum):
    """The file layout a bank accepts."""

    PAIN001 = "pain001"
    CSV = "csv"


class PaymentFileTotalsError(DomainError):
    """The lines written do not add up to the count and sum announced in the file header.

    The file on disk is then wrong and the caller must discard it; this breaks invariant 3.
    """

    status = 500
    code = "payment_file_totals_mismatch"
    title = "Payment file totals do not match"
    title_vi = "Tổng của tệp chi trả không khớp"

    def __init__(self, *, expected_count: int, expected_sum: int, count: int, total: int) -> None:
        super().__init__(
            f"file announces {expected_count} transactions summing to {expected_sum} dong, "
            f"but {count} transactions summing to {total} dong were written",
            expected_count=expected_count, expected_sum=expected_sum, count=count, total=total,
        )
        self.expected_count = expected_count
        self.expected_sum = expected_sum
        self.count = count
        self.total = total


def _check_text(field: str, value: str, max_len: int) -> None:
    if not isinstance(value, str) or not 1 <= len(value) <= max_len:
        raise ValueError(f"{field} must be a string of 1 to {max_len} characters: {value!r}")
    if _FORBIDDEN_CHARS.search(value):
        raise ValueError(f"{field} holds a control character or non-character: {value!r}")


def _check_optional_text(field: str, value: str | None, max_len: int) -> None:
    if value is not None:
        _check_text(field, value, max_len)


def _check_bin(field: str, value: str) -> None:
    if not isinstance(value, str) or not _BIN.fullmatch(value):
        raise ValueError(f"{field} must be a 6-digit NAPAS BIN: {value!r}")


def _check_bic(field: str, value: str | None) -> None:
    if value is not None and (not isinstance(value, str) or not _BIC.fullmatch(value)):
        raise ValueError(f"{field} is not a BIC (8 or 11 upper-case characters): {value!r}")


#: BINs and BICs already found well-formed: a national batch names a few dozen banks a million
#: times, so each distinct code is matched once (at most ``_KNOWN_CODES_CAP`` are remembered).
_KNOWN_CODES: set[tuple[str | None, str | None]] = set()
_KNOWN_CODES_CAP = 4096


def _check_bank_codes(bin_code: str, bic: str | None) -> None:
    """Check a line's BIN and BIC, matching each distinct well-formed pair only once."""
    if (bin_code, bic) in _KNOWN_CODES:
        return
    _check_bin("creditor_bin", bin_code)
    _check_bic("creditor_bic", bic)
    if len(_KNOWN_CODES) < _KNOWN_CODES_CAP:
        _KNOWN_CODES.add((bin_code, bic))


def check_amount(value: int) -> None:
    """Refuse anything that is not a positive whole number of dong within the schema's range.

    Raises:
        TypeError: for floats, Decimals, bools and strings.
        ValueError: for zero, negative or out-of-range amounts.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"amounts are whole dong as int, got {type(value).__name__}")
    if not 0 < value <= MAX_SCHEMA_AMOUNT:
        raise ValueError(f"amount must be between 1 and {MAX_SCHEMA_AMOUNT} dong, got {value}")


@dataclass(frozen=True, slots=True)
class PaymentLine:
    """One credit transfer (or one cash payment) to one beneficiary.

    Attributes:
        end_to_end_id: the deterministic id the bank echoes back (at most 35 characters).
        amount: whole dong, greater than zero.
        creditor_name: the beneficiary's name in NFC, as registered.
        creditor_account: account or wallet number; a string so leading zeros survive.
        creditor_bin: the 6-digit NAPAS BIN of the beneficiary's bank.
        creditor_bic: the bank's BIC when known (preferred over the BIN in pain.001).
        purpose: ISO purpose code, ``PENS`` or ``BENE``.
        remittance: unstructured remittance text, e.g. ``pension 2026-11`` (at most 140).
        province_code: the province code of the beneficiary's address.
        commune_code: the commune code (groups the post-office cash list).
        citizen_id_masked: masked CCCD showing at most its last 4 digits, e.g.
            ``********4567``, only for the cash list: with the name and date of birth it lets
            the post office check the recipient's card without the list revealing the ID.
        phone: phone number for the cash list, if known.
    """

    end_to_end_id: str
    amount: int
    creditor_name: str
    creditor_account: str
    creditor_bin: str
    creditor_bic: str | None
    purpose: Literal["PENS", "BENE"]
    remittance: str
    province_code: str
    commune_code: str
    citizen_id_masked: str | None = None
    phone: str | None = None

    def __post_init__(self) -> None:
        """Check every field so writers can trust the object.

        The usual line (every text a string of allowed length and characters) is recognised
        with one search over all its texts and its other fields are checked in the usual order;
        any other line goes through every check field by field, which says what is wrong first.
        """
        e2e, name, account = self.end_to_end_id, self.creditor_name, self.creditor_account
        remittance, province, commune = self.remittance, self.province_code, self.commune_code
        if not (type(e2e) is str and type(name) is str and type(account) is str
                and type(remittance) is str and type(province) is str
                and type(commune) is str and 0 < len(e2e) <= 35 and 0 < len(name) <= 140
                and 0 < len(account) <= 34 and 0 < len(remittance) <= 140
                and 0 < len(province) <= 35 and 0 < len(commune) <= 35
                and _FORBIDDEN_CHARS.search(
                    f"{e2e}{name}{account}{remittance}{province}{commune}") is None):
            self._check_field_by_field()
            return
        check_amount(self.amount)
        if not unicodedata.is_normalized("NFC", name):
            raise ValueError(f"creditor_name must be NFC: {name!r}")
        _check_bank_codes(self.creditor_bin, self.creditor_bic)
        if self.purpose not in PURPOSE_CODES:
            raise ValueError(f"purpose must be one of {sorted(PURPOSE_CODES)}: {self.purpose!r}")
        _check_optional_text("citizen_id_masked", self.citizen_id_masked, 35)
        _check_optional_text("phone", self.phone, 35)

    def _check_field_by_field(self) -> None:
        """Check every field in turn; raise for the first that is wrong."""
        _check_text("end_to_end_id", self.end_to_end_id, 35)
        check_amount(self.amount)
        _check_text("creditor_name", self.creditor_name, 140)
        if not unicodedata.is_normalized("NFC", self.creditor_name):
            raise ValueError(f"creditor_name must be NFC: {self.creditor_name!r}")
        _check_text("creditor_account", self.creditor_account, 34)
        _check_bin("creditor_bin", self.creditor_bin)
        _check_bic("creditor_bic", self.creditor_bic)
        if self.purpose not in PURPOSE_CODES:
            raise ValueError(f"purpose must be one of {sorted(PURPOSE_CODES)}: {self.purpose!r}")
        _check_text("remittance", self.remittance, 140)
        _check_text("province_code", self.province_code, 35)
        _check_text("commune_code", self.commune_code, 35)
        _check_optional_text("citizen_id_masked", self.citizen_id_masked, 35)
        _check_optional_text("phone", self.phone, 35)


@dataclass(frozen=True)
class FileHeader:
    """What one payment file says about itself and the paying account.

    Attributes:
        msg_id: unique message id (at most 35 characters); the bank's idempotency key.
        created_at: timezone-aware creation time; written in UTC without microseconds.
        initiating_party_name: the labour department sending the file.
        initiating_party_id: its identifier with the bank.
        debtor_name: the paying account's holder.
        debtor_account: the paying account number.
        debtor_bin: the paying bank's NAPAS BIN.
        debtor_bic: the paying bank's BIC when known.
        requested_execution_date: the business date the bank should pay on.
        batch_id: the payment batch the file belongs to.
        payment_info_id: the PmtInfId of the (single) payment information block.
        category_purpose: ISO category purpose code: PENS, SSBE, GOVT or BENE.
        currency: always ``VND``.
    """

    msg_id: str
    created_at: datetime
    initiating_party_name: str
    initiating_party_id: str
    debtor_name: str
    debtor_account: str
    debtor_bin: str
    debtor_bic: str | None
    requested_execution_date: date
    batch_id: str
    payment_info_id: str
    category_purpose: str = "SSBE"
    currency: str = CURRENCY

    def __post_init__(self) -> None:
        """Refuse a header the schema or the bank would reject."""
        _check_text("msg_id", self.msg_id, 35)
        if self.created_at.tzinfo is None or self.created_at.utcoffset() is None:
            raise ValueError("created_at must be timezone-aware")
        for field, value in (("initiating_party_name", self.initiating_party_name),
                             ("debtor_name", self.debtor_name)):
            _check_text(field, value, 140)
        for field, value in (("initiating_party_id", self.initiating_party_id),
                             ("batch_id", self.batch_id),
                             ("payment_info_id", self.payment_info_id)):
            _check_text(field, value, 35)
        _check_text("debtor_account", self.debtor_account, 34)
        _check_bin("debtor_bin", self.debtor_bin)
        _check_bic("debtor_bic", self.debtor_bic)
        if self.category_purpose not in CATEGORY_PURPOSE_CODES:
            raise ValueError(f"category_purpose must be one of {sorted(CATEGORY_PURPOSE_CODES)}")
        if self.currency != CURRENCY:
            raise ValueError(f"only {CURRENCY} is paid, got {self.currency!r}")

    def created_at_text(self) -> str:
        """Return ``created_at`` as ISO 8601 in UTC with offset and without microseconds."""
        utc = self.created_at.astimezone(UTC).replace(microsecond=0)
        return utc.isoformat()


@dataclass(frozen=True)
class BankProfile:
    """How one bank wants its payment files.

    Attributes:
        name: the profile's name (usually the bank's short name).
        layout: ``pain001`` or ``csv``.
        ascii_upper_names: write creditor names upper-case without diacritics.
        max_tx_per_file: the most transactions the bank accepts in one file, if limited.
        signature_alg: the detached-signature algorithm the bank verifies.
        csv_columns: for the CSV layout, the column keys in order (see ``CSV_COLUMN_KEYS``).
        csv_delimiter: for the CSV layout, the one-character delimiter.
    """

    name: str
    layout: Layout = Layout.PAIN001
    ascii_upper_names: bool = False
    max_tx_per_file: int | None = None
    signature_alg: SignatureAlg = SignatureAlg.ED25519
    csv_columns: tuple[str, ...] = ()
    csv_delimiter: str = ","

    def __post_init__(self) -> None:
        """Normalise the enums and refuse columns or limits no writer understands."""
        object.__setattr__(self, "layout", Layout(self.layout))
        object.__setattr__(self, "signature_alg", SignatureAlg(self.signature_alg))
        unknown = [key for key in self.csv_columns if key not in CSV_COLUMN_KEYS]
        if unknown:
            raise ValueError(f"unknown CSV column keys {unknown}; choose from "
                             f"{sorted(CSV_COLUMN_KEYS)}")
        if self.layout is Layout.CSV and not self.csv_columns:
            raise ValueError("a CSV profile needs csv_columns")
        if len(self.csv_delimiter) != 1 or self.csv_delimiter in "\"'\r\n":
            raise ValueError(f"csv_delimiter must be one plain character: {self.csv_delimiter!r}")
        if self.max_tx_per_file is not None and self.max_tx_per_file < 1:
            raise ValueError("max_tx_per_file must be at least 1")

    def bank_name(self, name: str) -> str:
        """Return ``name`` in the form this bank wants it written."""
        return bank_form(name) if self.ascii_upper_names else name


@dataclass(frozen=True, slots=True)
class WriteResult:
    """What a writer produced: the digest and size of the bytes, and what they add up to."""

    sha256: str
    size: int
    count: int
    total: int


class HashingSink:
    """Encodes text to UTF-8, writes it to a binary stream and keeps its SHA-256 and size.

    Writers hand it large chunks (thousands of lines joined) so the per-call cost stays small.
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, text: str) -> None:
        """Encode ``text`` and write it, updating the digest and the byte count."""
        data = text.encode("utf-8")
        self._hash.update(data)
        self._out.write(data)
        self.size += len(data)

    def result(self, count: int, total: int) -> WriteResult:
        """Return the digest and size of everything written, with the line count and sum."""
        return WriteResult(self._hash.hexdigest(), self.size, count, total)
