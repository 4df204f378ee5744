"""Hostile list files, generated at test time: small on disk, huge once read.

XLSX files are written as XML straight into a zip (openpyxl would take minutes and gigabytes
to write what they hold), in blocks, so generating them needs little memory. Each file
reproduces a finding of issue 11: a sub-megabyte workbook with millions of shared strings, a
sheet of 3 million tiny rows, a zip member that inflates a thousandfold, a 50 MB CSV of one
giant field or of millions of rows.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path

from beneficiaries.columns import headers
from tests.listfiles import list_row

_MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_DECL = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'

_CONTENT_TYPES = (
    f'{_DECL}<Types xmlns="{_TYPES}">'
    '<Default Extension="rels" '
    'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Default Extension="bin" ContentType="application/octet-stream"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
    "</Types>")
_ROOT_RELS = (
    f'{_DECL}<Relationships xmlns="{_PKG_REL}"><Relationship Id="rId1" '
    f'Type="{_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>')
_WORKBOOK = (
    f'{_DECL}<workbook xmlns="{_MAIN}" xmlns:r="{_REL}"><sheets>'
    '<sheet name="Danh sach" sheetId="1" r:id="rId1"/></sheets></workbook>')
_WORKBOOK_RELS = (
    f'{_DECL}<Relationships xmlns="{_PKG_REL}">'
    f'<Relationship Id="rId1" Type="{_REL}/worksheet" Target="worksheets/sheet1.xml"/>'
    f'<Relationship Id="rId2" Type="{_REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>")

_COLUMNS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _inline_row(number: int, values: Iterable[str]) -> str:
    cells = "".join(f'<c r="{_COLUMNS[i]}{number}" t="inlineStr"><is><t>{_escape(v)}</t></is></c>'
                    for i, v in enumerate(values))
    return f'<row r="{number}">{cells}</row>'


def _sheet(rows: Iterable[str]) -> Iterator[bytes]:
    yield f'{_DECL}<worksheet xmlns="{_MAIN}"><sheetData>'.encode()
    for row in rows:
        yield row.encode()
    yield b"</sheetData></worksheet>"


def _shared(strings: Iterable[bytes]) -> Iterator[bytes]:
    yield f'{_DECL}<sst xmlns="{_MAIN}">'.encode()
    yield from strings
    yield b"</sst>"


def write_xlsx(path: Path, sheet_rows: Iterable[str], *,
               shared_strings: Iterable[bytes] = (),
               extra: tuple[str, Iterable[bytes]] | None = None,
               level: int = 6) -> Path:
    """Write a workbook from raw XML pieces, streaming every part through the zip.

    Args:
        path: Where to write.
        sheet_rows: ``<row>`` elements of the first sheet.
        shared_strings: ``<si>`` elements of the shared-strings table.
        extra: One more member (name, blocks of bytes), e.g. a zip bomb.
        level: Deflate level.
    """
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as archive:
        for name, text in (("[Content_Types].xml", _CONTENT_TYPES), ("_rels/.rels", _ROOT_RELS),
                           ("xl/workbook.xml", _WORKBOOK),
                           ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS)):
            archive.writestr(name, text)
        parts: list[tuple[str, Iterable[bytes]]] = [
            ("xl/worksheets/sheet1.xml", _buffered(_sheet(sheet_rows))),
            ("xl/sharedStrings.xml", _buffered(_shared(shared_strings)))]
        if extra is not None:
            parts.append(extra)
        for name, blocks in parts:
            with archive.open(name, "w", force_zip64=True) as member:
                for block in blocks:
                    member.write(block)
    return path


def _buffered(pieces: Iterable[bytes], size: int = 1 << 20) -> Iterator[bytes]:
    """Join small pieces into blocks of about ``size`` bytes (fewer, larger deflate calls)."""
    buffer: list[bytes] = []
    length = 0
    for piece in pieces:
        buffer.append(piece)
        length += len(piece)
        if length >= size:
            yield b"".join(buffer)
            buffer, length = [], 0
    if buffer:
        yield b"".join(buffer)


def header_and_rows(count: int, lang: str = "vi") -> Iterator[str]:
    """A valid list: the template header and ``count`` valid pension rows, as inline strings."""
    yield _inline_row(1, headers(lang))
    for serial in range(1, count + 1):
        yield _inline_row(serial + 1, [str(v) for v in list_row(serial).values()])


def shared_strings_bomb(path: Path, count: int = 8_000_000) -> Path:
    """A workbook under 1 MB whose shared-strings table holds ``count`` short strings.

    The strings cycle through 97 values, so the part compresses about 190 times: under the
    ratio a zip bomb shows, so what gives it away is the count. openpyxl alone needs some
    1.3 GB to load this table.
    """
    def strings() -> Iterator[bytes]:
        for block in range(0, count, 10_000):
            yield b"".join(b"<si><t>%d</t></si>" % (i % 97) for i in range(block, block + 10_000))

    row = '<row r="1"><c r="A1" t="s"><v>0</v></c></row>'
    return write_xlsx(path, [row], shared_strings=strings(), level=9)


def tiny_rows(path: Path, count: int = 3_000_000) -> Path:
    """A sheet of the template header and ``count`` rows of one short cell each."""
    def rows() -> Iterator[str]:
        yield _inline_row(1, headers("vi"))
        for number in range(2, count + 2):
            yield f'<row r="{number}"><c r="A{number}"><v>{number % 10}</v></c></row>'

    return write_xlsx(path, rows(), level=1)


def zip_bomb(path: Path, megabytes: int = 1024) -> Path:
    """A valid little list plus a member of ``megabytes`` MiB of zeros (about 1 MiB zipped)."""
    zeros = b"\0" * (1 << 20)
    return write_xlsx(path, header_and_rows(2),
                      extra=("xl/media/image1.bin", (zeros for _ in range(megabytes))),
                      level=9)


def giant_field_csv(path: Path, megabytes: int = 50) -> Path:
    """A CSV with the template header and one row whose name is ``megabytes`` MB long."""
    row = list_row(1)
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(headers("en")) + "\n")
        values = [str(v) for v in row.values()]
        handle.write(",".join(values[:1]) + ",")
        chunk = "A" * (1 << 20)
        for _ in range(megabytes):
            handle.write(chunk)
        handle.write("," + ",".join(values[2:]) + "\n")
    return path


def many_rows_csv(path: Path, megabytes: int = 50) -> Path:
    """A CSV with the template header and ``megabytes`` MB of near-empty rows (millions)."""
    block = "1,,,,,,,,,,,,\n" * 75_000  # about 1 MiB
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(headers("en")) + "\n")
        for _ in range(megabytes):
            handle.write(block)
    return path
