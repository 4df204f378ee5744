"""Payment periods: the one YYYY-MM pattern, as the kernel and the batch schemas apply it."""

from __future__ import annotations

from datetime import date

import pytest
from marshmallow import ValidationError

from disburse.core.errors import ValidationFailed
from disburse.core.periods import is_period, months_between, parse_period
from disburse.payments.schemas import CreateBatchSchema

BAD = ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-00", "2026-11\n", " 2026-11",
       "٢٠٢٦-11", "２０２６-11", "2026-11-01"]


@pytest.mark.parametrize(("period", "first_day"), [
    ("2026-11", date(2026, 11, 1)), ("2025-01", date(2025, 1, 1)), ("1999-12", date(1999, 12, 1))])
def test_a_month_parses_to_its_first_day(period: str, first_day: date) -> None:
    assert is_period(period)
    assert parse_period(period) == first_day


@pytest.mark.parametrize("period", BAD)
def test_anything_else_is_refused(period: str) -> None:
    # other scripts' digits or a trailing newline would be a second spelling of one month
    assert not is_period(period)
    with pytest.raises(ValidationFailed):
        parse_period(period)


@pytest.mark.parametrize("period", BAD)
def test_the_batch_schema_refuses_what_the_rule_refuses(period: str) -> None:
    with pytest.raises(ValidationError):
        CreateBatchSchema().load({"programme": "pension", "period": period})


@pytest.mark.parametrize(("earlier", "later", "months"), [
    ("2026-11", "2026-12", 1), ("2025-12", "2026-01", 1), ("2025-11", "2026-11", 12)])
def test_months_between(earlier: str, later: str, months: int) -> None:
    assert months_between(earlier, later) == months
