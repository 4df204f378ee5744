"""Import every model module so ``Base.metadata`` knows every table (for Alembic)."""

from __future__ import annotations

from bank_adapters import models as bank_models
from beneficiaries import models as beneficiary_models
from beneficiaries.verification import models as verification_models
from disburse.core import audit, users
from disburse.core.db import Base
from disburse.payments import models as batch_models
from reconciliation import models as reconciliation_models

metadata = Base.metadata

__all__ = [
    "audit", "bank_models", "batch_models", "beneficiary_models", "metadata",
    "reconciliation_models", "users", "verification_models",
]
