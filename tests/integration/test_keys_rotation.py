"""Bulk re-encryption on rotation, on a real database."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Column, Integer, LargeBinary, MetaData, Table, insert, select
from sqlalchemy.orm import Session

from disburse.core.db import make_engine
from disburse.core.keyring import EncryptedColumn, Keyring, key_version, reencrypt_all


def test_rotate_reencrypts_every_value(tmp_path: Path, fresh_database_url: str) -> None:
    meta = MetaData()
    table = Table("secrets", meta, Column("id", Integer, primary_key=True),
                  Column("value_enc", LargeBinary, nullable=True))
    engine = make_engine(fresh_database_url)
    meta.create_all(engine)
    keyring = Keyring.init(tmp_path / "keys")
    values = [f"{i:012d}" for i in range(2500)]
    with Session(engine) as s, s.begin():
        rows = [{"id": i, "value_enc": keyring.encrypt("cid", v)} for i, v in enumerate(values)]
        s.execute(insert(table), [*rows, {"id": 9999, "value_enc": None}])
    rotated = keyring.add_version(tmp_path / "keys")
    target = EncryptedColumn(table, table.c.id, table.c.value_enc, "cid")
    with Session(engine) as s, s.begin():
        count = reencrypt_all(s, rotated, chunk=700, columns=[target])
    assert count == 2500
    with Session(engine) as s:
        rows = s.execute(select(table.c.id, table.c.value_enc).where(table.c.id < 9999)
                         .order_by(table.c.id)).all()
        again = reencrypt_all(s, rotated, columns=[target])
    engine.dispose()
    assert again == 0
    assert {key_version(blob) for _, blob in rows} == {2}
    assert [rotated.decrypt("cid", blob) for _, blob in rows] == values
