"""Deterministic synthetic data: a population registry extract, beneficiary lists with known
defects and their answer key, and the bank simulator's account book.

The same seed always gives byte-identical files: every draw comes from a private
``random.Random`` and "today" is a parameter, never the clock.
"""

from beneficiaries.synth.accounts import (
    AccountBookSummary,
    Channel,
    PaymentProfile,
    payment_profile,
    read_list_rows,
    write_account_book,
)
from beneficiaries.synth.defects import DefectKind, DefectRates
from beneficiaries.synth.lists import ListsSummary, write_lists
from beneficiaries.synth.population import (
    DEFAULT_TODAY,
    Gender,
    Person,
    PopulationSummary,
    Status,
    generate_population,
    read_population_csv,
    write_population_csv,
)
from beneficiaries.synth.rows import Programme

__all__ = [
    "DEFAULT_TODAY",
    "AccountBookSummary",
    "Channel",
    "DefectKind",
    "DefectRates",
    "Gender",
    "ListsSummary",
    "PaymentProfile",
    "Person",
    "PopulationSummary",
    "Programme",
    "Status",
    "generate_population",
    "payment_profile",
    "read_list_rows",
    "read_population_csv",
    "write_account_book",
    "write_lists",
    "write_population_csv",
]
