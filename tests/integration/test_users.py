"""Users and roles on a real database."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from disburse.core import audit, users
from disburse.core.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from disburse.core.users import Role

PASSWORD = "correct horse battery"


def test_add_hashes_password_and_audits(session: Session) -> None:
    user = users.add_user(session, "lan.nguyen", Role.PREPARER, PASSWORD, actor="admin")
    assert PASSWORD not in user.password_hash
    assert user.password_hash.startswith("$argon2id$")
    assert users.authenticate(session, "lan.nguyen", PASSWORD).id == user.id
    entries = session.query(audit.AuditEntry).filter_by(action="user.add").all()
    assert [e.object_id for e in entries] == ["lan.nguyen"]
    assert audit.verify_chain(session).broken is None


@pytest.mark.parametrize(
    ("name", "role", "password", "bank", "message"),
    [
        ("ok.name", Role.APPROVER, "short", None, "at least 12"),
        ("Bad Name", Role.APPROVER, PASSWORD, None, "user name"),
        ("vcb", Role.BANK, PASSWORD, None, "bank user needs"),
        ("clerk", Role.PREPARER, PASSWORD, "970436", "only a bank user"),
        ("vcb", Role.BANK, PASSWORD, "97043", "6 digits"),
    ],
)
def test_add_rejects_bad_input(session: Session, name: str, role: Role, password: str,
                               bank: str | None, message: str) -> None:
    with pytest.raises(ValidationFailed, match=message):
        users.add_user(session, name, role, password, actor="admin", bank_bin=bank)


def test_duplicate_name_conflicts(session: Session) -> None:
    users.add_user(session, "minh", Role.APPROVER, PASSWORD, actor="admin")
    with pytest.raises(Conflict):
        users.add_user(session, "minh", Role.AUDITOR, PASSWORD, actor="admin")


def test_wrong_password_and_disabled_user_refused(session: Session) -> None:
    users.add_user(session, "hoa", Role.AUDITOR, PASSWORD, actor="admin")
    with pytest.raises(Unauthorized):
        users.authenticate(session, "hoa", PASSWORD + "x")
    users.disable_user(session, "hoa", actor="admin")
    with pytest.raises(Unauthorized):
        users.authenticate(session, "hoa", PASSWORD)
    with pytest.raises(Forbidden, match="disabled"):
        users.require_role(session, "hoa", Role.AUDITOR)


def test_require_role(session: Session) -> None:
    users.add_user(session, "vcb.bot", Role.BANK, PASSWORD, actor="admin", bank_bin="970436")
    assert users.require_role(session, "vcb.bot", Role.BANK).bank_bin == "970436"
    with pytest.raises(Forbidden, match="needs approver"):
        users.require_role(session, "vcb.bot", Role.APPROVER)
