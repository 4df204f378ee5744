"""Hardened, streaming XML reading for bank files (ISO 20022 pain.002, camt.054, camt.053).

Bank files come from outside, so the reader assumes they may be hostile:

* no DTD at all: any ``<!DOCTYPE`` or ``<!ENTITY`` in the bytes is refused before lxml sees
  it, so neither entity expansion (billion laughs) nor external entities (XXE) can happen;
  lxml is also told ``resolve_entities=False, no_network=True, load_dtd=False,
  huge_tree=False`` as a second line of defence;
* UTF-8 only (ISO 20022 mandates it): UTF-16/32 byte-order marks or another declared
  encoding are refused rather than guessed;
* a size limit counted on the bytes actually read, and a nesting-depth limit;
* streaming: only the elements a parser asks for are reported, and :func:`release` frees
  them (and everything before them) so memory stays flat on files with a million entries.

Elements are matched by local name, whatever the namespace or message version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

from lxml import etree  # type: ignore[import-untyped]  # no stubs installed

from reconciliation.parsers import DEFAULT_MAX_BYTES, gc_paused
from reconciliation.records import ParseError, ParseErrorCode

DEFAULT_MAX_DEPTH = 64
_FORBIDDEN = (b"<!DOCTYPE", b"<!ENTITY", b"<!doctype", b"<!entity")
_OVERLAP = 16
_BAD_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")

# A spec says which children to read below an element: local name -> sub-spec, or None for
# a leaf; a leaf name ending in "@" also keeps its attributes (e.g. "InstdAmt@" for Ccy).
Spec = dict[str, "Spec | None"]


@dataclass(frozen=True, slots=True)
class XmlLimits:
    """Limits applied while reading one XML file.

    Attributes:
        max_bytes: Largest accepted file size.
        max_depth: Deepest accepted element nesting (the root is depth 1).
    """

    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


DEFAULT_LIMITS = XmlLimits()


class XmlSafetyError(Exception):
    """A file refused by the hardening rules; parsers turn it into a ParseError."""

    def __init__(self, code: ParseErrorCode, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


class _GuardedReader:
    """File-like wrapper lxml reads from: counts bytes, refuses DTDs and non-UTF-8 input."""

    def __init__(self, stream: BinaryIO, limits: XmlLimits) -> None:
        self._stream = stream
        self._limits = limits
        self._seen = 0
        self._tail = b""

    def read(self, size: int = -1) -> bytes:
        chunk = self._stream.read(size if size > 0 else 64 * 1024)
        if self._seen == 0:
            _check_encoding(chunk)
        self._seen += len(chunk)
        if self._seen > self._limits.max_bytes:
            raise XmlSafetyError(ParseErrorCode.OVERSIZED,
                                 f"file is larger than the {self._limits.max_bytes}-byte limit")
        window = self._tail + chunk
        if any(marker in window for marker in _FORBIDDEN):
            raise XmlSafetyError(ParseErrorCode.FORBIDDEN_DTD,
                                 "DOCTYPE/ENTITY declarations are not allowed in bank files")
        self._tail = window[-_OVERLAP:]
        return chunk


def _check_encoding(first: bytes) -> None:
    if first.startswith(_BAD_BOMS) or b"\x00" in first[:4]:
        raise XmlSafetyError(ParseErrorCode.ENCODING, "XML must be UTF-8 (found UTF-16/32)")
    declared = _DECLARED_ENCODING.match(first.removeprefix(b"\xef\xbb\xbf"))
    if declared and declared.group(1).lower().replace(b"_", b"-") not in {b"utf-8", b"utf8"}:
        name = declared.group(1).decode("ascii")
        raise XmlSafetyError(ParseErrorCode.ENCODING, f"XML must be UTF-8, declared {name}")


def local_name(tag: object) -> str:
    """Return the local part of an element tag (``{urn:...}TxSts`` -> ``TxSts``).

    Same result as ``etree.QName(el).localname`` without building a QName per element.

    Args:
        tag: An element's ``tag`` (comments and processing instructions have no str tag).

    Returns:
        The local name, or ``""`` for a non-element node.
    """
    if not isinstance(tag, str):
        return ""
    return tag[tag.rfind("}") + 1 :]


def secure_iterparse(
    stream: BinaryIO,
    *,
    tags: Iterable[str],
    events: tuple[str, ...] = ("end",),
    limits: XmlLimits = DEFAULT_LIMITS,
) -> Iterator[tuple[str, etree._Element]]:
    """Stream the elements with the given local names, under the hardening rules.

    lxml filters the events in C, so a parser's Python code runs only for the elements it
    asked for. Each reported element's depth is checked; whatever is left of the tree at
    the end is checked too (released records are gone by then, so that pass is small).

    Args:
        stream: The file, positioned at its start.
        tags: Local names to report (any namespace).
        events: lxml events wanted, ``"start"`` and/or ``"end"``.
        limits: Size and depth limits.

    Yields:
        ``(event, element)`` pairs in document order.

    Raises:
        XmlSafetyError: A hardening rule refused the file.
        etree.XMLSyntaxError: The file is not well-formed XML.
    """
    parser = etree.iterparse(
        _GuardedReader(stream, limits),
        events=events,
        tag=[f"{{*}}{name}" for name in tags],
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    for event, element in parser:
        _check_depth_of(element, limits.max_depth)
        yield event, element
    final_root = parser.root
    if final_root is not None:
        _check_subtree_depth(final_root, limits.max_depth)


def stream_elements(
    stream: BinaryIO,
    *,
    filename: str,
    tags: Iterable[str],
    limits: XmlLimits,
    on_element: Callable[[etree._Element], None],
    errors: list[ParseError],
) -> bool:
    """Feed each wanted element (``end`` events) to ``on_element``: the XML parsers' one loop.

    Args:
        stream: The file, positioned at its start.
        filename: The file's name, for the error.
        tags: Local names to report (any namespace).
        limits: Size and depth limits.
        on_element: Called once per reported element, in document order.
        errors: Where a refusal by the XML layer is added (``xml_error``).

    Returns:
        True when the whole file was read; False when it was refused part way (the error is
        in ``errors``; what ``on_element`` took before it stands).
    """
    try:
        with gc_paused():
            for _event, element in secure_iterparse(stream, tags=tags, limits=limits):
                on_element(element)
    except (XmlSafetyError, etree.LxmlError) as exc:
        errors.append(xml_error(filename, exc))
        return False
    return True


def _check_depth_of(element: etree._Element, max_depth: int) -> None:
    depth = 1
    for _ancestor in element.iterancestors():
        depth += 1
    if depth > max_depth:
        raise XmlSafetyError(ParseErrorCode.TOO_DEEP, f"elements nested deeper than {max_depth}")


def _check_subtree_depth(root: etree._Element, max_depth: int) -> None:
    # Iterative on purpose: a hostile file must not be able to exhaust the Python stack.
    pending: list[tuple[etree._Element, int]] = [(root, 1)]
    while pending:
        node, depth = pending.pop()
        if depth > max_depth:
            raise XmlSafetyError(ParseErrorCode.TOO_DEEP,
                                 f"elements nested deeper than {max_depth}")
        pending.extend((child, depth + 1) for child in node)


def release(element: etree._Element) -> None:
    """Free a processed element and every sibling before it, to keep memory flat.

    Args:
        element: An element whose ``end`` event has been handled.
    """
    element.clear(keep_tail=False)
    parent = element.getparent()
    if parent is None:
        return
    while element.getprevious() is not None:
        del parent[0]


_Entry = tuple[str, "CompiledSpec | None", bool]
# Distinct tags remembered per spec level; a hostile file with endless made-up element names
# must not grow the memo without bound (past it, names are simply looked up each time).
_TAG_MEMO_LIMIT = 256
_UNSEEN: _Entry = ("", None, False)  # a memo miss (compared by identity)


class CompiledSpec:
    """A :data:`Spec` turned into lookup tables once, so reading an entry does no string work.

    Each local name maps to ``(path, child table or None, keep attributes)``; ``by_tag``
    remembers the answer per full tag (``{namespace}Name``) so that the local name is cut
    out of a tag once per file layout, not once per element.
    """

    __slots__ = ("by_tag", "table")

    def __init__(self, spec: Spec, prefix: str = "") -> None:
        self.table: dict[str, tuple[str, CompiledSpec | None, bool]] = {}
        for name, sub in spec.items():
            keep_attrs = name.endswith("@")
            bare = name.removesuffix("@")
            path = prefix + bare
            child = CompiledSpec(sub, path + "/") if sub is not None else None
            self.table[bare] = (path, child, keep_attrs)
        self.by_tag: dict[object, _Entry | None] = {}

    def entry_for(self, tag: object) -> _Entry | None:
        """The table entry for a full element tag, or None when the spec does not want it.

        Args:
            tag: An element's ``tag`` (a comment's or processing instruction's is not a str).

        Returns:
            ``(path, child spec, keep attributes)`` or None.
        """
        entry = self.table.get(local_name(tag)) if isinstance(tag, str) else None
        if len(self.by_tag) < _TAG_MEMO_LIMIT:
            self.by_tag[tag] = entry
        return entry


def extract(element: etree._Element, spec: CompiledSpec) -> dict[str, str]:
    """Read only the wanted descendants of an element into ``{"A/B/C": text}``.

    Only the branches named in the spec are visited, so large uninteresting parts of an
    entry (addresses, remittance text) cost nothing. The first occurrence of a path wins
    (e.g. the first ``StsRsnInf``). A leaf written ``"Name@"`` in the spec also keeps its
    attributes, as ``"A/Name@Ccy"``.

    Args:
        element: The element to read (e.g. one ``TxInfAndSts``).
        spec: Which children to read, by local name.

    Returns:
        Stripped text per path, for the paths present.
    """
    out: dict[str, str] = {}
    _extract_into(element, spec, out)
    return out


def _extract_into(node: etree._Element, spec: CompiledSpec, out: dict[str, str]) -> None:
    # Hot path (runs for every entry of million-entry files): kept deliberately flat; one
    # dict look-up per child element, by its full tag.
    by_tag = spec.by_tag
    for child in node:
        tag = child.tag
        entry = by_tag.get(tag, _UNSEEN)
        if entry is _UNSEEN:
            entry = spec.entry_for(tag)
        if entry is None:
            continue
        path, sub, keep_attrs = entry
        if sub is not None and len(child):
            _extract_into(child, sub, out)
            continue
        # A branch without children is read as a leaf: an element may be a branch in one
        # version and a leaf in another (camt .02 <Sts>BOOK</Sts>, .08 <Sts><Cd>BOOK</Cd>).
        if path not in out:
            text = child.text
            out[path] = text.strip() if text else ""
            if keep_attrs:
                for key, value in child.attrib.items():
                    out[f"{path}@{local_name(key)}"] = value


def xml_error(filename: str, exc: Exception) -> ParseError:
    """Turn a refusal or a syntax error from the XML layer into a ParseError.

    Args:
        filename: The file's name.
        exc: An :class:`XmlSafetyError` or ``etree.XMLSyntaxError`` (or another lxml
            error raised on bad content).

    Returns:
        The ParseError to report; the location is the line when lxml knows it.
    """
    if isinstance(exc, XmlSafetyError):
        return ParseError(filename, "file", "", exc.reason, exc.code)
    line = getattr(exc, "lineno", None)
    location = f"line {line}" if line else "file"
    message = str(exc) or type(exc).__name__
    code = ParseErrorCode.ENCODING if "encod" in message.lower() else ParseErrorCode.MALFORMED
    if "empty" in message.lower() or "no element found" in message.lower():
        code = ParseErrorCode.EMPTY
    return ParseError(filename, location, "", f"not well-formed XML: {message}", code)
