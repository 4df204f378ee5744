"""The step runner: each step runs on its own, its outcome or failure is recorded in a report."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from disburse.core.clock import utcnow

log = logging.getLogger(__name__)

@dataclass
class StepOutcome:
    """What a step did.

    Attributes:
        counts: named counts for the log and the summary.
        changed: how many things the step changed (0 on a run with nothing to do).
        problems: partial failures; the step still did what it could, but it failed.
    """

    counts: dict[str, int] = field(default_factory=dict)
    changed: int = 0
    problems: list[str] = field(default_factory=list)


@dataclass
class StepResult:
    """One step's result in the run summary."""

    name: str
    ok: bool
    counts: dict[str, int]
    changed: int
    problems: list[str]
    seconds: float


@dataclass
class RunReport:
    """The summary of one scheduler run."""

    started_at: datetime
    finished_at: datetime | None = None
    steps: list[StepResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every step succeeded."""
        return all(step.ok for step in self.steps)

    @property
    def changed(self) -> int:
        """How many things the whole run changed."""
        return sum(step.changed for step in self.steps)

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready form."""
        return {"ok": self.ok, "changed": self.changed,
                "started_at": self.started_at.isoformat(),
                "finished_at": self.finished_at.isoformat() if self.finished_at else None,
                "steps": [asdict(step) for step in self.steps]}


Step = tuple[str, Callable[[], StepOutcome]]


def run_steps(steps: Sequence[Step]) -> RunReport:
    """Run every step in order; a step that raises is recorded and the next one still runs.

    Args:
        steps: (name, function) pairs; each function owns its transactions.

    Returns:
        The run's report, one result per step.
    """
    report = RunReport(started_at=utcnow())
    for name, function in steps:
        began = time.monotonic()
        try:
            outcome = function()
        except Exception as error:  # isolation: one broken step must not stop the night
            log.exception("scheduler step %s failed", name)
            outcome = StepOutcome(problems=[f"{type(error).__name__}: {error}"])
        result = StepResult(name, not outcome.problems, outcome.counts, outcome.changed,
                            outcome.problems, round(time.monotonic() - began, 3))
        log.info("scheduler step %s %s: %s", name, "ok" if result.ok else "FAILED",
                 json.dumps(result.counts, sort_keys=True))
        report.steps.append(result)
    report.finished_at = utcnow()
    return report
