"""Which payment files a bank may see: those of its own routes, once their batch was sent.

The bank-facing API lists and serves these; a bank never sees a file before its batch was
submitted, nor a file of a route another bank pays from.
"""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from disburse.core.errors import NotFound
from disburse.payments.lifecycle import SENT
from disburse.payments.models import Batch, PaymentFile
from disburse.payments.routing import RoutingConfig


def _own_routes(session: Session, routing: RoutingConfig, bank_bin: str) -> list[str]:
    """Return the route names in use whose paying side is the bank ``bank_bin``."""
    used = session.execute(select(PaymentFile.route).distinct()).scalars()
    return [name for name in used if routing.route(name).bin == bank_bin]


def _own_files(session: Session, routing: RoutingConfig, bank_bin: str
               ) -> Select[tuple[PaymentFile]]:
    # Only files of batches actually sent: a bank never sees a file before submission.
    return (select(PaymentFile).join(Batch, Batch.id == PaymentFile.batch_id)
            .where(PaymentFile.route.in_(_own_routes(session, routing, bank_bin)),
                   Batch.state.in_([s.value for s in SENT])))


def bank_payment_files(session: Session, routing: RoutingConfig, bank_bin: str
                       ) -> list[PaymentFile]:
    """Return the payment files bank ``bank_bin`` may see, newest first."""
    query = _own_files(session, routing, bank_bin).order_by(PaymentFile.id.desc())
    return list(session.execute(query).scalars().all())


def bank_payment_file(session: Session, routing: RoutingConfig, bank_bin: str,
                      file_id: int) -> PaymentFile:
    """Return payment file ``file_id`` if bank ``bank_bin`` may see it.

    Raises:
        NotFound: no such file, or not one of this bank's sent files (the same answer).
    """
    found: PaymentFile | None = session.execute(
        _own_files(session, routing, bank_bin).where(PaymentFile.id == file_id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no payment file {file_id}")
    return found
