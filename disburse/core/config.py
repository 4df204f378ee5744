"""Configuration from ``DISBURSE_*`` environment variables, with embedded defaults.

Every setting has a default that works on a fresh machine: a SQLite file under ``var/`` and
keys in the user's configuration directory, outside the repository.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from disburse.core.errors import ConfigurationError


def _default_key_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "disburse" / "keys"


@dataclass(frozen=True)
class Settings:
    """The service's settings.

    Attributes:
        database_url: SQLAlchemy URL; ``postgresql+psycopg://...`` switches to PostgreSQL.
        data_dir: where the SQLite file, stored imports, reports and files live.
        key_dir: the keyring directory (mode 0700, files 0600), outside the repository.
        secret_key: Flask session secret; a random one per process if unset.
        verification_max_age_days: a verification older than this is stale.
        registry_url: base URL of the population registry.
        registry_token: bearer token for the population registry.
        registry_batch_size: IDs per registry request.
        log_dir: where unexpected errors are logged with their traceback.
        routes_file: JSON routing configuration (default: the one shipped with the service).
        max_upload_mb: the largest list or return file accepted, in MiB, over HTTP (the
            request size) and by the CLI list import alike.
    """

    database_url: str = ""
    data_dir: Path = Path("var")
    key_dir: Path = field(default_factory=_default_key_dir)
    secret_key: str = ""
    verification_max_age_days: int = 30
    registry_url: str = "http://127.0.0.1:8701"
    registry_token: str = ""
    registry_batch_size: int = 1000
    log_dir: Path = Path("var/log")
    routes_file: Path | None = None
    max_upload_mb: int = 100
    testing: bool = False

    def __post_init__(self) -> None:
        if not self.database_url:
            sqlite_path = (self.data_dir / "disburse.sqlite3").resolve()
            object.__setattr__(self, "database_url", f"sqlite:///{sqlite_path}")
        if not self.secret_key:
            object.__setattr__(self, "secret_key", os.urandom(32).hex())
        if self.max_upload_mb < 1:
            raise ConfigurationError(
                f"DISBURSE_MAX_UPLOAD_MB must be at least 1, got {self.max_upload_mb}")

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes."""
        return self.max_upload_mb * 1024 * 1024

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``DISBURSE_<FIELD>`` variables, then apply ``overrides``.

        Raises:
            ConfigurationError: when a variable cannot be read as its field's type.
        """
        source = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = source.get(f"DISBURSE_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, str(f.type), raw)
        values.update(overrides)
        return cls(**values)

    def with_overrides(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` applied."""
        return replace(self, **changes)


def _coerce(name: str, type_name: str, raw: str) -> Any:
    if "Path" in type_name:
        return Path(raw).expanduser()
    if type_name == "int":
        try:
            return int(raw)
        except ValueError:
            raise ConfigurationError(
                f"DISBURSE_{name.upper()} must be a whole number, got {raw!r}"
            ) from None
    if type_name == "bool":
        return raw.lower() in {"1", "true", "yes", "on"}
    return raw
