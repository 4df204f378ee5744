"""Property tests of applying return files: order independence, idempotence, totals.

Hypothesis draws a few small return files (pain.002 status reports and camt.054
notifications about four people, plus an unknown EndToEndId and amount mismatches). Each
example builds a fresh submitted batch inside a savepoint, imports the files in one order,
reads the outcome, rolls back, and does the same in another order.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from disburse.payments.models import Instruction
from reconciliation.models import InstructionEvent, ReconciliationException, ReturnRecordRow
from tests.integration.test_reconciliation import AMOUNT, World, build_world, camt054, pain002

PEOPLE = 4
UNKNOWN = 9  # a person with no instruction: an unknown EndToEndId

# One line of a file: (person, what the bank says, reason code, amount is right).
pain_line = st.tuples(
    st.sampled_from([*range(1, PEOPLE + 1), UNKNOWN]),
    st.sampled_from(["ACSC", "RJCT", "ACTC", "PDNG"]),
    st.sampled_from(["AC04", "AM04", "MD07", "AC01"]),
    st.sampled_from([True, True, True, False]),
)
camt_line = st.tuples(
    st.integers(1, PEOPLE), st.sampled_from(["paid", "returned"]),
    st.sampled_from(["AC04", "AC06"]), st.sampled_from([True, True, False]))


@st.composite
def return_files(draw: st.DrawFn) -> list[tuple[str, bytes]]:
    """Two to four distinct files, some sharing identical records."""
    files: dict[bytes, str] = {}
    for index in range(draw(st.integers(2, 4))):
        if draw(st.booleans()):
            lines = draw(st.lists(pain_line, min_size=1, max_size=4))
            data = pain002([(n, sts, code if sts == "RJCT" else None,
                             AMOUNT if right else AMOUNT + 1)
                            for n, sts, code, right in lines],
                           report_id=f"STS-{draw(st.integers(0, 1))}")
        else:
            entries = draw(st.lists(camt_line, min_size=1, max_size=3))
            data = camt054([(n, kind, code if kind == "returned" else None,
                             AMOUNT if right or kind == "paid" else AMOUNT + 2)
                            for n, kind, code, right in entries],
                           notification_id=f"NTF-{draw(st.integers(0, 1)):04d}")
        files.setdefault(data, f"file{index}.xml")
    return [(name, data) for data, name in files.items()]


def outcome(world: World) -> dict[str, Any]:
    """Everything that must not depend on the order: states, codes, people, the queue."""
    people = {n: (world.person(n).status, sorted(world.person(n).review_flags))
              for n in world.people}
    return {
        "instructions": {n: (world.instruction(n).state, world.instruction(n).reason_code)
                         for n in world.instructions},
        "people": people,
        "exceptions": world.exception_kinds(),
        "records": world.count(ReturnRecordRow),
        "batch": world.batch_state(),
    }


def run(session: Session, files: list[tuple[str, bytes]], order: list[int]) -> dict[str, Any]:
    """Import ``files`` in ``order`` into a fresh world inside a savepoint; roll back after."""
    savepoint = session.begin_nested()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            world = build_world(session, Path(tmp), size=PEOPLE)
            for position in order:
                name, data = files[position]
                world.send(data, name=name)
            result = outcome(world)
            check_totals(world)
            check_accounted(world)
            check_idempotent(world, files, result)
            return result
    finally:
        savepoint.rollback()
        session.expire_all()


def check_totals(world: World) -> None:
    """paid + rejected + returned + open = instructed, by count and by amount."""
    rows = world.session.execute(select(Instruction.state, func.count(), func.sum(
        Instruction.amount)).where(Instruction.batch_id == world.batch_id)
        .group_by(Instruction.state)).tuples().all()
    by_state = {state: (count, amount) for state, count, amount in rows}
    assert set(by_state) <= {"instructed", "accepted", "paid", "rejected", "returned"}
    assert sum(c for c, _ in by_state.values()) == PEOPLE
    assert sum(a for _, a in by_state.values()) == PEOPLE * AMOUNT


def check_accounted(world: World) -> None:
    """Every stored record was applied to an instruction or sits in the queue."""
    queued = set(world.session.execute(
        select(ReconciliationException.return_record_id)).scalars())
    for row in world.session.execute(select(ReturnRecordRow)).scalars():
        assert (row.decision == "applied" and row.matched_instruction_id is not None) or (
            row.decision == "exception" and row.id in queued)


def check_idempotent(world: World, files: list[tuple[str, bytes]],
                     before: dict[str, Any]) -> None:
    """Importing every file again changes nothing at all."""
    counts = [world.count(m) for m in (InstructionEvent, ReconciliationException)]
    for name, data in files:
        assert world.send(data, name=name).outcome.value == "duplicate"
    assert [world.count(m) for m in (InstructionEvent, ReconciliationException)] == counts
    assert outcome(world) == before


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.too_slow])
@given(files=return_files(), data=st.data())
def test_any_order_gives_the_same_outcome(session: Session, files: list[tuple[str, bytes]],
                                          data: st.DataObject) -> None:
    order = data.draw(st.permutations(range(len(files))))
    first = run(session, files, list(range(len(files))))
    second = run(session, files, list(order))
    assert first == second


def test_the_same_records_under_new_file_names_are_duplicates_not_new_events(
        session: Session) -> None:
    files = [("a.xml", pain002([(1, "ACSC", None, AMOUNT), (2, "RJCT", "AC04", AMOUNT)])),
             ("b.xml", pain002([(1, "ACSC", None, AMOUNT), (2, "RJCT", "AC04", AMOUNT)],
                               report_id="STS-OTHER"))]
    result = run(session, files, [0, 1])
    assert result["exceptions"] == Counter({"duplicate_record": 2})
    assert result["instructions"][1] == ("paid", None)
    assert result["instructions"][2] == ("rejected", "AC04")
