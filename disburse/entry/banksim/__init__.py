"""The bank simulator: a separate Flask service that behaves like a paying bank.

Start it with ``disburse banksim serve`` (or ``python -m disburse.entry.banksim serve``)::

    serve --bin BIN --port P --accounts accounts.csv --service-public-key PEM --key-dir DIR
          [--token T] [--camt-delay SECONDS] [--faults] [--db PATH] [--host 127.0.0.1]

It prints ``banksim BIN listening on http://HOST:PORT (N accounts)`` once it listens
(``--port 0`` picks a free port) and exits cleanly on SIGTERM. Its Ed25519 signing key is
``DIR/banksim-BIN.key.pem`` (created if missing; public half ``banksim-BIN.pub.pem``).
Modules: ``book`` (account book CSV), ``decide`` (pure per-transaction decisions),
``returns`` (pain.002 / camt.054 writers), ``submission`` (the rules for one upload),
``store`` (its SQLite state), ``app`` (HTTP), ``cli``.

HTTP contract
-------------
Every ``/v1`` path except ``/v1/public-key`` needs ``Authorization: Bearer T`` when started
with ``--token``; without it: 401 problem+json. Errors are ``application/problem+json``
(``type`` = ``urn:banksim:problem:<slug>``, ``title``, ``status``, ``detail``).

``GET /health`` -> 200 ``{"status": "ok", "bin", "accounts"}`` (no auth).

``GET /v1/public-key`` -> 200 the bank's public key PEM (``application/x-pem-file``), header
``X-Key-Id`` = ``disburse.core.signing.key_id_for`` of it. No auth.

``POST /v1/payment-files`` multipart/form-data with parts ``file`` (the payment file's exact
bytes), ``signature`` (the raw detached ``.sig`` bytes), ``manifest`` (the manifest JSON), and
header ``Idempotency-Key: <MsgId>`` (1-35 characters).

* 202 accepted: ``{"msg_id", "status": "accepted", "received_at" (ISO UTC),
  "transactions": N, "bank_reference", "accepted": n, "rejected": n, "sha256"}``.
* 200 the same MsgId with the same bytes again (a retry): the original receipt, byte for
  byte, header ``Idempotent-Replayed: true``; nothing is processed again (counted as a replay).
* 422 ``file-rejected``: signature, manifest (sha256/size/MsgId/NbOfTxs/CtrlSum/key id), XSD
  or MsgId check failed, or the signature/manifest part is missing. Body adds
  ``msg_id``, ``reason: "FF01"``, ``return_file`` (the pain.002 GrpSts RJCT FF01 stored for
  pickup) and ``problems`` (list of strings). A refused file does not claim its MsgId.
* 409 ``duplicate-msg-id``: the MsgId was accepted before with other bytes. Body adds
  ``msg_id``, ``reason: "DUPL"``, ``return_file`` (pain.002 GrpSts RJCT DUPL), ``problems``.
  Re-sending the same refused bytes answers the stored 422/409 again (a replay).
* 400 ``idempotency-key-required`` / ``file-required``; 401; 500 ``injected-fault``.

``GET /v1/payment-files/<msg_id>/status`` -> 200, one of: the receipt above (``status``
``accepted``); ``{"msg_id", "status": "rejected", "reason": "FF01"|"DUPL", "received_at",
"sha256"}`` (only when never accepted); ``{"msg_id", "status": "unknown_msg_id"}``.

``GET /v1/returns`` -> 200 a JSON array of ``{"name", "kind": "pain002"|"camt054", "sha256",
"created_at"}``: files available now and not yet acknowledged, oldest first. Names are
``NNNNNN-<kind>-<MsgId with unsafe characters as _>.xml``.
``GET /v1/returns/<name>`` -> the XML bytes (``application/xml``, ``X-Content-SHA256``);
``GET /v1/returns/<name>.sig`` -> the raw 64-byte Ed25519 signature over those bytes by the
bank's key; 404 ``return-file-not-found``. ``POST /v1/returns/<name>/ack`` -> 200
``{"name", "acked_at"}`` (idempotent; the file leaves the list but stays downloadable).

On acceptance a pain.002.001.12 is available at once (GrpSts ACCP/PART/RJCT; per
transaction OrgnlEndToEndId, TxSts ACCP with AcctSvcrRef or RJCT with StsRsnInf/Rsn/Cd
AC01/AC04/AC06/MD07/BE01, OrgnlTxRef InstdAmt VND and CdtrAcct). After ``--camt-delay``
seconds a camt.054.001.08 of the disbursement account lists each accepted payment as a booked
entry (Sts BOOK, BookgDt, AcctSvcrRef, BkTxCd PMNT/ICDT/DMCT, DBIT on the paying account,
TxDtls Refs MsgId/AcctSvcrRef/EndToEndId, CdtrAcct). None when nothing was accepted.

With ``--faults`` only:

* ``POST /v1/_admin/return-payment`` ``{"end_to_end_id", "reason": "AC04"}`` -> 201
  ``{"name", "end_to_end_id", "reason", "bank_reference"}``: a camt.054 credit entry with
  BkTxCd RRTN and RtrInf/Rsn/Cd. 404 ``payment-not-found``; 409 ``payment-not-settled``
  (rejected or already returned); 400 bad body.
* ``POST /v1/_faults`` with any of these keys (others are a 400):
  ``latency_ms`` (int: each upload is processed, then its response waits this long, so a
  client that times out leaves an accepted file behind), ``fail_next`` (int: the next N
  uploads get 500 ``injected-fault`` before anything is processed), ``drop_next`` (int: the
  next N uploads are processed, then the socket is closed without a response),
  ``duplicate_returns`` (bool: each new return file is stored twice under two names, same
  bytes and sha256), ``out_of_order`` (bool: ``GET /v1/returns`` lists newest first, so a
  camt.054 comes before its pain.002). Faults touch only ``POST /v1/payment-files``; status,
  returns and acks always answer promptly. ``GET /v1/_faults`` shows the settings,
  ``DELETE`` resets them; each answers ``{...settings, "counters": {"submissions_received",
  "processed" (distinct MsgIds accepted), "replays", "rejected", "failed", "dropped"}}``.
"""

from disburse.entry.banksim.app import create_banksim_app
from disburse.entry.banksim.book import Account, AccountBook, AccountStatus, load_account_book
from disburse.entry.banksim.decide import Decision, Outcome, decide_transaction, names_match
from disburse.entry.banksim.store import BankStore
from disburse.entry.banksim.submission import BankConfig, SubmissionDesk, load_or_create_bank_key

__all__ = [
    "Account",
    "AccountBook",
    "AccountStatus",
    "BankConfig",
    "BankStore",
    "Decision",
    "Outcome",
    "SubmissionDesk",
    "create_banksim_app",
    "decide_transaction",
    "load_account_book",
    "load_or_create_bank_key",
    "names_match",
]
