"""Recognise a bank return file's format and hand it to the right parser.

Sniffing looks only at the start of the file: the ISO 20022 message (pain.002, camt.054,
camt.053 or pacs.004, from the namespace or the message element under ``Document``), MT940
tags (``:20:`` with ``:25:``/``:60F:``/``:61:``), a zip signature for XLSX, and otherwise a
CSV header; the post office's report is told apart from a bank's CSV/XLSX by its Vietnamese
headers. The file name's extension only breaks ties.
"""

from __future__ import annotations

import io
import re

from reconciliation.parsers import DEFAULT_MAX_BYTES
from reconciliation.parsers.camt import (
    StatementHeader,
    parse_camt053_statements,
    parse_camt054,
)
from reconciliation.parsers.mt940 import parse_mt940
from reconciliation.parsers.pacs004 import parse_pacs004
from reconciliation.parsers.pain002 import parse_pain002
from reconciliation.parsers.post_office import HEADERS as POST_OFFICE_HEADERS
from reconciliation.parsers.post_office import parse_post_office
from reconciliation.parsers.tabular import (
    TabularProfile,
    normalize_label,
    parse_bank_table,
    read_table,
)
from reconciliation.parsers.xml_safety import XmlLimits
from reconciliation.records import ParseError, ParseErrorCode, ParseResult, SourceFormat

_SNIFF_BYTES = 8192
_ISO_NAMESPACE = re.compile(
    rb"urn:iso:std:iso:20022:tech:xsd:(pain\.002|camt\.054|camt\.053|pacs\.004)")
_ISO_ELEMENT = re.compile(
    rb"<(?:[\w.-]+:)?(CstmrPmtStsRpt|BkToCstmrDbtCdtNtfctn|BkToCstmrStmt|PmtRtr)[\s>]")
_ISO_MESSAGES: dict[bytes, SourceFormat] = {
    b"pain.002": SourceFormat.PAIN002,
    b"CstmrPmtStsRpt": SourceFormat.PAIN002,
    b"camt.054": SourceFormat.CAMT054,
    b"BkToCstmrDbtCdtNtfctn": SourceFormat.CAMT054,
    b"camt.053": SourceFormat.CAMT053,
    b"BkToCstmrStmt": SourceFormat.CAMT053,
    b"pacs.004": SourceFormat.PACS004,
    b"PmtRtr": SourceFormat.PACS004,
}
_MT940_TAGS = re.compile(rb"(?m)^:(?:25|28C|60F|60M|61|62F):")
_MT940_START = re.compile(rb"(?m)^:20:")


def detect_format(data: bytes, filename: str) -> SourceFormat | None:
    """Tell which return format a file is in.

    Args:
        data: The file's bytes (only the beginning is inspected, except for XLSX headers).
        filename: The file's name; its extension decides only when the content cannot.

    Returns:
        The format, or None when it is none of the supported ones.
    """
    head = data[:_SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip()
    if head.startswith(b"<"):
        found = _ISO_NAMESPACE.search(head) or _ISO_ELEMENT.search(head)
        return _ISO_MESSAGES[found.group(1)] if found else None
    if _MT940_START.search(head) and _MT940_TAGS.search(head):
        return SourceFormat.MT940
    is_xlsx = data.startswith(b"PK\x03\x04")
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    if not is_xlsx and extension not in {"csv", "txt"}:
        return None
    if _looks_like_post_office(data):
        return SourceFormat.POST_OFFICE
    return SourceFormat.BANK_XLSX if is_xlsx else SourceFormat.BANK_CSV


def _looks_like_post_office(data: bytes) -> bool:
    sample = data if data.startswith(b"PK\x03\x04") else data[:_SNIFF_BYTES]
    table = read_table(sample, filename="", required=POST_OFFICE_HEADERS.values())
    if not isinstance(table, ParseError):
        return True
    # A CSV sample cut mid-line can still show the header: check the labels directly.
    text = sample.decode("utf-8", errors="ignore")
    labels = {normalize_label(label) for label in POST_OFFICE_HEADERS.values()}
    return all(label in normalize_label(text) for label in labels)


def parse_return_file(
    data: bytes,
    filename: str,
    *,
    tabular_profile: TabularProfile | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    statements: list[StatementHeader] | None = None,
) -> ParseResult:
    """Detect a return file's format and parse it.

    Args:
        data: The file's bytes.
        filename: The file's name.
        tabular_profile: The sending bank's column mapping, needed for bank CSV/XLSX.
        max_bytes: The largest accepted size.
        statements: When given, a camt.053 file's statements are added to it (their id,
            account and sequence number).

    Returns:
        ``(records, errors)``; an unrecognised file gives one ``unsupported`` error.
    """
    if len(data) > max_bytes:
        return [], [ParseError(filename, "file", "", f"file is larger than the "
                               f"{max_bytes}-byte limit", ParseErrorCode.OVERSIZED)]
    fmt = detect_format(data, filename)
    limits = XmlLimits(max_bytes=max_bytes)
    stream = io.BytesIO(data)
    if fmt is SourceFormat.PAIN002:
        return parse_pain002(stream, filename=filename, limits=limits)
    if fmt is SourceFormat.CAMT054:
        return parse_camt054(stream, filename=filename, limits=limits)
    if fmt is SourceFormat.CAMT053:
        records, errors, found = parse_camt053_statements(stream, filename=filename,
                                                          limits=limits)
        if statements is not None:
            statements.extend(found)
        return records, errors
    if fmt is SourceFormat.PACS004:
        return parse_pacs004(stream, filename=filename, limits=limits)
    if fmt is SourceFormat.MT940:
        return parse_mt940(stream, filename=filename, max_bytes=max_bytes)
    if fmt is SourceFormat.POST_OFFICE:
        return parse_post_office(stream, filename=filename, max_bytes=max_bytes)
    if fmt in (SourceFormat.BANK_CSV, SourceFormat.BANK_XLSX):
        if tabular_profile is None:
            return [], [ParseError(filename, "file", "", "a bank CSV/XLSX file needs the bank's "
                                   "column profile", ParseErrorCode.UNSUPPORTED)]
        return parse_bank_table(stream, filename=filename, profile=tabular_profile,
                                max_bytes=max_bytes)
    return [], [ParseError(filename, "file", "", "unrecognised return file format",
                           ParseErrorCode.UNSUPPORTED)]
