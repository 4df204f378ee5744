"""A hostile signed return file through the real ``disburse returns import``, memory-capped.

Issue 11, finding 4: a signed 200 MB pain.002 of repeated records created 1,191,562
exceptions (about 500 MB of database). The same kind of file, signed with the bank's
registered key, is imported by the console script in a child process whose address space is
capped at 1.5 GiB: it must be refused whole (exit 1, one line naming the reason), leave no
record and no exception behind, and peak under 1 GiB of resident memory.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from sqlalchemy.orm import Session

from bank_adapters.models import Bank
from disburse.core.db import make_engine
from disburse.core.signing import public_key_pem
from disburse.core.users import Role, add_user
from tests.integration.test_hostile_lists import PASSWORD, PEAK_RSS_LIMIT, env, run_capped

pytestmark = pytest.mark.e2e
__all__ = ["env"]  # the installation fixture, shared with the hostile-list tests

BANK_BIN = "970436"
RECORD = (b"<TxInfAndSts><OrgnlEndToEndId>PEN01202611000000000001</OrgnlEndToEndId>"
          b"<TxSts>RJCT</TxSts><StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf>"
          b"</TxInfAndSts>\n")


def write_repeated_pain002(path: Path, size: int) -> bytes:
    """A pain.002 of one rejection repeated until the file is ``size`` bytes; its bytes."""
    head = (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.12"><CstmrPmtStsRpt>'
            b"<GrpHdr><MsgId>FLOOD</MsgId><CreDtTm>2026-11-24T16:05:00+07:00</CreDtTm></GrpHdr>"
            b"<OrgnlGrpInfAndSts><OrgnlMsgId>HN-PEN-202611-0001</OrgnlMsgId>"
            b"<OrgnlMsgNmId>pain.001.001.09</OrgnlMsgNmId></OrgnlGrpInfAndSts>"
            b"<OrgnlPmtInfAndSts><OrgnlPmtInfId>P1</OrgnlPmtInfId>\n")
    tail = b"</OrgnlPmtInfAndSts></CstmrPmtStsRpt></Document>\n"
    data = head + RECORD * ((size - len(head) - len(tail)) // len(RECORD)) + tail
    path.write_bytes(data)
    return data


@pytest.fixture
def installation(tmp_path: Path, env: dict[str, str]) -> tuple[dict[str, str], Ed25519PrivateKey]:
    """The hostile-lists installation plus a registered bank and an auditor."""
    key = Ed25519PrivateKey.generate()
    engine = make_engine(env["DISBURSE_DATABASE_URL"])
    with Session(engine) as session:
        session.add(Bank(bin=BANK_BIN, name="Vietcombank", route="vcb", profile={},
                         public_key_pem=public_key_pem(key.public_key()).decode()))
        add_user(session, "an", Role.AUDITOR, PASSWORD, actor="test")
        session.commit()
    engine.dispose()
    return {**env, "DISBURSE_MAX_UPLOAD_MB": "300"}, key


def rows(env: dict[str, str], table: str) -> int:
    engine = make_engine(env["DISBURSE_DATABASE_URL"])
    with engine.connect() as connection:
        count = connection.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one()
    engine.dispose()
    return int(count)


def test_a_signed_flood_of_repeated_records_is_refused_whole(
        tmp_path: Path, installation: tuple[dict[str, str], Ed25519PrivateKey]) -> None:
    env, key = installation
    path = tmp_path / "flood.xml"
    data = write_repeated_pain002(path, 200 * 1024 * 1024)
    (tmp_path / "flood.xml.sig").write_bytes(key.sign(data))
    del data
    outcome = run_capped(env, tmp_path, "returns", "import", str(path), "--bank", BANK_BIN)
    assert outcome.exit_code == 1, outcome.stderr
    assert "refused" in outcome.stdout and "Traceback" not in outcome.stderr
    assert outcome.peak_rss < PEAK_RSS_LIMIT
    assert rows(env, "return_records") == rows(env, "reconciliation_exceptions") == 0
    engine = make_engine(env["DISBURSE_DATABASE_URL"])
    with engine.connect() as connection:
        state, reason = connection.execute(text("SELECT state, reason FROM return_files")).one()
    engine.dispose()
    assert state == "quarantined" and "nothing was read" in reason


def test_a_return_file_over_the_upload_limit_is_refused_unread(
        tmp_path: Path, installation: tuple[dict[str, str], Ed25519PrivateKey]) -> None:
    env, _key = installation
    path = tmp_path / "big.xml"
    write_repeated_pain002(path, 2 * 1024 * 1024)
    outcome = run_capped({**env, "DISBURSE_MAX_UPLOAD_MB": "1"}, tmp_path, "returns", "import",
                         str(path), "--bank", BANK_BIN)
    assert outcome.exit_code == 1
    assert "upload limit is 1 MiB" in outcome.stdout + outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert rows(env, "return_files") == 0
