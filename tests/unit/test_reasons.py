"""ISO reason codes: every code is explained in both languages, with its class and action."""

from __future__ import annotations

import re
import unicodedata

import pytest

from disburse.core.reasons import (
    ACTION_LABELS_EN,
    ACTION_LABELS_VI,
    REASON_CODES,
    ConsequenceClass,
    ReasonAction,
    codes_of,
    describe_reason,
)
from reconciliation import records

_C = ConsequenceClass
#: Codes whose class other code acts on, written out on purpose: the batch builder re-routes
#: every ``account_problem`` code to cash and carries its arrears (disburse/payments/plan.py
#: ACCOUNT_PROBLEMS, derived from this table), ARREARS_RULES adds AM04 and TM01, and
#: reconciliation/consequences.py flags accounts and suspends people by class.
RELIED_ON = {
    "AC01": _C.ACCOUNT_PROBLEM, "AC03": _C.ACCOUNT_PROBLEM, "AC04": _C.ACCOUNT_PROBLEM,
    "AC06": _C.ACCOUNT_PROBLEM, "MD07": _C.DECEASED, "AM04": _C.RETRY, "TM01": _C.RETRY,
    # the rest of the table before it grew
    "DUPL": _C.DUPLICATE, "AM05": _C.DUPLICATE, "FF01": _C.FORMAT, "BE01": _C.NAME,
    "RR10": _C.OTHER, "NARR": _C.OTHER,
}
#: Codes named in the issue and the design (sent in pain.002/pacs.002/camt.054/pacs.004).
NAMED = [
    "AC01", "AC02", "AC03", "AC04", "AC06", "AC07", "AC13", "AC14", "AG01", "AG02", "AM01",
    "AM02", "AM03", "AM04", "AM05", "AM06", "AM07", "AM09", "AM10", "AM21", "AM23", "BE01",
    "BE04", "BE05", "BE06", "BE07", "BE16", "CNOR", "CURR", "CUST", "DNOR", "DS02", "DS28",
    "DT01", "DUPL", "ED05", "FF01", "FOCR", "FR01", "MD01", "MD06", "MD07", "MS02", "MS03",
    "NARR", "NOAS", "NOOR", "RC01", "RR01", "RR02", "RR03", "RR04", "RR10", "SL01", "TM01",
    "UPAY",
]


def _is_vietnamese(text: str) -> bool:
    """Written with Vietnamese letters (a mark or đ), not English left untranslated."""
    decomposed = unicodedata.normalize("NFD", text)
    return "đ" in text.lower() or any(unicodedata.combining(ch) for ch in decomposed)


@pytest.mark.parametrize("code", sorted(REASON_CODES))
def test_every_code_is_explained_in_both_languages_with_an_action(code: str) -> None:
    info = REASON_CODES[code]
    assert info.code == code and re.fullmatch(r"[A-Z0-9]{4}", code)
    assert info.english.strip() and info.english.isascii()
    assert _is_vietnamese(info.vietnamese), info.vietnamese
    assert info.vietnamese != info.english
    assert isinstance(info.consequence, ConsequenceClass)
    assert isinstance(info.action, ReasonAction)
    assert info.action_label == ACTION_LABELS_VI[info.action]


def test_every_action_has_a_label_in_both_languages() -> None:
    assert set(ACTION_LABELS_VI) == set(ReasonAction) == set(ACTION_LABELS_EN)
    assert all(_is_vietnamese(label) for label in ACTION_LABELS_VI.values())
    assert all(label.isascii() for label in ACTION_LABELS_EN.values())


def test_every_named_code_is_known() -> None:
    assert [code for code in NAMED if code not in REASON_CODES] == []


@pytest.mark.parametrize(("code", "consequence"), sorted(RELIED_ON.items()))
def test_codes_other_code_relies_on_keep_their_class(code: str, consequence: _C) -> None:
    info = describe_reason(code)
    assert info is not None and info.consequence is consequence


def test_only_the_deceased_code_suspends_people() -> None:
    assert codes_of(_C.DECEASED) == {"MD07"}


def test_the_batch_build_reroutes_exactly_the_account_problem_codes() -> None:
    from disburse.payments.plan import ACCOUNT_PROBLEMS, ARREARS_RULES

    assert codes_of(_C.ACCOUNT_PROBLEM) == ACCOUNT_PROBLEMS
    assert {"AC01", "AC03", "AC04", "AC06", "AC07", "AG01"} <= ACCOUNT_PROBLEMS
    for rule in ARREARS_RULES.values():
        assert rule.eligible_reasons == ACCOUNT_PROBLEMS | {"AM04", "TM01"}


@pytest.mark.parametrize("code", ["AC02", "AC05", "AC10", "AC13", "AM04", "RC03", "BE16"])
def test_problems_of_the_departments_own_account_or_file_flag_no_beneficiary(code: str) -> None:
    # An account_problem flags the beneficiary's account for correction (consequences.py).
    assert REASON_CODES[code].consequence is not _C.ACCOUNT_PROBLEM
    assert REASON_CODES[code].action is not ReasonAction.FIX_ACCOUNT


@pytest.mark.parametrize(
    ("code", "action"),
    [("AC04", ReasonAction.FIX_ACCOUNT), ("MD07", ReasonAction.REVERIFY_PERSON),
     ("AC06", ReasonAction.REROUTE_CASH), ("AM04", ReasonAction.RETRY_NEXT_RUN),
     ("FF01", ReasonAction.CONTACT_BANK), ("FOCR", ReasonAction.NONE),
     ("BE01", ReasonAction.REVERIFY_PERSON), ("NOAS", ReasonAction.CONTACT_BENEFICIARY)],
)
def test_typical_codes_imply_the_expected_action(code: str, action: ReasonAction) -> None:
    assert REASON_CODES[code].action is action


def test_the_closed_account_explanation_tells_the_officer_what_to_do() -> None:
    assert REASON_CODES["AC04"].vietnamese == (
        "Tài khoản đã đóng: liên hệ người hưởng để lấy số tài khoản mới")


@pytest.mark.parametrize("code", ["ZZ99", "X1", "ac04", "NOTACODE"])
def test_unknown_codes_are_kept_and_described_generically(code: str) -> None:
    info = describe_reason(code)
    assert info is not None
    assert info.code == code
    assert (info.consequence, info.action) == (_C.OTHER, ReasonAction.CONTACT_BANK)
    assert info.english == "Unknown reason code"
    assert info.vietnamese.startswith("Mã lý do không xác định")


def test_no_code_has_no_description() -> None:
    assert describe_reason(None) is None


def test_records_still_exports_the_reason_api() -> None:
    assert records.describe_reason is describe_reason
    assert records.REASON_CODES is REASON_CODES
    assert records.ConsequenceClass is ConsequenceClass
    assert records.ReasonAction is ReasonAction
