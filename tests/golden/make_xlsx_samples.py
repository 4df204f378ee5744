"""Write the XLSX golden samples (run once; the .xlsx files are committed).

Run from the repository root: ``python tests/golden/make_xlsx_samples.py``. Cells are
typed as a bank's export would type them: some amounts numeric, some text with dots,
dates as real Excel dates or as text.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from openpyxl import Workbook

HERE = Path(__file__).parent
# Fixed document properties keep the file byte-for-byte reproducible.
FIXED_TIME = datetime(2025, 1, 20, 8, 0, 0)


def _save(book: Workbook, path: Path) -> None:
    book.properties.created = FIXED_TIME
    book.properties.modified = FIXED_TIME
    book.properties.creator = "disburse golden samples"
    book.save(path)


def bank_sample() -> None:
    """A bank's return report: numeric and text amounts, Excel and text dates, a bad row."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "KetQua"
    sheet.append(["Bao cao ket qua chi luong huu - ACB"])
    sheet.append([])
    sheet.append(["EndToEndId", "Account", "Amount", "Result", "Reason", "Booked", "Ref"])
    sheet.append(["PEN01202501000000000031", "00123456789", 1500000, "OK", None,
                  datetime(2025, 1, 15), "ACB-0001"])
    sheet.append(["PEN01202501000000000032", "00123456790", "1500000", "FAIL", "AC04",
                  "15/01/2025", "ACB-0002"])
    sheet.append(["PEN01202501000000000033", "00123456791", 1500000.5, "OK", None,
                  datetime(2025, 1, 15), "ACB-0003"])
    sheet.append(["PEN01202501000000000034", "00123456792", 1500000.0, "RETURNED", "MD07",
                  datetime(2025, 1, 16), "ACB-0004"])
    _save(book, HERE / "bank_xlsx" / "acb_returns.xlsx")


def post_office_sample() -> None:
    """The post office's report as XLSX, headers typed in decomposed Unicode (NFD)."""
    import unicodedata

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    headers = ["Mã giao dịch", "Họ và tên", "Số tiền", "Trạng thái", "Ngày chi trả", "Ghi chú"]
    sheet.append([unicodedata.normalize("NFD", h) for h in headers])
    sheet.append(["REV01202501000000000401", "Bùi Văn Chín", 2789000, "Đã chi trả",
                  datetime(2025, 1, 8), None])
    sheet.append(["REV01202501000000000402", "Ngô Thị Mười", "2.789.000", "Chưa chi trả",
                  None, "Qua đời"])
    _save(book, HERE / "post_office" / "paid_list_dongnai.xlsx")


if __name__ == "__main__":
    bank_sample()
    post_office_sample()
