"""HTTP client for the population registry: batches, concurrency, retries, circuit breaker.

Every ID asked about gets exactly one result. When the registry cannot answer (breaker open,
retries exhausted, a refused request, a garbled answer) the IDs of that batch get an
*unavailable* result; no exception reaches the caller and nothing is ever reported as found
without a registry answer behind it.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, date, datetime
from types import TracebackType
from typing import Any

import httpx

from beneficiaries.registry.models import (
    CitizenRecord,
    LookupResult,
    ProgressCallback,
    RegistryStatus,
    evidence_digest,
)
from disburse.core.breaker import CircuitBreaker, backoff_delay

logger = logging.getLogger(__name__)

#: Transport failures worth another attempt: the request may not have reached a live server.
_RETRYABLE = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)


class MalformedAnswerError(ValueError):
    """The registry answered 200 with a body this client cannot trust."""


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One HTTP attempt: a response, or the transport error that prevented it."""

    response: httpx.Response | None
    error: str | None

    @property
    def retryable(self) -> bool:
        return self.response is None or self.response.status_code >= 500


def _utcnow() -> datetime:
    return datetime.now(UTC)


def is_citizen_id(value: str) -> bool:
    """Return True for a 12-digit ASCII citizen ID (the only shape the registry accepts)."""
    return len(value) == 12 and value.isascii() and value.isdigit()


def _parse_served_at(value: Any) -> datetime:
    if not isinstance(value, str):
        raise MalformedAnswerError("served_at is missing")
    stamp = datetime.fromisoformat(value)
    if stamp.tzinfo is None:
        raise MalformedAnswerError("served_at has no time zone")
    return stamp.astimezone(UTC)


def parse_citizen(item: dict[str, Any]) -> CitizenRecord:
    """Build a record from one found result of the registry's JSON.

    Raises:
        KeyError, ValueError, TypeError: the item does not have the registry's shape.
    """
    death = item["date_of_death"]
    return CitizenRecord(
        citizen_id=str(item["citizen_id"]),
        full_name=str(item["full_name"]),
        date_of_birth=date.fromisoformat(item["date_of_birth"]),
        gender=str(item["gender"]),
        status=RegistryStatus(item["status"]),
        date_of_death=date.fromisoformat(death) if death is not None else None,
        province_code=str(item["province_code"]),
        commune_code=str(item["commune_code"]),
    )


def parse_answer(
    body: bytes, request_id: str, citizen_ids: Sequence[str]
) -> dict[str, LookupResult]:
    """Turn a 200 batch answer into results for ``citizen_ids``.

    IDs the answer leaves out are not guessed at: they are returned unavailable.

    Raises:
        MalformedAnswerError: the body is not the registry's answer to this request.
    """
    try:
        data = json.loads(body)
        if data.get("request_id") != request_id:
            raise MalformedAnswerError("the answer is for another request_id")
        served_at = _parse_served_at(data.get("served_at"))
        items = {item["citizen_id"]: item for item in data["results"]}
        digest = evidence_digest(body, request_id)
        results = {cid: _result(cid, items.get(cid), digest, served_at, request_id)
                   for cid in citizen_ids}
    except MalformedAnswerError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise MalformedAnswerError(f"{type(exc).__name__}: {exc}") from None
    return results


def _result(
    cid: str, item: dict[str, Any] | None, digest: str, served_at: datetime, request_id: str
) -> LookupResult:
    if item is None:
        return unavailable_result(cid, "the registry's answer left this ID out", served_at,
                                  request_id)
    record = parse_citizen(item) if item["found"] is True else None
    return LookupResult(citizen_id=cid, record=record, found=record is not None,
                        evidence_digest=digest, served_at=served_at, request_id=request_id)


def unavailable_result(
    citizen_id: str, error: str, at: datetime, request_id: str = ""
) -> LookupResult:
    """The result for an ID the registry could not answer (never to be read as verified)."""
    return LookupResult(citizen_id=citizen_id, record=None, found=False, evidence_digest="",
                        served_at=at, error=error, unavailable=True, request_id=request_id)


