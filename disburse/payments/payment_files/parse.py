"""Read pain.001 files back: XSD validation and a streaming parse for checks and round trips.

Both stream with lxml ``iterparse`` and drop each transaction once read, so a file with
millions of transactions is checked in flat memory. Hardening: files must be UTF-8 and carry
no document type declaration (our files never do), both checked on the raw bytes before any
parser runs; entities are not expanded, no DTD is loaded, nothing is fetched from the network.
Elements are found by local name, so other pain.001 versions parse too. Problems come back as
data, never as exceptions.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree  # type: ignore[import-untyped,unused-ignore]

SCHEMA_PATH = Path(__file__).parent / "schemas" / "pain.001.001.09.xsd"

Source = bytes | BinaryIO | Path | str

# The prolog (declaration, comments, doctype) must fit in this many bytes to be checked.
_PROLOG_LIMIT = 64 * 1024
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


@dataclass(frozen=True, slots=True)
class ParseProblem:
    """One thing wrong in a file: a stable code, where, and a message for a person."""

    code: str
    field: str
    message: str


@dataclass(frozen=True, slots=True)
class ParsedLine:
    """One CdtTrfTxInf as found in a file (``None`` where an element is absent)."""

    end_to_end_id: str | None
    amount: int | None
    currency: str | None
    creditor_name: str | None
    creditor_account: str | None
    creditor_bin: str | None
    creditor_bic: str | None
    purpose: str | None
    remittance: str | None


@dataclass(frozen=True, slots=True)
class PaymentInfoSummary:
    """One PmtInf block: what it announces and what its transactions add up to."""

    payment_info_id: str | None
    nb_of_txs: int | None
    ctrl_sum: int | None
    requested_execution_date: str | None
    debtor_account: str | None
    counted_txs: int
    counted_sum: int


@dataclass(frozen=True)
class FileHeaderSummary:
    """The group header of a pain.001 file, and the count and sum actually found in it.

    Attributes:
        msg_id, created_at, nb_of_txs, ctrl_sum, initiating_party_name: from GrpHdr.
        payment_infos: one summary per PmtInf block.
        counted_txs, counted_sum: the transactions actually in the file.
        errors: what could not be read (bad XML, a DTD, non-integral amounts, ...).
    """

    msg_id: str | None
    created_at: str | None
    nb_of_txs: int | None
    ctrl_sum: int | None
    initiating_party_name: str | None
    payment_infos: tuple[PaymentInfoSummary, ...]
    counted_txs: int
    counted_sum: int
    errors: tuple[ParseProblem, ...]


@lru_cache(maxsize=1)
def pain001_schema() -> Any:
    """Return the official pain.001.001.09 schema, compiled once per process."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return etree.XMLSchema(etree.parse(str(SCHEMA_PATH), parser))


def validate_pain001(source: Source) -> list[str]:
    """Validate a file against the official pain.001.001.09 XSD.

    The prolog is checked first: a document type declaration or a non-UTF-8 encoding is
    refused before libxml2's validator sees the file (fed an entity bomb, the validating
    parser of lxml 6.1 / libxml2 2.14 crashes the process instead of reporting an error).

    Args:
        source: the file's bytes, a binary stream, or a path.

    Returns:
        An empty list when the file is valid; otherwise the first error found (validation
        streams and stops there, which keeps memory flat on files of millions of lines).
    """
    with _opened(source) as (stream, prolog_error):
        if prolog_error is not None:
            return [prolog_error]
        # resolve_entities=False would be the natural choice, but combined with a schema it
        # hides well-formedness errors (a truncated file validates); with no DTD allowed,
        # "internal" only ever resolves the five predefined entities.
        events = etree.iterparse(
            stream, events=("end",), tag="{*}CdtTrfTxInf", schema=pain001_schema(),
            resolve_entities="internal", no_network=True, load_dtd=False,
        )
        try:
            for _event, element in events:
                _drop(element)
        except etree.XMLSyntaxError as exc:
            # str(exc) is this file's error; exc.error_log can hold a previous parse's entries.
            return [str(exc)]
    return []


def parse_pain001(source: Source) -> tuple[FileHeaderSummary, list[ParsedLine]]:
    """Parse a pain.001 file into its header summary and its transactions.

    Args:
        source: the file's bytes, a binary stream, or a path.

    Returns:
        The summary (with any problems in ``errors``) and the transactions in file order.
    """
    lines: list[ParsedLine] = []
    return _scan(source, lines.append), lines


