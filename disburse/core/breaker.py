"""Circuit breaker and retry back-off for the population-registry client (pure, clock injected)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from enum import StrEnum


class BreakerState(StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    """Stop calling a failing registry for a while, then let one trial call test it.

    Closed: every call is allowed; ``failure_threshold`` consecutive failures open it. Open:
    no call is allowed until ``reset_timeout`` seconds have passed, then it is half-open.
    Half-open: exactly one trial call is allowed; its success closes the breaker, its failure
    opens it again for another ``reset_timeout``. Thread-safe.
    """

    def __init__(
        self, failure_threshold: int = 5, reset_timeout: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Create a closed breaker.

        Args:
            failure_threshold: consecutive failures that open the breaker (at least 1).
            reset_timeout: seconds the breaker stays open before a trial call.
            clock: monotonic seconds; tests pass a fake clock instead of sleeping.
        """
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.failure_threshold = failure_threshold
        self.reset_timeout = reset_timeout
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    def _state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.reset_timeout:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def state(self) -> BreakerState:
        """The current state (open turns half-open by itself once the cool-down is over)."""
        with self._lock:
            return self._state()

    @property
    def consecutive_failures(self) -> int:
        """Failures counted since the last success."""
        with self._lock:
            return self._failures

    def allow(self) -> bool:
        """Return True when a call may go ahead now (in half-open: only the one trial)."""
        with self._lock:
            state = self._state()
            if state is BreakerState.CLOSED:
                return True
            if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def record_success(self) -> None:
        """Record a call that reached a working registry: the breaker closes."""
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_in_flight = False

    def record_failure(self) -> None:
        """Record a failed call: may open (or re-open) the breaker."""
        with self._lock:
            self._failures += 1
            state = self._state()
            if state is BreakerState.HALF_OPEN or (
                state is BreakerState.CLOSED and self._failures >= self.failure_threshold
            ):
                self._opened_at = self._clock()
                self._trial_in_flight = False


def backoff_delay(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] = random.random
) -> float:
    """Seconds to wait before retry number ``attempt + 1``: exponential with full jitter.

    The delay is uniform in [0, min(cap, base * 2**attempt)], so clients that failed together
    do not retry together.

    Args:
        attempt: 0 for the wait after the first failed attempt, 1 after the second, ...
        base: the ceiling of the first wait, in seconds.
        cap: the largest ceiling, in seconds.
        rand: a source of floats in [0, 1); injectable for tests.
    """
    ceiling = min(cap, base * float(2 ** min(attempt, 62)))
    return rand() * ceiling
