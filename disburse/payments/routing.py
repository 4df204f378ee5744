"""Routing configuration: which route pays each instruction, and with which file profile.

Routes come from a JSON file (``DISBURSE_ROUTES_FILE``, default: the one shipped beside this
module). The core never branches on a bank: a bank account goes to the programme's paying bank
route, an e-wallet to its provider's route, cash to the post-office route of its province.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from disburse.core.errors import ConfigurationError
from disburse.core.signing import SignatureAlg
from disburse.payments.payment_files.model import BankProfile, Layout

CASH_LAYOUT = "cash_list"


@dataclass(frozen=True)
class Route:
    """A way out for money: a bank file or API, an e-wallet provider, or the post office."""

    name: str
    kind: str  # bank | ewallet | cash
    bin: str
    transport: str  # file_exchange | http_api | ewallet | post_office (adapter key)
    layout: str  # pain001 | csv | cash_list
    profile: BankProfile


@dataclass(frozen=True)
class Funding:
    """A programme's funding (debtor) account and its paying bank route."""

    programme: str
    debtor_name: str
    account: str
    bin: str
    bank_route: str


@dataclass(frozen=True)
class RoutingConfig:
    """Funding per programme, routes by name, and the initiating party."""

    initiating_name: str
    initiating_id: str
    funding: dict[str, Funding]
    routes: dict[str, Route]

    def route_for(self, *, programme: str, channel: str, bank_bin: str | None,
                  province_code: str) -> str:
        """Return the route name for one instruction.

        Raises:
            ConfigurationError: no route is configured for it (the batch cannot be built).
        """
        if channel == "bank":
            return self.funding_for(programme).bank_route
        if channel == "ewallet":
            for route in self.routes.values():
                if route.kind == "ewallet" and route.bin == bank_bin:
                    return route.name
            raise ConfigurationError(f"no e-wallet route for provider BIN {bank_bin}")
        cash = [r for r in self.routes.values() if r.kind == "cash"]
        if not cash:
            raise ConfigurationError("no post-office (cash) route is configured")
        return f"{cash[0].name}-{province_code}"

    def route(self, name: str) -> Route:
        """Return the route ``name`` (a cash route may carry a ``-<province>`` suffix)."""
        base = name if name in self.routes else name.rsplit("-", 1)[0]
        try:
            return self.routes[base]
        except KeyError:
            raise ConfigurationError(f"unknown route {name!r}") from None

    def funding_for(self, programme: str) -> Funding:
        """Return the funding account of ``programme``."""
        try:
            return self.funding[programme]
        except KeyError:
            raise ConfigurationError(f"no funding account configured for {programme}") from None


def _profile(name: str, data: dict[str, Any]) -> BankProfile:
    layout = data.get("layout", "pain001")
    return BankProfile(
        name=name,
        layout=Layout.CSV if layout == "csv" else Layout.PAIN001,
        ascii_upper_names=bool(data.get("ascii_upper_names", False)),
        max_tx_per_file=data.get("max_tx_per_file"),
        signature_alg=SignatureAlg(data.get("signature_alg", "ed25519")),
        csv_columns=tuple(data.get("csv_columns", ())),
        csv_delimiter=data.get("csv_delimiter", ","),
    )


def parse_routing(data: dict[str, Any]) -> RoutingConfig:
    """Build a routing config from its JSON form.

    Raises:
        ConfigurationError: a missing or inconsistent entry.
    """
    try:
        routes = {
            name: Route(name, r["kind"], r["bin"], r["transport"],
                        r.get("profile", {}).get("layout", "pain001"),
                        _profile(name, r.get("profile", {})))
            for name, r in data["routes"].items()
        }
        funding = {p: Funding(p, f["debtor_name"], f["account"], f["bin"], f["bank_route"])
                   for p, f in data["funding"].items()}
        party = data["initiating_party"]
        config = RoutingConfig(party["name"], party["id"], funding, routes)
    except (KeyError, TypeError, ValueError) as error:
        raise ConfigurationError(f"routing configuration is incomplete: {error}") from None
    for f in funding.values():
        if f.bank_route not in routes:
            raise ConfigurationError(f"programme {f.programme} pays through unknown route "
                                     f"{f.bank_route!r}")
    return config


@cache
def _default_text() -> str:
    return resources.files(__package__).joinpath("routing_default.json").read_text("utf-8")


def load_routing(path: Path | None = None) -> RoutingConfig:
    """Load the routing config from ``path``, or the shipped default."""
    text = path.read_text(encoding="utf-8") if path else _default_text()
    try:
        return parse_routing(json.loads(text))
    except json.JSONDecodeError as error:
        raise ConfigurationError(f"routing file {path} is not valid JSON: {error}") from None
