"""Atomic writes: the file and its directory are fsynced, the mode is 0600, a failure leaves
nothing behind; and the one file digest."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path

import pytest

from disburse.core import private_files
from disburse.core.private_files import (
    atomic_writer,
    file_sha256,
    replace_durably,
    write_atomically,
)


@pytest.fixture
def synced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Path]]:
    """Record what every ``os.fsync`` call was given: ('dir' | 'file', its path)."""
    calls: list[tuple[str, Path]] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        target = Path(os.readlink(f"/proc/self/fd/{fd}"))
        calls.append(("dir" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file", target))
        real_fsync(fd)

    monkeypatch.setattr(private_files.os, "fsync", recording_fsync)
    return calls


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.mark.parametrize("data", [b"signature bytes", "source"])
def test_write_syncs_the_file_then_its_directory(tmp_path, synced, data):
    source = tmp_path / "source.bin"
    source.write_bytes(b"copied from a file")
    out = tmp_path / "out"
    out.mkdir()
    target = out / "F.xml.sig"

    written = write_atomically(target, source if data == "source" else data)

    assert written == target
    assert target.read_bytes() == (b"copied from a file" if data == "source" else data)
    kinds = [kind for kind, _ in synced]
    assert kinds == ["file", "dir"]  # the bytes first, the rename after them
    assert synced[0][1].parent == out and synced[0][1].name.startswith(".F.xml.sig.")
    assert synced[1][1] == out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert _names(out) == ["F.xml.sig"]


def test_replacing_keeps_a_reader_on_the_old_or_the_new_bytes(tmp_path, synced):
    target = tmp_path / "manifest.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o644)
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert ("dir", tmp_path) in synced


def test_a_public_file_gets_the_mode_it_asks_for(tmp_path):
    target = write_atomically(tmp_path / "key.pub", b"pem", mode=0o644)
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_failed_write_leaves_no_partial_file(tmp_path, synced):
    target = tmp_path / "F.xml"
    target.write_bytes(b"the complete earlier file")
    with pytest.raises(RuntimeError, match="disk full"), atomic_writer(target) as out:
        out.write(b"half of a ")
        raise RuntimeError("disk full")
    assert target.read_bytes() == b"the complete earlier file"
    assert _names(tmp_path) == ["F.xml"]  # no temporary left over
    assert synced == []


def test_a_failed_first_write_leaves_no_file_at_all(tmp_path, monkeypatch):
    def broken_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(private_files.os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="Input/output"):
        write_atomically(tmp_path / "F.xml.sig", b"signature")
    assert _names(tmp_path) == []


def test_exclusive_refuses_to_replace_and_leaves_both_files_as_they_were(tmp_path):
    target = tmp_path / "data-v1.key"
    write_atomically(target, b"first", exclusive=True)
    with pytest.raises(FileExistsError):
        write_atomically(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert _names(tmp_path) == ["data-v1.key"]


def test_replace_durably_syncs_the_file_and_both_directories(tmp_path, synced):
    inbox, archive = tmp_path / "inbox", tmp_path / "archive"
    inbox.mkdir()
    archive.mkdir()
    (inbox / "camt.xml").write_bytes(b"<Document/>")
    replace_durably(inbox / "camt.xml", archive / "camt.xml")
    assert (archive / "camt.xml").read_bytes() == b"<Document/>"
    assert synced == [("file", inbox / "camt.xml"), ("dir", archive), ("dir", inbox)]


def test_file_sha256_is_the_digest_and_size_of_the_bytes(tmp_path):
    data = os.urandom((1 << 20) + 17)  # more than one read chunk
    path = tmp_path / "f"
    path.write_bytes(data)
    assert file_sha256(path) == (hashlib.sha256(data).hexdigest(), len(data))
