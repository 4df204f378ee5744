"""Files sealed with the keyring: authenticated encryption of a whole file, one chunk at a time.

Stored copies of what people upload (list originals, rejected-rows workbooks, import reports)
hold citizen IDs, names and accounts, so they are kept only encrypted. Each file gets its own
random 256-bit key (envelope encryption): the key is sealed with the keyring's current data
key, bound to the file's ``field`` (so a sealed original cannot be passed off as a report),
and the body is AES-256-GCM in 1 MiB chunks. A chunk's nonce is its counter plus a flag for
the last chunk, and every chunk authenticates the header: a reordered, truncated, extended
or re-headed file fails to open. Neither sealing nor opening holds more than a chunk of the
file in memory, and a data-key rotation leaves sealed files readable (the wrapped key names
its key version).

Layout: ``MAGIC | wrapped key length (2 bytes, big-endian) | wrapped key | chunks``, each
chunk ``AES-GCM(chunk of CHUNK_SIZE bytes, or fewer for the last) + 16-byte tag``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from disburse.core.keyring import DecryptionFailed, Keyring
from disburse.core.private_files import AtomicFile, atomic_writer

MAGIC = b"DSBSEAL1"
#: Plaintext bytes per chunk: large enough that the 16-byte tags cost nothing, small enough
#: that sealing a 100 MB upload never holds more than this of it.
CHUNK_SIZE = 1 << 20
_TAG = 16
_LAST, _MORE = b"\x01", b"\x00"
#: Suffix of sealed files on disk.
SUFFIX = ".sealed"


def _nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (_LAST if last else _MORE)


def _key_field(field: str) -> str:
    return f"file-key:{field}"


class SealedWriter:
    """A write-only binary stream that seals what is written to ``path`` (mode 0600).

    The file appears under its name only when ``close()`` succeeds (written to a temporary
    name first), so a failed write never leaves a half-sealed file behind. It reports its
    position (``tell``) but cannot seek, which is all ``zipfile`` needs to write a workbook.
    """

    def __init__(self, keyring: Keyring, field: str, path: Path) -> None:
        key = AESGCM.generate_key(256)
        wrapped = keyring.encrypt(_key_field(field), base64.b64encode(key).decode("ascii"))
        self._header = MAGIC + len(wrapped).to_bytes(2, "big") + wrapped
        self._aead = AESGCM(key)
        self._file = AtomicFile(path)
        self._out: BinaryIO = self._file.handle
        self._out.write(self._header)
        self._buffer = bytearray()
        self._counter = 0
        self._position = 0
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> int:
        """Buffer ``data`` and seal every complete chunk."""
        self._buffer += data
        self._position += len(data)
        while len(self._buffer) > CHUNK_SIZE:  # keep the last chunk back: it is sealed as last
            self._seal(bytes(self._buffer[:CHUNK_SIZE]), last=False)
            del self._buffer[:CHUNK_SIZE]
        return len(data)

    def tell(self) -> int:
        """Return how many plaintext bytes were written."""
        return self._position

    def flush(self) -> None:
        """Nothing to do: chunks are written as they fill (``zipfile`` calls this)."""

    def seekable(self) -> bool:
        """A sealed stream is written in order only."""
        return False

    def _seal(self, chunk: bytes, *, last: bool) -> None:
        self._out.write(self._aead.encrypt(_nonce(self._counter, last), chunk, self._header))
        self._counter += 1

    def close(self) -> None:
        """Seal the last chunk and move the file, synced, to its name (``AtomicFile``)."""
        if self.closed:
            return
        self.closed = True
        try:
            self._seal(bytes(self._buffer), last=True)
        except BaseException:
            self._file.abort()
            raise
        self._file.commit()

    def abort(self) -> None:
        """Drop what was written: nothing appears under the file's name."""
        self.closed = True
        self._file.abort()

    def __enter__(self) -> SealedWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def seal_file(keyring: Keyring, field: str, source: Path, target: Path) -> None:
    """Seal a copy of ``source`` as ``target``, streaming it chunk by chunk."""
    with source.open("rb") as handle, SealedWriter(keyring, field, target) as out:
        while block := handle.read(CHUNK_SIZE):
            out.write(block)