def _batches(ids: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


class HttpPopulationRegistry:
    """``PopulationRegistry`` over the registry's HTTP API (the reference ``popdb`` service).

    Thread-safe: one ``httpx.Client`` (pooled connections) is shared by the batch threads.
    Use as a context manager, or call ``close()``.
    """

    def __init__(
        self, base_url: str, token: str, *, batch_size: int = 1000, concurrency: int = 4,
        connect_timeout: float = 3.0, read_timeout: float = 30.0, max_retries: int = 3,
        backoff_base: float = 0.25, backoff_cap: float = 8.0,
        breaker: CircuitBreaker | None = None, sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = _utcnow,
    ) -> None:
        """Configure the client.

        Args:
            base_url: the registry root, e.g. ``http://127.0.0.1:8081``.
            token: the bearer token.
            batch_size: IDs per request (the registry's limit is 1,000 by default).
            concurrency: batches in flight at once.
            connect_timeout: seconds to wait for a connection.
            read_timeout: seconds to wait for an answer (also write and pool waits).
            max_retries: extra attempts after the first, on 5xx, timeouts and network errors.
            backoff_base: ceiling of the first back-off, seconds (full jitter below it).
            backoff_cap: largest back-off ceiling, seconds.
            breaker: circuit breaker (default: 5 failures, 30 s cool-down).
            sleep: waits between retries; tests pass a no-op.
            now: the clock stamped on unavailable results.
        """
        if batch_size < 1 or concurrency < 1 or max_retries < 0:
            raise ValueError("batch_size and concurrency must be >= 1, max_retries >= 0")
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.breaker = breaker if breaker is not None else CircuitBreaker()
        self._sleep = sleep
        self._now = now
        self._http = httpx.Client(
            base_url=base_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=concurrency * 2,
                                max_keepalive_connections=concurrency),
        )

    def __enter__(self) -> HttpPopulationRegistry:
        """Return self; the connections close on exit."""
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the connections."""
        self.close()

    def close(self) -> None:
        """Close pooled connections."""
        self._http.close()

    def health(self) -> bool:
        """Return True when ``GET /health`` answers 200 with status ok (never raises)."""
        try:
            response = self._http.get("/health")
            return response.status_code == 200 and response.json().get("status") == "ok"
        except (httpx.HTTPError, ValueError, AttributeError):
            return False

    def lookup_many(
        self, citizen_ids: Sequence[str], *, on_batch: ProgressCallback | None = None
    ) -> dict[str, LookupResult]:
        """Look up every distinct ID in batches sent concurrently; one result per ID.

        IDs that are not 12 digits are not sent (the registry would refuse the whole batch):
        they are answered not found, with an error saying why and no evidence.

        Args:
            citizen_ids: IDs to look up, duplicates allowed.
            on_batch: called in the caller's thread after each batch as (IDs done, total).
        """
        unique = list(dict.fromkeys(citizen_ids))
        sendable = [cid for cid in unique if is_citizen_id(cid)]
        results = {cid: self._invalid(cid) for cid in unique if not is_citizen_id(cid)}
        done, total = len(results), len(unique)
        if not sendable:
            if on_batch is not None:
                on_batch(done, total)
            return results
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="registry") as pool:
            futures = {pool.submit(self._lookup_batch, batch): batch
                       for batch in _batches(sendable, self.batch_size)}
            for future in as_completed(futures):
                results.update(future.result())
                done += len(futures[future])
                if on_batch is not None:
                    on_batch(done, total)
        return results

    def _invalid(self, cid: str) -> LookupResult:
        return LookupResult(citizen_id=cid, record=None, found=False, evidence_digest="",
                            served_at=self._now(),
                            error="not a 12-digit citizen ID; not sent to the registry")

    def _lookup_batch(self, ids: list[str]) -> dict[str, LookupResult]:
        """Answer one batch; whatever happens, every ID gets a result and nothing raises."""
        request_id = uuid.uuid4().hex
        try:
            return self._ask(ids, request_id)
        except Exception as exc:  # the last guard: a bug here must not lose a batch
            logger.exception("registry batch %s failed unexpectedly", request_id)
            return self._unavailable(ids, f"client error: {exc!r}", request_id)

    def _ask(self, ids: list[str], request_id: str) -> dict[str, LookupResult]:
        payload = {"citizen_ids": ids, "request_id": request_id}
        last_error = "no attempt was made"
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._sleep(backoff_delay(attempt - 1, base=self.backoff_base,
                                          cap=self.backoff_cap))
            if not self.breaker.allow():
                return self._unavailable(
                    ids, f"circuit breaker open (last error: {last_error})", request_id)
            outcome = self._send(payload)
            if outcome.retryable:
                self.breaker.record_failure()
                last_error = outcome.error or "unknown error"
                continue
            self.breaker.record_success()  # any answer below 500 proves the registry is up
            assert outcome.response is not None  # not retryable means a response came
            return self._read(outcome.response, ids, request_id)
        attempts = self.max_retries + 1
        return self._unavailable(
            ids, f"registry unavailable after {attempts} attempt(s): {last_error}", request_id)

    def _send(self, payload: dict[str, Any]) -> _Attempt:
        try:
            response = self._http.post("/v1/citizens/lookup", json=payload)
        except _RETRYABLE as exc:
            return _Attempt(None, f"{type(exc).__name__}: {exc}")
        if response.status_code >= 500:
            return _Attempt(response, f"HTTP {response.status_code}")
        return _Attempt(response, None)

    def _read(
        self, response: httpx.Response, ids: list[str], request_id: str
    ) -> dict[str, LookupResult]:
        if response.status_code != 200:
            # 4xx is never retried: the same request would be refused again.
            return self._unavailable(
                ids, f"registry refused the request: HTTP {response.status_code} "
                f"{_problem_detail(response)}", request_id)
        try:
            return parse_answer(response.content, request_id, ids)
        except MalformedAnswerError as exc:
            return self._unavailable(ids, f"malformed registry answer: {exc}", request_id)

    def _unavailable(
        self, ids: Sequence[str], error: str, request_id: str
    ) -> dict[str, LookupResult]:
        at = self._now()
        return {cid: unavailable_result(cid, error, at, request_id) for cid in ids}


def _problem_detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", "")
    except (ValueError, AttributeError):
        return ""
    return f"({detail})" if detail else ""
