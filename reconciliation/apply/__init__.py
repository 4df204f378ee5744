"""Apply parsed return records: store them, match them, and project instruction states.

The result must not depend on the order files arrive in. So the new records are not
applied on their own: for every instruction they touch, *all* its stored records are
matched again (:func:`reconciliation.matching.match_returns`) from the instruction's state
before any return (the ``from_state`` of its first event), and only the difference between
that recomputed state and the current one is written, as new ``instruction_events``.
Importing the same records again therefore writes nothing, and exceptions are stored once
per (kind, record).

Consequences follow what each new record says (see ``reconcile._verdicts_of_new``): an account
problem (AC01/AC03/AC04/AC06) flags the beneficiary's account for correction; MD07 suspends
the beneficiary; a retry code (AM04, TM01) only keeps the instruction rejected with its code,
which the batch builder reads.
Touched batches then move to ``partially_settled`` or ``settled``.

Modules: :mod:`.reconcile` (the steps of one file), :mod:`.stored` (return records in the
database), :mod:`.scope` (what the signer may touch), :mod:`.events` (decisions and state
events), :mod:`.exception_queue` and :mod:`.bulk` (Core bulk writes).
"""

from reconciliation.apply.reconcile import ReconcileOutcome, reconcile_records

__all__ = ["ReconcileOutcome", "reconcile_records"]