def scan_pain001(source: Source) -> FileHeaderSummary:
    """Return the header summary and the true count and sum, keeping no transactions."""
    return _scan(source, None)


class _ScanState:
    """What the streaming scan has seen so far."""

    def __init__(self, on_line: Callable[[ParsedLine], None] | None) -> None:
        self.on_line = on_line
        self.group: dict[str, str | None] = {}
        self.infos: list[PaymentInfoSummary] = []
        self.info_txs = self.info_sum = self.txs = self.sum = 0
        self.errors: list[ParseProblem] = []


def _scan(source: Source, on_line: Callable[[ParsedLine], None] | None) -> FileHeaderSummary:
    state = _ScanState(on_line)
    with _opened(source) as (stream, prolog_error):
        if prolog_error is not None:
            state.errors.append(ParseProblem("prolog_refused", "", prolog_error))
        else:
            _scan_stream(state, stream)
    group = state.group
    return FileHeaderSummary(
        msg_id=group.get("MsgId"), created_at=group.get("CreDtTm"),
        nb_of_txs=_integer(state, "GrpHdr/NbOfTxs", group.get("NbOfTxs")),
        ctrl_sum=_integer(state, "GrpHdr/CtrlSum", group.get("CtrlSum")),
        initiating_party_name=group.get("InitgPty/Nm"),
        payment_infos=tuple(state.infos), counted_txs=state.txs, counted_sum=state.sum,
        errors=tuple(state.errors),
    )


def _scan_stream(state: _ScanState, stream: _Prefixed) -> None:
    # Only the three blocks we read raise Python-level events; libxml2 skips the rest.
    events = etree.iterparse(
        stream, events=("end",), tag=("{*}GrpHdr", "{*}PmtInf", "{*}CdtTrfTxInf"),
        resolve_entities=False, no_network=True, load_dtd=False,
        remove_comments=True, remove_pis=True,
    )
    try:
        for _event, element in events:
            _HANDLERS[_local(element.tag)](state, _leaves(element), element)
    except etree.XMLSyntaxError as exc:
        state.errors.append(ParseProblem("xml_syntax", "", str(exc)))


def _leaves(element: Any) -> dict[str, str | None]:
    """Map the local-name path of every leaf under ``element`` to its text.

    One walk per block is several times faster than a ``find`` per field, and paths (not bare
    names) keep ``Cdtr/Nm`` apart from, say, ``UltmtCdtr/Nm``. Attributes are kept as
    ``path@name``; when a path repeats (several ``Ustrd``), the first one wins.
    """
    found: dict[str, str | None] = {}
    pending = [(element, "")]
    for parent, prefix in pending:  # grows while walked: breadth-first, in document order
        for child in parent:
            tag = child.tag
            if not isinstance(tag, str):
                continue
            path = prefix + tag[tag.rfind("}") + 1:]
            if len(child):
                pending.append((child, path + "/"))
                continue
            found.setdefault(path, child.text)
            for name, value in child.attrib.items():
                found.setdefault(f"{path}@{name}", value)
    return found


def _on_group_header(state: _ScanState, leaves: dict[str, str | None], element: Any) -> None:
    state.group = leaves


def _on_transaction(state: _ScanState, leaves: dict[str, str | None], element: Any) -> None:
    amount = _integer(state, "InstdAmt", leaves.get("Amt/InstdAmt"))
    end_to_end_id = leaves.get("PmtId/EndToEndId")
    if amount is None:
        state.errors.append(ParseProblem("amount_missing", "InstdAmt",
                                         f"transaction {end_to_end_id!r} has no usable amount"))
    state.info_txs += 1
    state.info_sum += amount or 0
    if state.on_line is not None:
        state.on_line(ParsedLine(
            end_to_end_id=end_to_end_id,
            amount=amount,
            currency=leaves.get("Amt/InstdAmt@Ccy"),
            creditor_name=leaves.get("Cdtr/Nm"),
            creditor_account=leaves.get("CdtrAcct/Id/Othr/Id"),
            creditor_bin=leaves.get("CdtrAgt/FinInstnId/ClrSysMmbId/MmbId"),
            creditor_bic=leaves.get("CdtrAgt/FinInstnId/BICFI"),
            purpose=leaves.get("Purp/Cd"),
            remittance=leaves.get("RmtInf/Ustrd"),
        ))
    _drop(element)


