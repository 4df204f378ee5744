"""Sealed files: round trips of any size, and every kind of tampering is refused."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from disburse.core.keyring import DecryptionFailed, Keyring
from disburse.core.private_files import private_dir
from disburse.core.sealed_files import (
    CHUNK_SIZE,
    MAGIC,
    SealedWriter,
    open_sealed,
    read_sealed_bytes,
    seal_bytes,
    seal_file,
    unseal_file,
)

FIELD = "list_import.original"


@pytest.fixture(scope="module")
def keyring(tmp_path_factory: pytest.TempPathFactory) -> Keyring:
    return Keyring.init(tmp_path_factory.mktemp("sealed") / "keys")


@pytest.mark.parametrize("size", [0, 1, CHUNK_SIZE - 1, CHUNK_SIZE, CHUNK_SIZE + 1,
                                  2 * CHUNK_SIZE, 2 * CHUNK_SIZE + 17])
def test_round_trip_at_chunk_boundaries(keyring: Keyring, tmp_path: Path, size: int) -> None:
    plain = os.urandom(size)
    source, sealed, back = tmp_path / "p", tmp_path / "s", tmp_path / "b"
    source.write_bytes(plain)
    seal_file(keyring, FIELD, source, sealed)
    assert sealed.read_bytes().startswith(MAGIC)
    assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
    unseal_file(keyring, FIELD, sealed, back)
    assert back.read_bytes() == plain
    assert all(len(c) <= CHUNK_SIZE for c in open_sealed(keyring, FIELD, sealed).chunks())


def test_the_same_plaintext_seals_differently(keyring: Keyring, tmp_path: Path) -> None:
    seal_bytes(keyring, FIELD, b"079158123456", tmp_path / "a")
    seal_bytes(keyring, FIELD, b"079158123456", tmp_path / "b")
    assert (tmp_path / "a").read_bytes() != (tmp_path / "b").read_bytes()
    assert b"079158123456" not in (tmp_path / "a").read_bytes()


def _sealed(keyring: Keyring, tmp_path: Path, size: int = 2 * CHUNK_SIZE + 5) -> Path:
    path = tmp_path / "s"
    seal_bytes(keyring, FIELD, os.urandom(size), path)
    return path


@pytest.mark.parametrize("damage", [
    "flip_first_chunk", "flip_last_chunk", "cut_last_chunk", "cut_at_boundary",
    "drop_everything_after_header", "append", "swap_chunks",
])
def test_tampering_is_refused(keyring: Keyring, tmp_path: Path, damage: str) -> None:
    path = _sealed(keyring, tmp_path)
    data = bytearray(path.read_bytes())
    header = len(MAGIC) + 2 + int.from_bytes(data[len(MAGIC):len(MAGIC) + 2], "big")
    block = CHUNK_SIZE + 16
    chunks = [bytes(data[i:i + block]) for i in range(header, len(data), block)]
    changed = {
        "flip_first_chunk": lambda: data[:header + 10] + bytes([data[header + 10] ^ 1])
        + data[header + 11:],
        "flip_last_chunk": lambda: data[:-3] + bytes([data[-3] ^ 1]) + data[-2:],
        "cut_last_chunk": lambda: data[:-1],
        "cut_at_boundary": lambda: data[:header + 2 * block],
        "drop_everything_after_header": lambda: data[:header],
        "append": lambda: data + b"x" * 40,
        "swap_chunks": lambda: data[:header] + chunks[1] + chunks[0] + chunks[2],
    }[damage]()
    path.write_bytes(bytes(changed))
    with pytest.raises(DecryptionFailed):
        read_sealed_bytes(keyring, FIELD, path)


def test_a_file_sealed_for_another_use_does_not_open(keyring: Keyring, tmp_path: Path) -> None:
    path = _sealed(keyring, tmp_path, 10)
    with pytest.raises(DecryptionFailed):
        open_sealed(keyring, "list_import.report", path)
    plain = tmp_path / "plain"
    plain.write_bytes(b"citizen_id\n079158123456\n")
    with pytest.raises(DecryptionFailed, match="not a sealed file"):
        open_sealed(keyring, FIELD, plain)


def test_files_stay_readable_after_a_key_rotation(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keyring = Keyring.init(keys)
    seal_bytes(keyring, FIELD, b"before rotation", tmp_path / "s")
    rotated = keyring.add_version(keys)
    assert read_sealed_bytes(rotated, FIELD, tmp_path / "s") == b"before rotation"


def test_an_aborted_writer_leaves_nothing(keyring: Keyring, tmp_path: Path) -> None:
    target = tmp_path / "w"
    with pytest.raises(RuntimeError), SealedWriter(keyring, FIELD, target) as out:
        out.write(b"half")
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []


def test_private_dir_makes_every_new_level_0700(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        leaf = private_dir(tmp_path / "a" / "b" / "c")
    finally:
        os.umask(previous)
    for path in (tmp_path / "a", tmp_path / "a" / "b", leaf):
        assert stat.S_IMODE(path.stat().st_mode) == 0o700
