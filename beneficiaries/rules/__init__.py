"""Pure validation rules for beneficiary lists.

Every rule takes a cell (or a few parsed values) and returns the normalised value with a list
of ``RuleError``: bad content is data, never an exception. No database, no Flask, no I/O beyond
the package's reference tables; patterns are compiled once at import so that a rule costs
microseconds on a million-row list.
"""

from beneficiaries.rules.cccd import cccd_birth_digits, decode_cccd_birth, validate_cccd
from beneficiaries.rules.dates import age_on, check_age, parse_date
from beneficiaries.rules.errors import RuleError, Severity, has_blocking
from beneficiaries.rules.money import check_amount_bounds, parse_vnd
from beneficiaries.rules.payment import normalize_phone, validate_payment_target
from beneficiaries.rules.text import (
    bank_form,
    compare_holder_name,
    normalize_name,
    validate_name,
)
from beneficiaries.rules.words import CHANNELS, parse_channel, parse_gender

# the export-cell rule lives in the kernel; re-exported for the exports that import it here
from disburse.core.cells import neutralize_cell

__all__ = [
    "CHANNELS",
    "RuleError",
    "Severity",
    "age_on",
    "bank_form",
    "cccd_birth_digits",
    "check_age",
    "check_amount_bounds",
    "compare_holder_name",
    "decode_cccd_birth",
    "has_blocking",
    "neutralize_cell",
    "normalize_name",
    "normalize_phone",
    "parse_channel",
    "parse_date",
    "parse_gender",
    "parse_vnd",
    "validate_cccd",
    "validate_name",
    "validate_payment_target",
]
