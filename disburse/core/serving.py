"""Run a reference service (population registry, bank simulator) on a loopback port."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable
from types import FrameType

import click
from flask import Flask
from werkzeug.serving import make_server


def _raise_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Turn SIGTERM into a normal exit so callers' `finally` blocks clean up.
    raise SystemExit(0)


def exit_cleanly_on_sigterm() -> None:
    """Make SIGTERM unwind the stack like Ctrl-C, so temporary files are removed."""
    signal.signal(signal.SIGTERM, _raise_on_sigterm)


def serve_forever(app: Flask, host: str, port: int, *, banner: Callable[[int], str],
                  access_log: bool, quiet_level: int = logging.WARNING) -> None:
    """Serve ``app`` threaded until interrupted; print ``banner(port)`` once listening.

    The banner line is what test harnesses wait for, so it is flushed at once; port 0 picks
    a free port and the banner names the real one.
    """
    logging.getLogger("werkzeug").setLevel(logging.INFO if access_log else quiet_level)
    try:
        server = make_server(host, port, app, threaded=True)
    except OSError as exc:
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc}") from None
    click.echo(banner(server.server_port))
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
