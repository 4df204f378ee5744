"""Golden files: each sample bank file parses to exactly its NAME.expected.json.

Layout: ``tests/golden/<format>/NAME.<ext>`` with ``NAME.expected.json`` (and, for bank
CSV/XLSX, the bank's ``NAME.profile.json``). After a deliberate parser change, rewrite
the expectations with ``python tests/golden/test_golden.py --regen`` and review the diff.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from lxml import etree  # type: ignore[import-untyped]  # no stubs installed

from reconciliation.parsers.camt import parse_camt053, parse_camt054
from reconciliation.parsers.detect import detect_format, parse_return_file
from reconciliation.parsers.mt940 import parse_mt940
from reconciliation.parsers.pacs004 import parse_pacs004
from reconciliation.parsers.pain002 import parse_pain002
from reconciliation.parsers.post_office import parse_post_office
from reconciliation.parsers.tabular import TabularProfile, parse_bank_table
from reconciliation.records import ParseResult, ReturnStatus, SourceFormat

HERE = Path(__file__).parent
FORMATS = ("pain002", "camt054", "camt053", "pacs004", "mt940", "bank_csv", "bank_xlsx",
           "post_office")
XSD_FOR = {
    "pain.002.001.12": HERE / "xsd" / "pain.002.001.12.xsd",
    "camt.054.001.08": HERE / "xsd" / "camt.054.001.08.xsd",
    "camt.053.001.08": HERE / "xsd" / "camt.053.001.08.xsd",
}


def _samples() -> list[Path]:
    found = [path for fmt in FORMATS for path in sorted((HERE / fmt).iterdir())
             if not path.name.endswith(".json")]
    return found


def _profile(sample: Path) -> TabularProfile | None:
    path = sample.with_name(sample.stem + ".profile.json")
    if not path.exists():
        return None
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["status_map"] = {k: ReturnStatus(v) for k, v in raw["status_map"].items()}
    return TabularProfile(**raw)


def _parse_direct(sample: Path) -> ParseResult:
    """Parse with the format's own parser, from a stream (as the service will)."""
    parsers: dict[str, Callable[..., ParseResult]] = {
        "pain002": parse_pain002, "camt054": parse_camt054, "camt053": parse_camt053,
        "pacs004": parse_pacs004, "mt940": parse_mt940, "post_office": parse_post_office,
    }
    with sample.open("rb") as stream:
        fmt = sample.parent.name
        if fmt in parsers:
            return parsers[fmt](stream, filename=sample.name)
        profile = _profile(sample)
        assert profile is not None, f"{sample.name} needs a profile"
        return parse_bank_table(stream, filename=sample.name, profile=profile)


def _jsonable(result: ParseResult, detected: SourceFormat | None) -> dict[str, Any]:
    def convert(item: object) -> dict[str, Any]:
        assert dataclasses.is_dataclass(item) and not isinstance(item, type)
        return {k: (v.isoformat() if hasattr(v, "isoformat") else v)
                for k, v in dataclasses.asdict(item).items()}

    records, errors = result
    return {
        "detected_format": detected.value if detected else None,
        "records": [convert(r) for r in records],
        "errors": [convert(e) for e in errors],
    }


def _actual(sample: Path) -> dict[str, Any]:
    data = sample.read_bytes()
    return _jsonable(_parse_direct(sample), detect_format(data, sample.name))


def _expected_path(sample: Path) -> Path:
    return sample.with_name(sample.stem + ".expected.json")


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sample_parses_to_expected(sample: Path) -> None:
    expected = json.loads(_expected_path(sample).read_text(encoding="utf-8"))
    actual = json.loads(json.dumps(_actual(sample)))
    assert actual == expected


@pytest.mark.parametrize("sample", _samples(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_dispatcher_gives_the_same_result(sample: Path) -> None:
    data = sample.read_bytes()
    direct = _parse_direct(sample)
    dispatched = parse_return_file(data, sample.name, tabular_profile=_profile(sample))
    assert dispatched == direct
    assert detect_format(data, sample.name) == SourceFormat(sample.parent.name)


def _schema_samples() -> list[tuple[Path, Path]]:
    pairs = []
    for sample in _samples():
        if sample.suffix != ".xml":
            continue
        head = sample.read_text(encoding="utf-8")[:400]
        for message, xsd in XSD_FOR.items():
            if f"urn:iso:std:iso:20022:tech:xsd:{message}" in head:
                pairs.append((sample, xsd))
    return pairs


@pytest.mark.parametrize(("sample", "xsd"), _schema_samples(),
                         ids=lambda p: p.name if isinstance(p, Path) else str(p))
def test_sample_is_valid_against_the_official_schema(sample: Path, xsd: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(xsd)))
    document = etree.parse(str(sample))
    assert schema.validate(document), schema.error_log


def test_every_version_of_pain002_is_covered() -> None:
    namespaces = {s.read_text(encoding="utf-8")[:300].split("xsd:")[1][:15]
                  for s in (HERE / "pain002").glob("*.xml")}
    assert {"pain.002.001.03", "pain.002.001.10", "pain.002.001.12"} <= namespaces


def test_every_version_of_pacs004_is_covered() -> None:
    namespaces = {s.read_text(encoding="utf-8").split("xsd:", 1)[1][:15]
                  for s in (HERE / "pacs004").glob("*.xml")}
    assert {"pacs.004.001.09", "pacs.004.001.10", "pacs.004.001.11"} <= namespaces


def test_pacs004_records_are_returns_that_name_the_payment_file() -> None:
    # The pacs.004's own MsgId never stands in for the payment file's (OrgnlMsgId).
    for sample in sorted((HERE / "pacs004").glob("*.xml")):
        records, _ = _parse_direct(sample)
        own_msg_ids = {el.text for el in etree.parse(str(sample)).iter("{*}MsgId")}
        for record in records:
            assert record.status is ReturnStatus.RETURNED
            assert record.msg_id is not None and record.msg_id not in own_msg_ids


def test_every_sample_has_an_expectation() -> None:
    missing = [s.name for s in _samples() if not _expected_path(s).exists()]
    assert missing == []


def _regenerate() -> None:
    for sample in _samples():
        text = json.dumps(_actual(sample), ensure_ascii=False, indent=2) + "\n"
        _expected_path(sample).write_text(text, encoding="utf-8")
        print("wrote", _expected_path(sample).relative_to(HERE))


if __name__ == "__main__" and sys.argv[1:] == ["--regen"]:
    _regenerate()
