"""The end-to-end demo run by ``make demo``, on the embedded SQLite default.

It sets up what a fresh machine needs (schema, keyring, users) and then runs the steps that
exist so far, printing what it does.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

DISBURSE = str(Path(sys.executable).parent / "disburse")


def _run(*args: str, stdin: str | None = None) -> None:
    print(f"$ disburse {' '.join(args)}", flush=True)
    subprocess.run([DISBURSE, *args], input=stdin, text=True, check=True)


def main() -> None:
    """Run the demo against a database and keyring under ``var/demo``."""
    demo_dir = Path("var/demo").resolve()
    demo_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("DISBURSE_DATA_DIR", str(demo_dir))
    os.environ.setdefault("DISBURSE_KEY_DIR", str(demo_dir / "keys"))
    _run("db", "upgrade")
    if not (Path(os.environ["DISBURSE_KEY_DIR"]) / "keyring.json").exists():
        _run("keys", "init")
    listed = subprocess.run([DISBURSE, "users", "list"], capture_output=True, text=True,
                            check=True).stdout
    for name, role in (("demo.preparer", "preparer"), ("demo.approver", "approver"),
                       ("demo.auditor", "auditor")):
        if f"{name}\t" not in listed:
            _run("users", "add", name, "--role", role, "--password-stdin",
                 stdin=secrets.token_urlsafe(18) + "\n")
    _run("users", "list")
    _run("audit", "verify")


if __name__ == "__main__":
    main()