def _on_payment_info(state: _ScanState, leaves: dict[str, str | None], element: Any) -> None:
    state.infos.append(PaymentInfoSummary(
        payment_info_id=leaves.get("PmtInfId"),
        nb_of_txs=_integer(state, "PmtInf/NbOfTxs", leaves.get("NbOfTxs")),
        ctrl_sum=_integer(state, "PmtInf/CtrlSum", leaves.get("CtrlSum")),
        requested_execution_date=leaves.get("ReqdExctnDt/Dt"),
        debtor_account=leaves.get("DbtrAcct/Id/Othr/Id"),
        counted_txs=state.info_txs,
        counted_sum=state.info_sum,
    ))
    state.txs += state.info_txs
    state.sum += state.info_sum
    state.info_txs = state.info_sum = 0


_HANDLERS: dict[str, Callable[[_ScanState, dict[str, str | None], Any], None]] = {
    "GrpHdr": _on_group_header,
    "CdtTrfTxInf": _on_transaction,
    "PmtInf": _on_payment_info,
}


@contextmanager
def _opened(source: Source) -> Iterator[tuple[_Prefixed, str | None]]:
    """Open ``source`` as a binary stream and check its prolog before any parser sees it."""
    with ExitStack() as stack:
        if isinstance(source, bytes):
            stream: BinaryIO = BytesIO(source)
        elif isinstance(source, Path | str):
            stream = stack.enter_context(Path(source).open("rb"))
        else:
            stream = source
        head = stream.read(_PROLOG_LIMIT)
        yield _Prefixed(head, stream), prolog_problem(head)


class _Prefixed:
    """A stream that gives back the bytes already read for the prolog check, then the rest."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            chunk = self._head if size < 0 else self._head[:size]
            self._head = self._head[len(chunk):]
            return chunk
        return self._rest.read(size)


def prolog_problem(head: bytes) -> str | None:
    """Return why a file's prolog is refused, or ``None`` when it may be parsed.

    Refused: a document type declaration (entities, external subsets), an encoding other than
    UTF-8 (which could hide one), or a prolog longer than the bytes inspected.
    """
    if head.startswith((b"\xfe\xff", b"\xff\xfe", b"\x00", b"+/v")):
        return "payment files must be UTF-8"
    rest = head.removeprefix(b"\xef\xbb\xbf")
    while True:
        rest = rest.lstrip(b" \t\r\n")
        for opener, closer in ((b"<?", b"?>"), (b"<!--", b"-->")):
            if rest.startswith(opener):
                end = rest.find(closer)
                if end < 0:
                    return "the XML prolog is too long or unterminated"
                if opener == b"<?" and (problem := _declaration_problem(rest[:end])):
                    return problem
                rest = rest[end + len(closer):]
                break
        else:
            if rest.startswith(b"<!"):
                return "a document type declaration is not allowed in a payment file"
            return None


def _declaration_problem(instruction: bytes) -> str | None:
    match = _ENCODING.search(instruction)
    if instruction.startswith(b"<?xml") and match and match.group(1).lower() != b"utf-8":
        return "payment files must be UTF-8"
    return None


def _local(tag: Any) -> str:
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def _integer(state: _ScanState, where: str, text: str | None) -> int | None:
    """Read a count or dong amount; a fraction or garbage is recorded as a problem."""
    if text is None:
        return None
    if text.isdigit():
        return int(text)
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal("NaN")
    if value.is_finite() and value == value.to_integral_value():
        return int(value)
    state.errors.append(ParseProblem("not_whole_number", where, f"{text!r} is not whole dong"))
    return None


def _drop(element: Any) -> None:
    """Free a transaction already read so memory stays flat on huge files."""
    element.clear()
    parent = element.getparent()
    if parent is not None:
        parent.remove(element)


__all__ = [
    "SCHEMA_PATH",
    "FileHeaderSummary",
    "ParseProblem",
    "ParsedLine",
    "PaymentInfoSummary",
    "pain001_schema",
    "parse_pain001",
    "prolog_problem",
    "scan_pain001",
    "validate_pain001",
]
