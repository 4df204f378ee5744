"""The service's own files: owner-only modes, atomic durable writes, and their digests.

The database, stored imports, payment files, signatures, manifests, returns and reports all
name or pay people. Entry points set a process-wide umask of 0o077 (``restrict_umask``) so that
whatever a library creates is private too; the helpers here give the same modes explicitly
where the service creates a file itself, whatever the umask was.

Every file the service writes under its final name goes through ``AtomicFile`` (or its
shorthands ``atomic_writer`` and ``write_atomically``): the bytes go to a hidden temporary
name in the same directory (``.<name>.<random>.tmp``, which readers of shared folders skip),
the file is fsynced, renamed over its name, and the directory is fsynced so that the rename
itself survives a power cut. A reader sees no file or the whole file, never a part of it, and a
signature or manifest is as durable as the file it describes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Final

#: Only the owner may read, write or enter.
PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700
#: Bytes read at a time when copying or hashing a file.
_CHUNK: Final = 1 << 20


def restrict_umask() -> int:
    """Set the process umask to 0o077 (entry points call this first); return the old one."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 directories; make ``path`` itself 0700.

    Parents that already exist keep their mode (they may be shared, e.g. the home directory).
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; an old one may be 0755
    return path


def open_private(path: Path) -> BinaryIO:
    """Create (or truncate) ``path`` as a 0600 file and open it for binary writing."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(descriptor, "wb")


def make_private(*paths: Path) -> None:
    """Set existing files to 0600 (files written by a library that takes only a path)."""
    for path in paths:
        if path.exists():
            os.chmod(path, FILE_MODE)


def fsync_dir(directory: Path) -> None:
    """Flush ``directory``'s entries to disk, so that a rename or a new name in it is durable."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def replace_durably(source: Path, target: Path) -> Path:
    """Rename the complete file ``source`` over ``target``, durably.

    For a file written and checked under a temporary name before it is published, or moved
    to an archive. The file is fsynced first (cheap when its writer already did), then
    renamed, then its directory is fsynced; both directories when the file changes folder.
    """
    with source.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(source, target)
    fsync_dir(target.parent)
    if source.parent.resolve() != target.parent.resolve():
        fsync_dir(source.parent)
    return target


class AtomicFile:
    """A file that appears under its name complete and durable, or not at all.

    Write to ``handle``, then ``commit()``; ``abort()`` (or any failure in ``commit``) removes
    the temporary file and leaves ``target`` as it was.

    Args:
        target: The final path; its directory must exist.
        mode: The file's permission bits (0600 unless the file is public, e.g. a public key).
        exclusive: Refuse to replace an existing ``target`` (``FileExistsError`` on commit):
            for secrets created once, such as a new data key.
    """

    def __init__(self, target: Path, *, mode: int = FILE_MODE, exclusive: bool = False) -> None:
        self.target = target
        self._exclusive = exclusive
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.",
                                            suffix=".tmp")
        self.temporary = Path(name)
        try:
            os.fchmod(descriptor, mode)  # mkstemp makes 0600; a public file asks for more
            self.handle: BinaryIO = os.fdopen(descriptor, "wb")
        except BaseException:
            os.close(descriptor)
            self.temporary.unlink(missing_ok=True)
            raise

    def commit(self) -> Path:
        """Sync the bytes, move them to ``target``, sync the directory; return ``target``."""
        try:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()
            if self._exclusive:
                os.link(self.temporary, self.target)  # fails if the target exists
                self.temporary.unlink()
            else:
                os.replace(self.temporary, self.target)
        except BaseException:
            self.abort()
            raise
        fsync_dir(self.target.parent)
        return self.target

    def abort(self) -> None:
        """Drop what was written: nothing appears under ``target``."""
        self.handle.close()
        self.temporary.unlink(missing_ok=True)


@contextmanager
def atomic_writer(target: Path, *, mode: int = FILE_MODE,
                  exclusive: bool = False) -> Iterator[BinaryIO]:
    """Give a binary stream whose bytes replace ``target`` atomically when the block ends.

    An exception inside the block leaves ``target`` untouched and no temporary file behind.
    """
    atomic = AtomicFile(target, mode=mode, exclusive=exclusive)
    try:
        yield atomic.handle
    except BaseException:
        atomic.abort()
        raise
    atomic.commit()


def write_atomically(target: Path, data: bytes | Path, *, mode: int = FILE_MODE,
                     exclusive: bool = False) -> Path:
    """Write ``data`` (bytes, or the content of a file) to ``target`` atomically and durably.

    Args:
        target: The final path; its directory must exist.
        data: The bytes, or a file whose content is copied in chunks.
        mode: The permission bits of the new file.
        exclusive: Refuse to replace an existing ``target`` (``FileExistsError``).

    Returns:
        ``target``.
    """
    with atomic_writer(target, mode=mode, exclusive=exclusive) as out:
        if isinstance(data, Path):
            with data.open("rb") as source:
                shutil.copyfileobj(source, out, _CHUNK)
        else:
            out.write(data)
    return target


def file_sha256(path: Path) -> tuple[str, int]:
    """Return the hex SHA-256 and the size of the file at ``path``, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size
