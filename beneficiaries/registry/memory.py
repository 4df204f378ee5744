"""An in-memory population registry, for tests of code that needs a ``PopulationRegistry``."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime

from beneficiaries.registry.client import unavailable_result
from beneficiaries.registry.models import (
    CitizenRecord,
    LookupResult,
    ProgressCallback,
    evidence_digest,
)


class StaticPopulationRegistry:
    """Answer lookups from a fixed set of records; chosen IDs can be made unavailable.

    The evidence digest is computed over a canonical JSON rendering of each answer, so it is
    stable and differs between found and not-found answers, like the real one.
    """

    def __init__(
        self, records: Iterable[CitizenRecord], *, unavailable: Iterable[str] = (),
        up: bool = True, now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """Hold ``records``; IDs in ``unavailable`` (or all, when ``up`` is False) fail."""
        self.records = {record.citizen_id: record for record in records}
        self.unavailable = set(unavailable)
        self.up = up
        self._now = now

    def health(self) -> bool:
        """Return whether this registry is up."""
        return self.up

    def lookup_many(
        self, citizen_ids: Sequence[str], *, on_batch: ProgressCallback | None = None
    ) -> dict[str, LookupResult]:
        """Answer every distinct ID from memory (one batch)."""
        unique = list(dict.fromkeys(citizen_ids))
        at = self._now()
        results = {cid: self._answer(cid, at) for cid in unique}
        if on_batch is not None:
            on_batch(len(unique), len(unique))
        return results

    def _answer(self, cid: str, at: datetime) -> LookupResult:
        if not self.up or cid in self.unavailable:
            return unavailable_result(cid, "registry unavailable (static registry)", at)
        record = self.records.get(cid)
        body = json.dumps({"citizen_id": cid, "found": record is not None,
                           "record": repr(record)}, sort_keys=True).encode("utf-8")
        return LookupResult(citizen_id=cid, record=record, found=record is not None,
                            evidence_digest=evidence_digest(body, "static"), served_at=at,
                            request_id="static")
