"""Import every model module so ``Base.metadata`` knows every table (for Alembic)."""

from __future__ import annotations

from beneficiaries import models as beneficiary_models
from beneficiaries.verification import models as verification_models
from disburse import audit, users
from disburse.batches import models as batch_models
from disburse.db import Base

metadata = Base.metadata

__all__ = [
    "audit", "batch_models", "beneficiary_models", "metadata", "users", "verification_models",
]
