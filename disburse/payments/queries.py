"""Reading payment batches' rows for entry points (files of a batch), without changing them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from disburse.payments.models import PaymentFile


def batch_payment_files(session: Session, batch_id: int) -> list[PaymentFile]:
    """Return the payment files of batch ``batch_id``, by route and part number."""
    rows = session.execute(select(PaymentFile).where(PaymentFile.batch_id == batch_id)
                           .order_by(PaymentFile.route, PaymentFile.part_no)).scalars()
    return list(rows)
