"""Shared fixtures: a real database (SQLite by default, PostgreSQL when
DISBURSE_TEST_DATABASE_URL is set), one savepoint per test, apps and CLI runners."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from disburse.core import audit
from disburse.core.config import Settings
from disburse.core.db import make_engine
from disburse.entry.app import create_app
from disburse.entry.cli.main import cli
from disburse.entry.migrate import alembic_config

# The suite asserts the English text of the command line (DISBURSE_LANG defaults to
# Vietnamese); tests of the Vietnamese default unset it themselves. Set in the environment so
# the commands the end-to-end tests start as processes speak English too.
os.environ["DISBURSE_LANG"] = "en"

TEST_DB_ENV = "DISBURSE_TEST_DATABASE_URL"
#: The audit MAC key of sessions made outside an application (an application's sessions use
#: its own keyring's key, see ``disburse.core.audit``).
TEST_AUDIT_KEY = b"disburse test audit chain key 32"

audit.set_default_key_source(audit.fixed_key_source(TEST_AUDIT_KEY))


def backend() -> str:
    """Return "postgresql" when the suite runs on PostgreSQL, else "sqlite"."""
    url = os.environ.get(TEST_DB_ENV, "")
    return "postgresql" if url.startswith("postgresql") else "sqlite"


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database behind ``engine`` to ``revision``."""
    config = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _create_pg_database(base_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


def _drop_pg_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = make_engine(base_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def fresh_database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of its own for this test (a new PostgreSQL database or SQLite file)."""
    base = os.environ.get(TEST_DB_ENV)
    if not base:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        return
    url = _create_pg_database(base)
    yield url
    _drop_pg_database(base, url)


@pytest.fixture(scope="session")
def engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """One migrated database for the session; tests isolate through savepoints."""
    base = os.environ.get(TEST_DB_ENV)
    url = _create_pg_database(base) if base else (
        f"sqlite:///{tmp_path_factory.mktemp('db') / 'suite.sqlite3'}")
    eng = make_engine(url)
    migrate(eng)
    yield eng
    eng.dispose()
    if base:
        _drop_pg_database(base, url)


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session whose work is rolled back after the test (commits become savepoints)."""
    connection = engine.connect()
    outer = connection.begin()
    db = Session(bind=connection, join_transaction_mode="create_savepoint",
                 expire_on_commit=False)
    try:
        yield db
    finally:
        db.close()
        outer.rollback()
        connection.close()


@pytest.fixture
def settings(tmp_path: Path, fresh_database_url: str) -> Settings:
    """Settings for a self-contained service instance: own database, keys and data dir."""
    return Settings(database_url=fresh_database_url, data_dir=tmp_path / "var",
                    key_dir=tmp_path / "keys", log_dir=tmp_path / "var" / "log",
                    testing=True)


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    """A migrated application on its own database."""
    application = create_app(settings)
    # In-process apps key the audit chain with the test key, like bare sessions, so tests need
    # no keyring unless they use one; the e2e tests run the real wiring (the keyring's key).
    application.extensions["disburse"].session_factory.configure(
        info={audit.KEY_SOURCE: audit.fixed_key_source(TEST_AUDIT_KEY)})
    migrate(application.extensions["disburse"].engine)
    yield application
    application.extensions["disburse"].engine.dispose()


class CliRun:
    """Invoke ``disburse`` commands in-process against a given app."""

    def __init__(self, application: Flask) -> None:
        self.app = application
        self.runner = CliRunner()

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return self.runner.invoke(cli, list(args), input=input,
                                  obj=ScriptInfo(create_app=lambda: self.app))


@pytest.fixture
def run_cli(app: Flask) -> CliRun:
    """Run CLI commands against ``app``."""
    return CliRun(app)
