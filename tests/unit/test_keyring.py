"""The keyring: AES-256-GCM with versioned keys, blind indexes, and clear errors."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from disburse.core.errors import ConfigurationError
from disburse.core.keyring import DecryptionFailed, Keyring, key_version


@pytest.fixture
def keyring(tmp_path: Path) -> Keyring:
    return Keyring.init(tmp_path / "keys")


def test_init_writes_private_files(tmp_path: Path) -> None:
    Keyring.init(tmp_path / "keys")
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    for path in (tmp_path / "keys").iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    Keyring.init(tmp_path / "keys")
    with pytest.raises(ConfigurationError, match="already exists"):
        Keyring.init(tmp_path / "keys")


def test_round_trip_and_no_plaintext(keyring: Keyring) -> None:
    blob = keyring.encrypt("citizen_id", "079123456789")
    assert b"079123456789" not in blob
    assert keyring.decrypt("citizen_id", blob) == "079123456789"
    assert keyring.encrypt("citizen_id", "079123456789") != blob  # fresh nonce each time


def test_ciphertext_bound_to_its_field(keyring: Keyring) -> None:
    blob = keyring.encrypt("citizen_id", "079123456789")
    with pytest.raises(DecryptionFailed):
        keyring.decrypt("account_number", blob)


def test_tampered_ciphertext_fails(keyring: Keyring) -> None:
    blob = bytearray(keyring.encrypt("citizen_id", "079123456789"))
    blob[-1] ^= 1
    with pytest.raises(DecryptionFailed):
        keyring.decrypt("citizen_id", bytes(blob))


def test_blind_index_is_keyed_and_per_field(keyring: Keyring, tmp_path: Path) -> None:
    a = keyring.blind_index("citizen_id", "079123456789")
    assert a == keyring.blind_index("citizen_id", "079123456789")
    assert a != keyring.blind_index("account_number", "079123456789")
    other = Keyring.init(tmp_path / "other")
    assert a != other.blind_index("citizen_id", "079123456789")


def test_missing_keyring_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="disburse keys init"):
        Keyring.load(tmp_path / "nowhere")


def test_world_readable_key_refused(tmp_path: Path) -> None:
    Keyring.init(tmp_path / "keys")
    (tmp_path / "keys" / "index.key").chmod(0o644)
    with pytest.raises(ConfigurationError, match="readable by others"):
        Keyring.load(tmp_path / "keys")


def test_rotation_keeps_old_ciphertexts_readable(keyring: Keyring, tmp_path: Path) -> None:
    old = keyring.encrypt("citizen_id", "001099000001")
    rotated = keyring.add_version(tmp_path / "keys")
    assert rotated.current == 2
    assert key_version(old) == 1
    assert key_version(rotated.encrypt("citizen_id", "x")) == 2
    assert rotated.decrypt("citizen_id", old) == "001099000001"
    assert Keyring.load(tmp_path / "keys").versions() == [1, 2]
