"""Files and directories only the service's own user may read: 0600 files in 0700 directories.

The database, stored imports, payment files, signatures, manifests, returns and reports all
name or pay people. Entry points set a process-wide umask of 0o077 (``restrict_umask``) so that
whatever a library creates is private too; the helpers here give the same modes explicitly
where the service creates a file itself, whatever the umask was.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

#: Only the owner may read, write or enter.
PRIVATE_UMASK = 0o077
FILE_MODE = 0o600
DIR_MODE = 0o700


def restrict_umask() -> int:
    """Set the process umask to 0o077 (entry points call this first); return the old one."""
    return os.umask(PRIVATE_UMASK)


def private_dir(path: Path) -> Path:
    """Create ``path`` and its missing parents as 0700 directories; make ``path`` itself 0700.

    Parents that already exist keep their mode (they may be shared, e.g. the home directory).
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
    os.chmod(path, DIR_MODE)  # mkdir's mode is masked by the umask; an old one may be 0755
    return path


def open_private(path: Path) -> BinaryIO:
    """Create (or truncate) ``path`` as a 0600 file and open it for binary writing."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    os.fchmod(descriptor, FILE_MODE)  # an existing file keeps its mode through O_CREAT
    return os.fdopen(descriptor, "wb")


def make_private(*paths: Path) -> None:
    """Set existing files to 0600 (files written by a library that takes only a path)."""
    for path in paths:
        if path.exists():
            os.chmod(path, FILE_MODE)