def seal_bytes(keyring: Keyring, field: str, data: bytes, target: Path) -> None:
    """Seal ``data`` (a small document such as a report) as ``target``."""
    with SealedWriter(keyring, field, target) as out:
        out.write(data)


class SealedReader:
    """An opened sealed file: header, file key and first chunk are checked on creation.

    Opening eagerly lets an entry point refuse a file sealed for another field, with a key
    the keyring lacks, or damaged in its first chunk (the whole of any file under 1 MiB)
    before it starts a response; ``chunks()`` then authenticates each later chunk before
    yielding it.
    """

    def __init__(self, keyring: Keyring, field: str, path: Path) -> None:
        self.path = path
        self._handle = path.open("rb")
        try:
            self._header, key = self._read_header(keyring, field)
        except BaseException:
            self._handle.close()
            raise
        self._aead = AESGCM(key)
        self._first = self._open_chunk(0)

    def _open_chunk(self, counter: int) -> tuple[bytes, bool]:
        """Read and authenticate chunk ``counter``; also say whether it is the last one."""
        block = self._handle.read(CHUNK_SIZE + _TAG)
        last = len(block) < CHUNK_SIZE + _TAG or not self._peek()
        try:
            return self._aead.decrypt(_nonce(counter, last), block, self._header), last
        except InvalidTag:
            self._handle.close()
            raise DecryptionFailed(
                f"{self.path.name} failed authentication at chunk {counter} "
                "(damaged, cut short or not sealed for this use)") from None

    def _peek(self) -> bool:
        """Whether anything follows the current position (without consuming it)."""
        here = self._handle.tell()
        more = bool(self._handle.read(1))
        self._handle.seek(here)
        return more

    def _read_header(self, keyring: Keyring, field: str) -> tuple[bytes, bytes]:
        start = self._handle.read(len(MAGIC) + 2)
        if len(start) < len(MAGIC) + 2 or not start.startswith(MAGIC):
            raise DecryptionFailed(f"{self.path.name} is not a sealed file")
        wrapped = self._handle.read(int.from_bytes(start[-2:], "big"))
        try:
            key = base64.b64decode(keyring.decrypt(_key_field(field), wrapped), validate=True)
        except (binascii.Error, ValueError):
            raise DecryptionFailed(f"{self.path.name} has a damaged file key") from None
        return start + wrapped, key

    def chunks(self) -> Iterator[bytes]:
        """Yield the plaintext, one authenticated chunk at a time; close the file at the end.

        Raises:
            DecryptionFailed: a chunk fails authentication, or the file was cut short.
        """
        try:
            chunk, last = self._first
            counter = 0
            yield chunk
            while not last:
                counter += 1
                chunk, last = self._open_chunk(counter)
                yield chunk
        finally:
            self._handle.close()

    def close(self) -> None:
        """Close the file without reading it (when a response is abandoned)."""
        self._handle.close()


def open_sealed(keyring: Keyring, field: str, path: Path) -> SealedReader:
    """Open a sealed file for reading (see ``SealedReader``)."""
    return SealedReader(keyring, field, path)


def read_sealed_bytes(keyring: Keyring, field: str, path: Path) -> bytes:
    """Return the whole plaintext of a small sealed file (a report)."""
    return b"".join(open_sealed(keyring, field, path).chunks())


def unseal_file(keyring: Keyring, field: str, source: Path, target: Path) -> None:
    """Write the plaintext of ``source`` to ``target`` (mode 0600), chunk by chunk.

    Nothing is left at ``target`` when a chunk fails authentication.
    """
    reader = open_sealed(keyring, field, source)
    try:
        with atomic_writer(target) as out:
            for chunk in reader.chunks():
                out.write(chunk)
    finally:
        reader.close()
