"""The reference population-registry service: a separate Flask app with its own SQLite file.

It stands in for the national population database reached through a government gateway, so
the registry client can be tested over real sockets. See ``store`` (CSV load, lookups),
``app`` (HTTP API) and ``cli`` (``popdb load`` / ``popdb serve``).
"""

from disburse.entry.popdb.app import create_popdb_app
from disburse.entry.popdb.store import LoadError, LoadReport, PopulationStore, load_population

__all__ = ["LoadError", "LoadReport", "PopulationStore", "create_popdb_app", "load_population"]
