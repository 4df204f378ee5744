"""HTTP API adapter for banks that take payment files over HTTPS.

The bank's contract (the one the bank simulator serves):

* ``POST /v1/payment-files`` multipart ``file``, ``signature``, ``manifest`` with
  ``Idempotency-Key: <MsgId>``: 202 accepted, 200 the original receipt for a replay of the
  same bytes, 409 DUPL for the same MsgId with other bytes, 422 FF01 for a malformed or
  wrongly signed file (problem+json with ``reason``).
* ``GET /v1/payment-files/<msg_id>/status`` -> ``{"status": accepted|rejected|unknown_msg_id}``.
* ``GET /v1/returns``, ``GET /v1/returns/<name>``, ``GET /v1/returns/<name>.sig``,
  ``POST /v1/returns/<name>/ack``.

How answers map onto the outbox (see ``bank_adapters.protocol``): 4xx about the file
(400, 409, 422) is a definite refusal; 401/403/404/429 and a refused connection mean nothing
was processed; a read timeout, a dropped connection or a 5xx leave the outcome unknown.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

import httpx

from bank_adapters.protocol import (
    BankUnavailable,
    OutgoingFile,
    ReturnFile,
    SubmissionReceipt,
    SubmissionRefused,
    SubmissionStatus,
    SubmissionTimeout,
)

_REFUSED: Final = frozenset({400, 409, 422})
_NOT_PROCESSED: Final = frozenset({401, 403, 404, 405, 413, 415, 429})


@dataclass(frozen=True)
class HttpBankConfig:
    """How to reach one bank's API.

    Attributes:
        base_url: e.g. ``https://api.bank.example`` (no trailing path needed).
        bank_bin: the bank's BIN (stamped on return files).
        token: bearer token the bank issued to us (empty: none sent).
        connect_timeout, read_timeout: seconds.
        client_cert, client_key: PEM paths for mutual TLS (both or neither).
        ca_bundle: PEM path of the CA that signed the bank's certificate (None: system CAs).
    """

    base_url: str
    bank_bin: str
    token: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    client_cert: Path | None = None
    client_key: Path | None = None
    ca_bundle: Path | None = None


def _client(config: HttpBankConfig) -> httpx.Client:
    headers = {"Authorization": f"Bearer {config.token}"} if config.token else {}
    timeout = httpx.Timeout(config.read_timeout, connect=config.connect_timeout)
    cert = (str(config.client_cert), str(config.client_key)) \
        if config.client_cert and config.client_key else None
    verify: Any = str(config.ca_bundle) if config.ca_bundle else True
    return httpx.Client(base_url=config.base_url.rstrip("/"), headers=headers,
                        timeout=timeout, cert=cert, verify=verify)


def _reason(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        return str(body.get("reason") or body.get("code") or "")
    return ""


class HttpApiAdapter:
    """Submit payment files to a bank's HTTP API and collect its return files."""

    def __init__(self, config: HttpBankConfig, *, client: httpx.Client | None = None) -> None:
        """Create the adapter; ``client`` may be given to share a connection pool."""
        self.config = config
        self._http = client or _client(config)

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _request(self, method: str, url: str, *, sent_file: bool = False,
                 **kwargs: Any) -> httpx.Response:
        """Send one request; transport failures become the protocol's errors.

        ``sent_file`` says whether the request carries a payment file: only then can a lost
        response hide a processed request.
        """
        try:
            response = self._http.request(method, url, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as error:
            raise BankUnavailable(f"{method} {url}: cannot connect: {error}",
                                  code="connect") from error
        except httpx.TransportError as error:  # read timeout, dropped connection, ...
            kind = type(error).__name__
            if sent_file:
                raise SubmissionTimeout(f"{method} {url}: {kind}: no answer; outcome unknown",
                                        code="timeout") from error
            raise BankUnavailable(f"{method} {url}: {kind}", code="timeout") from error
        if response.status_code >= 500:
            error_class = SubmissionTimeout if sent_file else BankUnavailable
            raise error_class(f"{method} {url}: bank answered {response.status_code}",
                              code=f"http_{response.status_code}")
        if response.status_code in _NOT_PROCESSED:
            raise BankUnavailable(f"{method} {url}: bank answered {response.status_code}",
                                  code=f"http_{response.status_code}")
        return response

    def submit(self, payment_file: OutgoingFile) -> SubmissionReceipt:
        """POST the file with its signature and manifest, MsgId as the idempotency key."""
        with payment_file.path.open("rb") as data, \
                payment_file.signature_path.open("rb") as signature, \
                payment_file.manifest_path.open("rb") as manifest:
            files = {"file": (payment_file.path.name, data, "application/octet-stream"),
                     "signature": (payment_file.signature_path.name, signature,
                                   "application/octet-stream"),
                     "manifest": (payment_file.manifest_path.name, manifest,
                                  "application/json")}
            response = self._request("POST", "/v1/payment-files", sent_file=True, files=files,
                                     headers={"Idempotency-Key": payment_file.msg_id})
        if response.status_code in _REFUSED:
            reason = _reason(response) or f"http_{response.status_code}"
            raise SubmissionRefused(f"bank refused {payment_file.msg_id}: {response.text[:300]}",
                                    code=reason)
        if response.status_code not in (200, 201, 202):
            raise SubmissionTimeout(f"unexpected answer {response.status_code}",
                                    code=f"http_{response.status_code}")
        body = response.json()
        return SubmissionReceipt(
            msg_id=str(body.get("msg_id", payment_file.msg_id)),
            bank_reference=body.get("bank_reference"), received_at=body.get("received_at"),
            replayed=response.status_code == 200
            or response.headers.get("Idempotent-Replayed") == "true",
            detail=body)

    def status(self, msg_id: str) -> SubmissionStatus:
        """Ask the bank what became of ``msg_id``."""
        response = self._request("GET", f"/v1/payment-files/{quote(msg_id, safe='')}/status")
        try:
            return SubmissionStatus(response.json()["status"])
        except (ValueError, KeyError, TypeError) as error:
            raise BankUnavailable(f"unreadable status answer: {response.text[:200]}",
                                  code="bad_answer") from error

    def fetch_returns(self) -> list[ReturnFile]:
        """Download every return file the bank lists, with its detached signature."""
        listing = self._request("GET", "/v1/returns").json()
        found = []
        for entry in listing:
            name = str(entry["name"])
            data = self._request("GET", f"/v1/returns/{quote(name, safe='')}").content
            found.append(ReturnFile(name=name, data=data, signature=self._signature(name),
                                    bank_bin=self.config.bank_bin))
        return found

    def _signature(self, name: str) -> bytes | None:
        try:
            return self._request("GET", f"/v1/returns/{quote(name, safe='')}.sig").content
        except BankUnavailable as error:
            if error.code == "http_404":
                return None
            raise

    def ack_return(self, name: str) -> None:
        """Acknowledge the return file ``name`` so the bank stops listing it."""
        self._request("POST", f"/v1/returns/{quote(name, safe='')}/ack")

    def health(self) -> bool:
        """Return True when the bank's ``/health`` answers 200."""
        try:
            return self._http.get("/health").status_code == 200
        except httpx.HTTPError:
            return False


__all__ = ["HttpApiAdapter", "HttpBankConfig"]
