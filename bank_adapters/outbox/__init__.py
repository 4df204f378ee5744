"""The submission outbox: recorded before any byte leaves, sent at most once per MsgId.

``enqueue_batch`` writes one ``pending`` submission per payment file of a ``files_ready``
batch and moves the batch to ``submitted``, in the caller's transaction. ``deliver_pending``
then works each submission through short transactions of its own:

1. claim it (``pending``/``unknown``/stale ``sending`` -> ``sending``) and commit;
2. if an earlier attempt may have reached the bank (it was ``unknown`` or a crashed
   ``sending``), ask ``status(msg_id)`` first and resend, with the same MsgId, only when the
   bank answers ``unknown_msg_id``; otherwise submit;
3. record ``accepted`` / ``rejected`` / ``unknown`` / back to ``pending`` and commit.

Claims are compare-and-set updates (plus ``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so two
workers never send the same submission. A per-route circuit breaker stops hammering a bank
that fails; rounds within one run wait with jittered exponential back-off. Every state change
is written to the audit trail.

Modules: :mod:`.enqueue` (into the outbox), :mod:`.delivery` (out of it) and :mod:`.changes`
(the audit entry of each state change); the names are re-exported here.
"""

from bank_adapters.outbox.delivery import (
    PAUSE_AT_ENV,
    PAUSE_DIR_ENV,
    Deliverer,
    DeliveryPolicy,
    DeliveryReport,
    RouteBreakers,
    claim_is_stale,
    deliver_pending,
    worker_id,
)
from bank_adapters.outbox.enqueue import enqueue_batch, list_submissions, outgoing_file

__all__ = [
    "PAUSE_AT_ENV",
    "PAUSE_DIR_ENV",
    "Deliverer",
    "DeliveryPolicy",
    "DeliveryReport",
    "RouteBreakers",
    "claim_is_stale",
    "deliver_pending",
    "enqueue_batch",
    "list_submissions",
    "outgoing_file",
    "worker_id",
]
