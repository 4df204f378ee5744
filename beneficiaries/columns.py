"""The columns of a beneficiary list, in the English and the Vietnamese template.

Importers, the synthetic-list generator and the downloadable templates all take their headers
from here, so a list written by one is always readable by the other.
"""

from __future__ import annotations

from typing import Final

#: canonical field name -> (English header, Vietnamese header), in template order.
LIST_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "citizen_id": ("Citizen ID", "Số CCCD"),
    "full_name": ("Full name", "Họ và tên"),
    "date_of_birth": ("Date of birth", "Ngày sinh"),
    "gender": ("Gender", "Giới tính"),
    "province_code": ("Province code", "Mã tỉnh"),
    "commune_code": ("Commune code", "Mã xã"),
    "amount": ("Amount", "Số tiền"),
    "coefficient": ("Coefficient", "Hệ số"),
    "channel": ("Channel", "Hình thức nhận"),
    "bank_bin": ("Bank code", "Mã ngân hàng"),
    "account_number": ("Account number", "Số tài khoản"),
    "account_holder": ("Account holder name", "Tên chủ tài khoản"),
    "phone": ("Phone", "Số điện thoại"),
}

#: Columns that may be absent from a file (the rest are required).
OPTIONAL_COLUMNS: Final[frozenset[str]] = frozenset(
    {"coefficient", "bank_bin", "account_number", "account_holder", "phone", "amount"}
)

#: Cell values accepted for gender, normalised to "male" / "female".
GENDER_WORDS: Final[dict[str, str]] = {
    "male": "male", "m": "male", "nam": "male",
    "female": "female", "f": "female", "nữ": "female", "nu": "female",
}

#: Cell values accepted for the channel, normalised to the channel codes.
CHANNEL_WORDS: Final[dict[str, str]] = {
    "bank": "bank", "chuyển khoản": "bank", "chuyen khoan": "bank", "tài khoản": "bank",
    "ewallet": "ewallet", "ví điện tử": "ewallet", "vi dien tu": "ewallet",
    "cash": "cash", "tiền mặt": "cash", "tien mat": "cash",
}


def headers(lang: str) -> list[str]:
    """Return the template headers for ``lang`` ("en" or "vi"), in template order."""
    index = {"en": 0, "vi": 1}[lang]
    return [pair[index] for pair in LIST_COLUMNS.values()]
