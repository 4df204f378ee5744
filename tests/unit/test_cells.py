"""Export cells: formulas neutralised, control characters a worksheet cannot hold shown."""

import pytest

from disburse.core.cells import neutralize_cell


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1:A9)", "'@SUM(A1:A9)"),
        ("\t=1+1", "'\t=1+1"),
        ("\r=1+1", "'\r=1+1"),
        ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        ("079185012345", "079185012345"),
        ("a=b", "a=b"),
        ("", ""),
        ("Nguy\x07n\x00", "Nguy\\x07n\\x00"),  # a worksheet cannot hold these: shown escaped
        ("=\x1b[31m", "'=\\x1b[31m"),
        ("line\nnext\tcol", "line\nnext\tcol"),
    ],
)
def test_neutralize_cell(value, expected):
    assert neutralize_cell(value) == expected
