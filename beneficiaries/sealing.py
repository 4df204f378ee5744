"""Blind indexes and ciphertexts of a valid row: what the registry stores instead of PII."""

from __future__ import annotations

from beneficiaries.validation import ValidRow
from disburse.core.keyring import Keyring

#: (citizen ID blind index, account blind index or None, citizen ID ciphertext, account
#: ciphertext or None, phone ciphertext or None) of one row.
Sealed = tuple[str, str | None, bytes, bytes | None, bytes | None]


def account_index(keyring: Keyring, bank_bin: str | None, account: str) -> str:
    """Blind index of an account: the BIN is part of it (one number at two banks differs)."""
    return keyring.blind_index("account_number", f"{bank_bin}:{account}")


def seal_phone(keyring: Keyring, phone: str | None) -> bytes | None:
    """Encrypt a phone (an e-wallet recipient's wallet number); nothing looks phones up."""
    return keyring.encrypt("phone", phone) if phone else None


def seal(keyring: Keyring, row: ValidRow) -> Sealed:
    """Compute the blind indexes and encrypt the citizen ID, account and phone of ``row``."""
    account = row.account_number
    return (keyring.blind_index("citizen_id", row.citizen_id),
            account_index(keyring, row.bank_bin, account) if account else None,
            keyring.encrypt("citizen_id", row.citizen_id),
            keyring.encrypt("account_number", account) if account else None,
            seal_phone(keyring, row.phone))
