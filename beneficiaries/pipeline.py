"""Read and validate a list in a forked worker process while the caller writes to the database.

Validation is pure (no database), so a large list can be read and checked one chunk ahead on
the second core while the importing process encrypts and inserts the current chunk. The
worker sends each validated chunk as one pickled message of plain tuples (dataclasses pickle
an order of magnitude slower); the pipe's buffer blocks it when it is a chunk ahead, so at
most about two chunks are in flight and memory stays bounded. Only the caller touches the
database: the single unit of work is unchanged.

Failures never hang the caller: a ``ListFileError`` raised while reading is re-raised as is,
any other exception in the worker, or the worker's death, raises ``ValidationWorkerFailed``.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import pickle
import traceback
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from beneficiaries.importers import ListFileError, RawRow, read_list
from beneficiaries.rules import RuleError, Severity
from beneficiaries.sealing import Sealed, seal
from beneficiaries.validation import Checked, ValidationContext, ValidRow, validate_chunk
from disburse.core.errors import DomainError
from disburse.core.keyring import Keyring

#: A validated chunk and, by row number, the sealed values of its valid rows.
SealedChunk = tuple[list[Checked], dict[int, Sealed]]

#: How long the caller waits for a message before checking that the worker is still alive.
_POLL_SECONDS = 1.0
#: First byte of each message: a chunk, the end, a file error, another failure.
_CHUNK, _DONE, _FILE_ERROR, _FAILED = b"C", b"D", b"F", b"W"
_SEVERITIES = {s.value: s for s in Severity}


class ValidationWorkerFailed(DomainError):
    """The process validating a list failed or died; nothing from the import is kept."""

    status = 500
    code = "validation_worker_failed"
    title = "List validation failed"
    title_vi = "Danh sách chi trả không hợp lệ"


def _encode(checked: list[Checked], keyring: Keyring) -> bytes:
    """One chunk as plain tuples: row number, cells, ValidRow fields or None, findings, and
    the valid row's blind indexes and ciphertexts (computed here, off the caller's core)."""
    return _CHUNK + pickle.dumps([
        (raw.row, raw.cells,
         None if row is None else (
             row.row, row.citizen_id, row.full_name, row.date_of_birth, row.gender,
             row.province_code, row.commune_code, row.amount, row.coefficient_x100,
             row.channel, row.bank_bin, row.account_number, row.account_holder, row.phone,
             row.flags),
         [(e.code, e.field, e.message_en, e.message_vi, e.severity.value) for e in errors]
         if errors else None,
         None if row is None else seal(keyring, row))
        for raw, row, errors in checked
    ], protocol=pickle.HIGHEST_PROTOCOL)


def _decode(payload: memoryview) -> SealedChunk:
    # Unpickling a chunk allocates some 200,000 containers, none of them in a cycle: the
    # collector would only walk them (about a third of the decoding time).
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _rebuild(payload)
    finally:
        if enabled:
            gc.enable()


def _rebuild(payload: memoryview) -> SealedChunk:
    severities = _SEVERITIES
    checked: list[Checked] = []
    sealed: dict[int, Sealed] = {}
    # the payload comes from our own forked child over a private pipe, never from a user
    for number, cells, fields, errors, seals in pickle.loads(payload):  # noqa: S301
        checked.append((
            RawRow(number, cells), None if fields is None else ValidRow(*fields),
            [RuleError(c, f, en, vi, severities[s]) for c, f, en, vi, s in errors]
            if errors else []))
        if seals is not None:
            sealed[number] = seals
    return checked, sealed


def _work(conn: Connection, path: Path, chunk_size: int, display_name: str | None,
          ctx: ValidationContext, keyring: Keyring) -> None:
    """The worker: read, validate and send every chunk, then ``_DONE`` (or the failure)."""
    gc.freeze()  # the parent's objects: never collected here, and their pages stay shared
    try:
        _, chunks = read_list(path, chunk_size=chunk_size, display_name=display_name)
        for chunk in chunks:
            conn.send_bytes(_encode(validate_chunk(ctx, chunk), keyring))
        conn.send_bytes(_DONE)
    except ListFileError as error:
        conn.send_bytes(_FILE_ERROR + error.detail.encode())
    except BaseException as error:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()
        conn.send_bytes(_FAILED + text.encode())
    finally:
        conn.close()


def available() -> bool:
    """Whether a worker can help: processes can be forked and a second CPU is ours to use."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return False
    affinity = getattr(os, "sched_getaffinity", None)
    cpus = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    return cpus > 1


class ValidationWorker:
    """A forked process reading and validating a list, one chunk ahead of the caller.

    Start it as soon as the validation context is known, iterate ``chunks()`` in order, and
    always ``close()`` it (or use it as a context manager): closing stops a worker that is
    still running, so an exception in the caller never leaves a process behind.
    """

    def __init__(self, path: Path, ctx: ValidationContext, keyring: Keyring, *,
                 chunk_size: int, display_name: str | None) -> None:
        context = multiprocessing.get_context("fork")
        self._receiver, sender = context.Pipe(duplex=False)
        self._worker = context.Process(target=_work, name="list-validation", daemon=True,
                                       args=(sender, path, chunk_size, display_name, ctx,
                                             keyring))
        self._worker.start()
        sender.close()

    def __enter__(self) -> ValidationWorker:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def chunks(self) -> Iterator[SealedChunk]:
        """Yield the validated chunks in file order, with the valid rows' sealed values.

        Raises:
            ListFileError: the worker found the file unreadable part-way through.
            ValidationWorkerFailed: the worker raised another exception or died.
        """
        worker = self._worker
        while True:
            payload = _receive(self._receiver, worker)
            kind, body = payload[:1], memoryview(payload)[1:]
            if kind == _CHUNK:
                yield _decode(body)
            elif kind == _DONE:
                return
            elif kind == _FILE_ERROR:
                raise ListFileError(bytes(body).decode())
            else:
                raise ValidationWorkerFailed(
                    f"validating the list failed in the worker process (pid {worker.pid}): "
                    f"{bytes(body).decode(errors='replace')}; nothing was imported")

    def close(self) -> None:
        """Stop the worker if it still runs and wait for it."""
        self._receiver.close()
        if self._worker.is_alive():
            self._worker.terminate()
        self._worker.join()


def _receive(receiver: Connection, worker: Any) -> bytes:
    """The next message; ``ValidationWorkerFailed`` if the worker is gone without one."""
    while not receiver.poll(_POLL_SECONDS):
        if not worker.is_alive() and not receiver.poll(0):
            break
    else:
        try:
            return receiver.recv_bytes()
        except (EOFError, OSError):
            pass  # the worker closed its end without a message: it died
    worker.join(_POLL_SECONDS)
    raise ValidationWorkerFailed(
        f"the list validation worker (pid {worker.pid}) stopped with exit code "
        f"{worker.exitcode} before finishing the list; nothing was imported")
