"""The spreadsheet guard (``beneficiaries.file_limits``) and the bounded XLSX reader, case by case.

Small files with small limits: each limit is shown to refuse just past it and to let through
what is at it, with a message naming the limit and what was found.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont

from beneficiaries.file_limits import (
    FileLimitError,
    SheetLimits,
    bounded_rows,
    check_csv,
    check_xlsx,
)
from beneficiaries.importers import ListFileError, read_list
from beneficiaries.xlsx_reader import open_workbook, read_shared_strings, safe_reason
from reconciliation.parsers.tabular import TabularProfile, parse_bank_table
from reconciliation.records import ParseErrorCode, ReturnStatus
from tests import hostile_files
from tests.listfiles import list_row, write_xlsx


def _rows(count: int) -> list[str]:
    return [f'<row r="{n}"><c r="A{n}"><v>{n}</v></c></row>' for n in range(1, count + 1)]


def _strings(count: int, text: bytes = b"ab") -> list[bytes]:
    return [b"<si><t>" + text + b"</t></si>"] * count


@pytest.mark.parametrize(("limits", "rows", "strings", "message"), [
    (SheetLimits(max_rows=10), 11, 0, "the sheet has more than 10 rows"),
    (SheetLimits(max_shared_strings=5), 1, 6, "holds more than 5 strings"),
    (SheetLimits(max_shared_strings_bytes=1000), 1, 200,
     "shared-strings table is larger than 0.0 MiB"),
    (SheetLimits(max_members=3), 1, 0, "the workbook holds 6 parts; the limit is 3"),
    (SheetLimits(max_unzipped_bytes=1000), 1, 0, "the workbook expands to"),
    (SheetLimits(max_part_bytes=100), 1, 0, "the workbook manifest is"),
])
def test_check_xlsx_refuses_past_each_limit(tmp_path: Path, limits: SheetLimits, rows: int,
                                            strings: int, message: str) -> None:
    path = hostile_files.write_xlsx(tmp_path / "a.xlsx", _rows(rows),
                                    shared_strings=_strings(strings))
    with pytest.raises(FileLimitError, match=message):
        check_xlsx(path, limits)


def test_check_xlsx_lets_a_file_at_the_limits_through(tmp_path: Path) -> None:
    path = hostile_files.write_xlsx(tmp_path / "a.xlsx", _rows(10), shared_strings=_strings(5))
    check_xlsx(path, SheetLimits(max_rows=10, max_shared_strings=5))


def test_check_xlsx_refuses_a_part_loaded_whole_past_its_limit(tmp_path: Path) -> None:
    path = hostile_files.write_xlsx(tmp_path / "a.xlsx", _rows(1),
                                    extra=("xl/styles.xml", [b"<styleSheet/>" * 400]))
    with pytest.raises(FileLimitError, match=r"the workbook part 'xl/styles\.xml' is"):
        check_xlsx(path, SheetLimits(max_part_bytes=2000))


def test_check_xlsx_counts_rows_of_a_prefixed_namespace(tmp_path: Path) -> None:
    rows = "".join(f'<x:row r="{n}"><x:c r="A{n}"><x:v>1</x:v></x:c></x:row>'
                   for n in range(1, 13))
    sheet = ('<?xml version="1.0"?><x:worksheet xmlns:x="http://schemas.openxmlformats.org/'
             f'spreadsheetml/2006/main"><x:sheetData>{rows}</x:sheetData></x:worksheet>')
    path = tmp_path / "p.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    with pytest.raises(FileLimitError, match="more than 10 rows"):
        check_xlsx(path, SheetLimits(max_rows=10))


def test_check_xlsx_refuses_a_zip_bomb_member(tmp_path: Path) -> None:
    path = hostile_files.zip_bomb(tmp_path / "bomb.xlsx", megabytes=20)
    with pytest.raises(FileLimitError, match=r"expands [\d,]+ times .* the limit is 200 times"):
        check_xlsx(path)


@pytest.mark.parametrize(("piece", "message"), [
    (b"<si><t>a<!-- hidden --></t></si>", "comment, CDATA section or DTD"),
    (b"<si><t><![CDATA[<x>]]></t></si>", "comment, CDATA section or DTD"),
    (b"<si><t>a<?pi x?></t></si>", "processing instructions"),
    (b"<si><t>" + b"A" * 70_000 + b"</t></si>", "a text longer than 65,536 bytes"),
])
def test_check_xlsx_refuses_what_no_spreadsheet_writer_produces(tmp_path: Path, piece: bytes,
                                                                message: str) -> None:
    path = hostile_files.write_xlsx(tmp_path / "a.xlsx", _rows(1), shared_strings=[piece])
    with pytest.raises(FileLimitError, match=message):
        check_xlsx(path)


def test_shared_strings_read_like_openpyxl_with_rich_text(tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Nguyễn Thị Đào", "plain", None, "x005F_y"])
    sheet.append([CellRichText("Trần ", TextBlock(InlineFont(b=True), "Văn An")), "plain"])
    path = tmp_path / "rich.xlsx"
    book.save(path)
    ours = open_workbook(path)
    theirs = load_workbook(path, read_only=True, data_only=True)
    try:
        assert (list(ours.worksheets[0].iter_rows(values_only=True))
                == list(theirs.worksheets[0].iter_rows(values_only=True)))
    finally:
        ours.close()
        theirs.close()


def test_shared_strings_reader_stops_at_the_character_limit() -> None:
    part = (b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            + b"".join(_strings(10, b"abcdef")) + b"</sst>")
    assert read_shared_strings(io.BytesIO(part), SheetLimits(max_shared_string_chars=60)) == [
        "abcdef"] * 10
    with pytest.raises(FileLimitError, match="more than 59 characters"):
        read_shared_strings(io.BytesIO(part), SheetLimits(max_shared_string_chars=59))


def test_bounded_rows_refuses_a_long_or_wide_sheet() -> None:
    limits = SheetLimits(max_rows=3, max_columns=2)
    assert list(bounded_rows([(1,), (2, 2), (3,)], limits)) == [(1,), (2, 2), (3,)]
    with pytest.raises(FileLimitError, match="more than 3 rows"):
        list(bounded_rows([(1,)] * 4, limits))
    with pytest.raises(FileLimitError, match="row 2 has 3 columns; the limit is 2"):
        list(bounded_rows([(1,), (1, 2, 3)], limits))


@pytest.mark.parametrize(("text", "limits", "message"), [
    ("a,b\n" + "x" * 101 + ",1\n", SheetLimits(max_line_chars=100),
     "line 2 is longer than 100 characters"),
    ('a,b\n"' + "x\n" * 40 + '",1\n', SheetLimits(max_field_chars=50),
     "a field longer than 50 characters"),
    ("a,b\n" + "1,2\n" * 5, SheetLimits(max_rows=5), "more than 5 rows"),
    ("a,b\n1,2,3,4\n", SheetLimits(max_columns=3), "line 2 has 4 columns; the limit is 3"),
])
def test_check_csv_refuses_past_each_limit(tmp_path: Path, text: str, limits: SheetLimits,
                                           message: str) -> None:
    path = tmp_path / "l.csv"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(FileLimitError, match=message):
        check_csv(path, delimiter=",", limits=limits)


def test_check_csv_counts_records_not_lines(tmp_path: Path) -> None:
    path = tmp_path / "l.csv"
    path.write_text('a,b\n"two\nlines",1\n3,4\n', encoding="utf-8")
    assert check_csv(path, delimiter=",", limits=SheetLimits(max_rows=3)) == 3


def test_a_refused_list_names_the_display_name_not_the_path(tmp_path: Path) -> None:
    path = hostile_files.zip_bomb(tmp_path / "upload.xlsx", megabytes=20)
    with pytest.raises(ListFileError) as caught:
        read_list(path, display_name="Danh sách xã 4.xlsx")
    assert caught.value.detail.startswith("Danh sách xã 4.xlsx: file refused: ")
    assert str(tmp_path) not in caught.value.detail


def test_a_damaged_workbook_error_shows_no_server_path(tmp_path: Path) -> None:
    good = write_xlsx(tmp_path / "good.xlsx", [list_row(1)])
    damaged = tmp_path / "deep" / "server" / "upload.xlsx"
    damaged.parent.mkdir(parents=True)
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w") as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/workbook.xml":  # openpyxl names the archive's path for it
                data = data.replace(b'state="visible"', b'state="bogus"')
            target.writestr(info, data)
    with pytest.raises(ValueError, match=r"/deep/server/upload\.xlsx"):
        load_workbook(damaged, read_only=True)
    with pytest.raises(ListFileError) as caught:
        read_list(damaged, display_name="list.xlsx")
    assert caught.value.detail.startswith("list.xlsx: not a readable .xlsx workbook (")
    assert "Value must be one of" in caught.value.detail
    assert str(tmp_path) not in caught.value.detail
    assert "/deep/" not in caught.value.detail


def test_safe_reason_cuts_any_absolute_path() -> None:
    error = ValueError("could not read strings from /srv/disburse/var/uploads/upload-x/a.xlsx.")
    assert safe_reason(error) == "could not read strings from (path withheld)"


def test_a_bank_xlsx_bomb_is_an_oversized_error_as_data(tmp_path: Path) -> None:
    path = hostile_files.zip_bomb(tmp_path / "returns.xlsx", megabytes=20)
    profile = TabularProfile(columns={"end_to_end_id": "Ref", "status": "Status"},
                             status_map={"OK": ReturnStatus.SETTLED})
    records, errors = parse_bank_table(path.read_bytes(), filename="returns.xlsx",
                                       profile=profile)
    assert records == []
    assert [e.code for e in errors] == [ParseErrorCode.OVERSIZED]
    assert "as a zip bomb does" in errors[0].reason
