"""The nightly run: ``disburse scheduler run``.

Steps, in order, each in transactions of its own so that one failing step never undoes or
blocks another:

1. ``reverify``: re-check stale verifications against the population registry
   (``VerifyScope(stale_only=True)``). A run that checked nobody leaves no trace; a run that
   could not reach the registry for anyone is rolled back (tried again next night) and fails.
2. ``batches``: ``approved`` batches get their signed payment files (one transaction per
   batch), then every ``files_ready`` batch is put into the outbox (batch -> ``submitted``).
3. ``deliver``: the outbox sends pending submissions and resolves unknown ones
   (``deliver_pending``, through the adapter chosen per route).
4. ``fetch_returns``: every registered bank with an adapter is asked for its return files;
   each one takes the one intake path (``reconciliation.intake``) and is acknowledged
   only after its transaction committed.
5. ``audit_checkpoint``: a signed checkpoint of the audit chain's head is written to
   ``<data_dir>/audit/checkpoints/`` (``disburse audit verify --checkpoint FILE`` checks it).

Then a summary is printed (JSON with ``--json``). The exit status is 1 when any step failed.

Running twice in a row changes nothing the second time: each step only picks up work that is
still open (stale verifications, batches in ``approved``/``files_ready``, open submissions,
unacknowledged return files).

Two runs never overlap. The lock is an exclusive, non-blocking ``fcntl.flock`` on
``<data_dir>/scheduler.lock``, held for the whole run: the kernel releases it when the process
dies, so a crashed run never leaves a stale lock, and no table is needed. On PostgreSQL the run
also takes a session-level advisory lock (``pg_try_advisory_lock``) on a connection held open
for the run, so that schedulers on different hosts sharing one database exclude each other
too. A second run that finds the lock taken exits with status 75 (``EX_TEMPFAIL``) at once.

Modules: :mod:`.lock` (the two locks), :mod:`.steps` (the step runner and its report) and
:mod:`.nightly` (the steps and ``run_nightly``); the names are re-exported here.
"""

from disburse.entry.scheduler.lock import (
    ADVISORY_LOCK_KEY,
    EXIT_BUSY,
    LOCK_FILE_NAME,
    SchedulerBusy,
    scheduler_lock,
)
from disburse.entry.scheduler.nightly import NightlyRun, run_nightly
from disburse.entry.scheduler.steps import RunReport, StepOutcome, StepResult, run_steps

__all__ = [
    "ADVISORY_LOCK_KEY",
    "EXIT_BUSY",
    "LOCK_FILE_NAME",
    "NightlyRun",
    "RunReport",
    "SchedulerBusy",
    "StepOutcome",
    "StepResult",
    "run_nightly",
    "run_steps",
    "scheduler_lock",
]
