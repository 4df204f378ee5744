"""What a population-registry lookup returns, and the interface every registry client offers."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

#: Progress callback: (IDs answered so far, total distinct IDs).
ProgressCallback = Callable[[int, int], None]


class RegistryStatus(StrEnum):
    """A person's vital status as the population registry records it."""

    ALIVE = "alive"
    DECEASED = "deceased"


class LookupOutcome(StrEnum):
    """How a lookup ended. ``UNAVAILABLE`` means no answer: never treat it as verified."""

    FOUND = "found"
    NOT_FOUND = "not_found"
    UNAVAILABLE = "unavailable"


@dataclass(frozen=True, slots=True)
class CitizenRecord:
    """One person as the population registry holds them."""

    citizen_id: str
    full_name: str
    date_of_birth: date
    gender: str
    status: RegistryStatus
    date_of_death: date | None
    province_code: str
    commune_code: str

    @property
    def deceased(self) -> bool:
        """True when the registry records this person as dead."""
        return self.status is RegistryStatus.DECEASED


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The registry's answer about one citizen ID, with the evidence it came in.

    Exactly one of three outcomes holds (see ``outcome``): found (``record`` set), not found,
    or unavailable (the registry could not be asked or did not answer; ``error`` says why).

    Attributes:
        citizen_id: the ID asked about.
        record: the registry's record when found, else None.
        found: True only when the registry answered with a record.
        evidence_digest: ``evidence_digest(body, request_id)`` of the response the answer
            came in; "" when there was no answer.
        served_at: when the registry served the answer (aware UTC); for an unavailable
            outcome, when the client gave up.
        error: why there is no answer (or why the ID was not sent), else None.
        unavailable: True when the registry could not answer; never together with found.
        request_id: the request id sent with the batch ("" when nothing was sent).
    """

    citizen_id: str
    record: CitizenRecord | None
    found: bool
    evidence_digest: str
    served_at: datetime
    error: str | None = None
    unavailable: bool = False
    request_id: str = ""

    def __post_init__(self) -> None:
        """Refuse contradictory results: they would blur 'unavailable' into 'verified'."""
        if self.found == (self.record is None):
            raise ValueError("a LookupResult is found exactly when it has a record")
        if self.found and self.unavailable:
            raise ValueError("a LookupResult cannot be both found and unavailable")
        if self.served_at.tzinfo is None:
            raise ValueError("served_at must be timezone-aware")

    @property
    def outcome(self) -> LookupOutcome:
        """The outcome as one value: found, not_found or unavailable."""
        if self.unavailable:
            return LookupOutcome.UNAVAILABLE
        return LookupOutcome.FOUND if self.found else LookupOutcome.NOT_FOUND


def evidence_digest(body: bytes, request_id: str) -> str:
    """Return the SHA-256 hex digest that pins a registry answer: request id, newline, body.

    Args:
        body: the exact response body bytes.
        request_id: the request id the batch was sent with.
    """
    return hashlib.sha256(request_id.encode("utf-8") + b"\n" + body).hexdigest()


class PopulationRegistry(Protocol):
    """A population registry that answers lookups by citizen ID."""

    def lookup_many(
        self, citizen_ids: Sequence[str], *, on_batch: ProgressCallback | None = None
    ) -> dict[str, LookupResult]:
        """Look up every distinct ID; the answer has exactly one result per distinct ID.

        Implementations never raise for registry trouble: IDs that could not be answered get
        an unavailable result.
        """
        ...

    def health(self) -> bool:
        """Return True when the registry answers its health check."""
        ...
