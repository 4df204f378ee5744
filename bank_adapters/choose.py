"""Choose the adapter of a route from configuration: the route's ``transport`` and its bank.

The core never asks which bank it is: the routing file names a transport per route
(``file_exchange``, ``http_api``, ``ewallet``, ``post_office``), and the bank's registration
(``banks`` table) gives what that transport needs:

* ``api_base_url`` (or ``profile.api_base_url``) for ``http_api`` and ``ewallet``;
* the bearer token the bank issued to us, read from the environment variable named by
  ``profile.token_env`` (default ``DISBURSE_BANK_<BIN>_TOKEN``), never stored in the database;
* ``profile.connect_timeout`` / ``profile.read_timeout`` (seconds) and, for mutual TLS,
  ``profile.client_cert`` / ``profile.client_key`` / ``profile.ca_bundle`` (PEM paths).

Folder transports live under ``<data_dir>/exchange/<bin>/``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from bank_adapters.ewallet import EwalletAdapter, key_signer
from bank_adapters.file_exchange import FileExchangeAdapter, exchange_root
from bank_adapters.http_api import HttpApiAdapter, HttpBankConfig
from bank_adapters.models import Bank
from bank_adapters.post_office import PostOfficeAdapter
from bank_adapters.protocol import BankAdapter
from disburse.core.config import Settings
from disburse.core.errors import ConfigurationError
from disburse.core.signing import PrivateKey
from disburse.payments.routing import Route, RoutingConfig


@dataclass(frozen=True)
class BankEndpoint:
    """What an adapter needs to know of a registered bank."""

    bin: str
    api_base_url: str | None = None
    profile: Mapping[str, Any] = field(default_factory=dict)


def endpoints(banks: Iterable[Bank]) -> dict[str, BankEndpoint]:
    """Return the registered banks as endpoints by BIN (detached from any session)."""
    return {b.bin: BankEndpoint(b.bin, b.api_base_url, dict(b.profile or {})) for b in banks}


@dataclass(frozen=True)
class AdapterContext:
    """Everything a factory may use to build an adapter."""

    route: Route
    settings: Settings
    endpoint: BankEndpoint
    signing_key: Callable[[], PrivateKey] | None
    env: Mapping[str, str]


def _path(value: Any) -> Path | None:
    return Path(str(value)).expanduser() if value else None


def http_config(endpoint: BankEndpoint, env: Mapping[str, str]) -> HttpBankConfig:
    """Build the HTTP settings of a bank from its registration and the environment.

    Raises:
        ConfigurationError: the bank has no API base URL.
    """
    profile = endpoint.profile
    base_url = endpoint.api_base_url or profile.get("api_base_url")
    if not base_url:
        raise ConfigurationError(f"bank {endpoint.bin} has no API base URL; register it "
                                 f"with --api-url")
    token_env = str(profile.get("token_env") or f"DISBURSE_BANK_{endpoint.bin}_TOKEN")
    return HttpBankConfig(
        base_url=str(base_url), bank_bin=endpoint.bin, token=env.get(token_env, ""),
        connect_timeout=float(profile.get("connect_timeout", 5.0)),
        read_timeout=float(profile.get("read_timeout", 30.0)),
        client_cert=_path(profile.get("client_cert")),
        client_key=_path(profile.get("client_key")),
        ca_bundle=_path(profile.get("ca_bundle")))


def _file_exchange(ctx: AdapterContext) -> BankAdapter:
    return FileExchangeAdapter(exchange_root(ctx.settings.data_dir, ctx.route.bin),
                               ctx.route.bin)


def _http_api(ctx: AdapterContext) -> BankAdapter:
    return HttpApiAdapter(http_config(ctx.endpoint, ctx.env))


def _ewallet(ctx: AdapterContext) -> BankAdapter:
    if ctx.signing_key is None:
        raise ConfigurationError("the e-wallet adapter signs each transaction: no signing key "
                                 "is configured")
    state = exchange_root(ctx.settings.data_dir, ctx.route.bin) / "ewallet"
    return EwalletAdapter(HttpApiAdapter(http_config(ctx.endpoint, ctx.env)), state,
                          key_signer(ctx.signing_key()))


def _post_office(ctx: AdapterContext) -> BankAdapter:
    return PostOfficeAdapter(exchange_root(ctx.settings.data_dir, ctx.route.bin), ctx.route.bin)


#: transport name (the routing file's ``transport``) -> adapter factory.
FACTORIES: Final[dict[str, Callable[[AdapterContext], BankAdapter]]] = {
    "file_exchange": _file_exchange,
    "http_api": _http_api,
    "ewallet": _ewallet,
    "post_office": _post_office,
}


def adapter_for(route: Route, settings: Settings, banks: Mapping[str, BankEndpoint], *,
                signing_key: Callable[[], PrivateKey] | None = None,
                env: Mapping[str, str] | None = None) -> BankAdapter:
    """Return the adapter for ``route``, built from its transport and its bank's settings.

    Raises:
        ConfigurationError: an unknown transport, or settings the transport needs are missing.
    """
    factory = FACTORIES.get(route.transport)
    if factory is None:
        raise ConfigurationError(f"route {route.name} has unknown transport "
                                 f"{route.transport!r}; known: {', '.join(sorted(FACTORIES))}")
    endpoint = banks.get(route.bin, BankEndpoint(route.bin))
    return factory(AdapterContext(route, settings, endpoint, signing_key,
                                  os.environ if env is None else env))


class AdapterRegistry:
    """Route name -> adapter, built on first use and kept (one per base route)."""

    def __init__(self, routing: RoutingConfig, settings: Settings,
                 banks: Mapping[str, BankEndpoint], *,
                 signing_key: Callable[[], PrivateKey] | None = None) -> None:
        """Create the registry over a routing config and the registered banks."""
        self.routing = routing
        self.settings = settings
        self.banks = banks
        self.signing_key = signing_key
        self._built: dict[str, BankAdapter] = {}

    def __call__(self, route_name: str) -> BankAdapter:
        """Return the adapter of ``route_name`` (``post-79`` shares ``post``'s adapter)."""
        route = self.routing.route(route_name)
        if route.name not in self._built:
            self._built[route.name] = adapter_for(route, self.settings, self.banks,
                                                  signing_key=self.signing_key)
        return self._built[route.name]


__all__ = ["FACTORIES", "AdapterContext", "AdapterRegistry", "BankEndpoint", "adapter_for",
           "endpoints", "http_config"]
