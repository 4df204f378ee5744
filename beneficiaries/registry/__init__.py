"""The population-registry client: result types, the registry interface, the HTTP adapter.

``HttpPopulationRegistry`` talks to the national population database through its gateway (in
tests and the demo: the reference ``disburse.entry.popdb`` service). ``StaticPopulationRegistry``
answers from memory, for tests of code that needs *a* registry.
"""

from beneficiaries.registry.client import HttpPopulationRegistry, is_citizen_id
from beneficiaries.registry.memory import StaticPopulationRegistry
from beneficiaries.registry.models import (
    CitizenRecord,
    LookupOutcome,
    LookupResult,
    PopulationRegistry,
    ProgressCallback,
    RegistryStatus,
    evidence_digest,
)
from disburse.core.breaker import BreakerState, CircuitBreaker, backoff_delay

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CitizenRecord",
    "HttpPopulationRegistry",
    "LookupOutcome",
    "LookupResult",
    "PopulationRegistry",
    "ProgressCallback",
    "RegistryStatus",
    "StaticPopulationRegistry",
    "backoff_delay",
    "evidence_digest",
    "is_citizen_id",
]
