"""Pure comparison of a registry answer with the beneficiary record."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date
from typing import Any

from beneficiaries.registry import LookupResult
from beneficiaries.rules import bank_form
from beneficiaries.verification.models import Outcome


@dataclass(frozen=True)
class Claimed:
    """What the registry record of a beneficiary says about them."""

    full_name: str
    date_of_birth: date
    gender: str


@dataclass(frozen=True)
class Judgement:
    """The outcome and the evidence of which fields differ."""

    outcome: Outcome
    differences: dict[str, Any]
    date_of_death: date | None = None


def _name_difference(ours: str, theirs: str) -> dict[str, Any] | None:
    a, b = unicodedata.normalize("NFC", ours).strip(), unicodedata.normalize("NFC", theirs).strip()
    if " ".join(a.split()) == " ".join(b.split()):
        return None
    kind = "diacritics_only" if bank_form(a) == bank_form(b) else "different"
    return {"ours": a, "registry": b, "kind": kind}


def judge(claimed: Claimed, answer: LookupResult) -> Judgement:
    """Decide the outcome for one beneficiary from the registry's answer.

    Unavailable is never verified. Deceased wins over any mismatch. A mismatch of several
    fields reports the first of name, date of birth, gender as the outcome and all of them
    in ``differences``.
    """
    if answer.unavailable:
        return Judgement(Outcome.REGISTRY_UNAVAILABLE, {"error": answer.error or "unavailable"})
    record = answer.record
    if not answer.found or record is None:
        return Judgement(Outcome.NOT_FOUND, {"error": answer.error} if answer.error else {})
    if record.deceased:
        return Judgement(Outcome.DECEASED, {}, record.date_of_death)
    differences: dict[str, Any] = {}
    name = _name_difference(claimed.full_name, record.full_name)
    if name:
        differences["full_name"] = name
    if claimed.date_of_birth != record.date_of_birth:
        differences["date_of_birth"] = {"ours": claimed.date_of_birth.isoformat(),
                                        "registry": record.date_of_birth.isoformat()}
    if claimed.gender != record.gender:
        differences["gender"] = {"ours": claimed.gender, "registry": record.gender}
    for field_name, outcome in (("full_name", Outcome.NAME_MISMATCH),
                                ("date_of_birth", Outcome.DOB_MISMATCH),
                                ("gender", Outcome.GENDER_MISMATCH)):
        if field_name in differences:
            return Judgement(outcome, differences)
    return Judgement(Outcome.VERIFIED, {})
