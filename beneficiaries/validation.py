"""Validate one raw list row against the rules and the programme: pure, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from beneficiaries import localities
from beneficiaries.importers import Cell, RawRow
from beneficiaries.programmes import (
    COEFFICIENT_MAX_X100,
    COEFFICIENT_MIN_X100,
    AmountRule,
    Programme,
    amount_from_rate,
)
from beneficiaries.rules import (
    RuleError,
    Severity,
    check_age,
    check_amount_bounds,
    compare_holder_name,
    normalize_name,
    normalize_phone,
    parse_channel,
    parse_date,
    parse_gender,
    parse_vnd,
    validate_cccd,
    validate_name,
    validate_payment_target,
)


@dataclass(frozen=True, slots=True)
class ValidRow:
    """A row that passed every blocking rule, normalised; ``flags`` are review signals."""

    row: int
    citizen_id: str
    full_name: str
    date_of_birth: date
    gender: str
    province_code: str
    commune_code: str
    amount: int
    coefficient_x100: int | None
    channel: str
    bank_bin: str | None
    account_number: str | None
    account_holder: str | None
    phone: str | None
    flags: tuple[str, ...]


@dataclass(frozen=True)
class ValidationContext:
    """What row validation needs besides the row: the programme, today, the base rate."""

    programme: Programme
    today: date
    base_rate: int | None  # for rate × coefficient programmes


def _text(cell: Cell) -> str:
    if cell.__class__ is str:  # the common case first
        return cell.strip()
    if cell is None:
        return ""
    return cell.isoformat() if isinstance(cell, date) else cell.strip()


def _err(code: str, field: str, en: str, vi: str) -> RuleError:
    return RuleError(code, field, en, vi)


def _locality(cells: dict[str, Cell]) -> tuple[str, str, list[RuleError]]:
    province, commune = _text(cells.get("province_code")), _text(cells.get("commune_code"))
    province = province.zfill(2) if province.isdigit() else province
    commune = commune.zfill(5) if commune.isdigit() else commune
    communes = localities.commune_sets().get(province)
    if communes is None:
        return province, commune, [_err(
            "province_unknown", "province_code",
            f"Province code {province!r} is not one of the 34 provinces in force since 2025-07-01.",
            f"Mã tỉnh {province!r} không thuộc 34 tỉnh, thành phố từ ngày 01/7/2025.")]
    if commune not in communes:
        return province, commune, [_err(
            "commune_unknown", "commune_code",
            f"Commune code {commune!r} is not a commune of province {province}.",
            f"Mã xã {commune!r} không thuộc tỉnh {province}.")]
    return province, commune, []


def _coefficient(cells: dict[str, Cell]) -> tuple[int | None, list[RuleError]]:
    text = _text(cells.get("coefficient")).replace(",", ".")
    if not text:
        return None, [_err("coefficient_missing", "coefficient",
                           "The coefficient is required for this programme.",
                           "Chương trình này bắt buộc có hệ số.")]
    whole, _, frac = text.partition(".")
    if not whole.isdigit() or (frac and (not frac.isdigit() or len(frac) > 2)):
        return None, [_err("coefficient_format", "coefficient",
                           f"Coefficient {text!r} is not a number like 1.5.",
                           f"Hệ số {text!r} không đúng dạng số (ví dụ 1,5).")]
    value = int(whole) * 100 + int((frac + "00")[:2])
    if not COEFFICIENT_MIN_X100 <= value <= COEFFICIENT_MAX_X100:
        return None, [_err("coefficient_out_of_bounds", "coefficient",
                           f"Coefficient {text} is outside 0.5 to 5.",
                           f"Hệ số {text} nằm ngoài khoảng 0,5 đến 5.")]
    return value, []


def _amount(cells: dict[str, Cell], ctx: ValidationContext
            ) -> tuple[int | None, int | None, list[RuleError]]:
    programme = ctx.programme
    raw_amount = _text(cells.get("amount"))
    if programme.amount_rule is AmountRule.RATE_X_COEFFICIENT and ctx.base_rate is not None:
        coefficient, errors = _coefficient(cells)
        if coefficient is None:
            return None, None, errors
        expected = amount_from_rate(ctx.base_rate, coefficient)
        if raw_amount:
            given, amount_errors = parse_vnd(raw_amount)
            if amount_errors:
                return None, coefficient, amount_errors
            if given != expected:
                return None, coefficient, [_err(
                    "amount_rule_mismatch", "amount",
                    f"Amount {given:,} differs from base {ctx.base_rate:,} × coefficient "
                    f"= {expected:,}.",
                    f"Số tiền {given:,} khác mức chuẩn {ctx.base_rate:,} × hệ số = {expected:,}.")]
        return expected, coefficient, []
    amount, errors = parse_vnd(raw_amount)
    if amount is None:
        return None, None, errors
    errors = check_amount_bounds(amount, programme.min_amount, programme.max_amount)
    return (None if errors else amount), None, errors


def validate_row(raw: RawRow, ctx: ValidationContext) -> tuple[ValidRow | None, list[RuleError]]:
    """Apply every row rule; return the normalised row (None if any error blocks) and findings."""
    cells = raw.cells
    errors: list[RuleError] = []
    name, found = validate_name(_text(cells.get("full_name")))
    errors += found
    dob, found = parse_date(cells.get("date_of_birth") or "", today=ctx.today)
    errors += found
    if dob is not None:
        errors += check_age(dob, on=ctx.today, minimum=ctx.programme.min_age,
                            maximum=ctx.programme.max_age)
    gender, found = parse_gender(_text(cells.get("gender")))
    errors += found
    cccd, found = validate_cccd(_text(cells.get("citizen_id")), date_of_birth=dob, gender=gender)
    errors += found
    province, commune, found = _locality(cells)
    errors += found
    amount, coefficient, found = _amount(cells, ctx)
    errors += found
    channel, bin_, account, holder, phone, found = _payment(cells, ctx.programme, name)
    errors += found
    if any(e.severity is Severity.ERROR for e in errors):
        return None, errors
    assert name and dob and gender and cccd and amount and channel  # guaranteed by no errors
    flags = tuple(e.code for e in errors if e.severity is Severity.REVIEW)
    return ValidRow(raw.row, cccd, name, dob, gender, province, commune, amount, coefficient,
                    channel, bin_, account, holder, phone, flags), errors


def _payment(cells: dict[str, Cell], programme: Programme, name: str | None
             ) -> tuple[str | None, str | None, str | None, str | None, str | None,
                        list[RuleError]]:
    errors: list[RuleError] = []
    channel, found = parse_channel(_text(cells.get("channel")))
    errors += found
    if channel is not None and not programme.allows(channel):
        errors.append(_err(
            "channel_not_allowed", "channel",
            f"Programme {programme.code} does not pay through channel {channel}.",
            f"Chương trình {programme.name_vi} không chi trả qua hình thức {channel}."))
    bin_, account, found = validate_payment_target(
        channel or "", _text(cells.get("bank_bin")) or None,
        _text(cells.get("account_number")) or None) if channel else (None, None, [])
    errors += found
    holder_raw = _text(cells.get("account_holder"))
    holder = normalize_name(holder_raw) if holder_raw and channel != "cash" else None
    if holder and name:
        errors += compare_holder_name(name, holder)
    phone_raw = _text(cells.get("phone"))
    phone, found = normalize_phone(phone_raw) if phone_raw else (None, [])
    errors += found
    return channel, bin_, account, holder, phone, errors



Checked = tuple[RawRow, ValidRow | None, list[RuleError]]


def validate_chunk(ctx: ValidationContext, chunk: list[RawRow]) -> list[Checked]:
    """Validate every row of a chunk, keeping each raw row beside its result."""
    return [(raw, *validate_row(raw, ctx)) for raw in chunk]
