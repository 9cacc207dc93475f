"""A small synchronous REST client for the services around a cluster, raising our errors with the URL tried.

Built per cluster on first use (``registry_client`` / ``connect_client``) and kept in ``app.lazy``; httpx is
imported only then, so the server's start-up does not pay for it.

A call that is not a GET changes the service unless it says otherwise: it carries either the ``permit=`` of the
change (the domain function has called ``permit.require`` for the resource first), or ``read_only=True`` for the
POST/PUT calls that only read (Connect's config validation, the registry's compatibility test and schema lookup).
Anything else is a programming error (``TypeError``), raised before any request is sent.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from core.errors import (
    AlreadyExists,
    AuthError,
    ConfigError,
    Conflict,
    InvalidArgument,
    KafkaAgentError,
    KafkaOperationError,
    NotFound,
    OperationTimeout,
    Unreachable,
)

if TYPE_CHECKING:
    from core.app import AppContext
    from core.gate import Permit
    from core.settings import ClusterConfig


class RestClient:
    """JSON over HTTP to one service; every failure becomes one of our errors naming the service and its URL."""

    def __init__(
        self,
        service: str,
        base_url: str,
        *,
        timeout: float = 15.0,
        auth: tuple[str, str] | None = None,
        conflict_retries: int = 0,
    ) -> None:
        import httpx

        self.service = service
        self.base_url = base_url.rstrip("/")
        self.conflict_retries = conflict_retries
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            auth=auth,
            headers={"Accept": "application/json", "Content-Type": "application/json"},
        )

    def request(
        self,
        method: str,
        path: str,
        *,
        what: str,
        json: Any = None,
        params: Any = None,
        permit: Permit | None = None,
        read_only: bool = False,
    ) -> Any:
        """The decoded JSON body (None for an empty body); raises our errors with ``what`` in the message.

        A non-GET call needs ``permit`` (a change the gate let through; the caller has checked it covers the
        resource) or ``read_only=True`` (a POST/PUT that only reads); without either it raises ``TypeError``."""
        method = method.upper()
        if method != "GET":
            if permit is None and not read_only:
                raise TypeError(
                    f"{what}: a {method} to the {self.service} changes it, so it needs permit= (from the gate) or, "
                    "for a call that only reads, read_only=True."
                )
            if permit is not None and read_only:
                raise TypeError(f"{what}: pass either permit= or read_only=True, not both.")
            if permit is not None:
                from core.gate import Permit as _Permit

                if not isinstance(permit, _Permit):
                    raise TypeError(f"{what}: permit= must be the gate's Permit, not {type(permit).__name__}.")
        import httpx

        attempt = 0
        while True:
            try:
                resp = self._http.request(method, path, json=json, params=params)
            except httpx.TimeoutException:
                raise OperationTimeout(
                    f"{what}: the {self.service} at {self.base_url} did not answer in time.",
                    hint="Check that the service runs and is not overloaded, then retry.",
                ) from None
            except httpx.TransportError as exc:
                raise Unreachable(
                    f"{what}: could not reach the {self.service} at {self.base_url} ({type(exc).__name__}).",
                    hint="Start it (kafka-agent dev-cluster up --with schema-registry,connect) or fix the URL "
                    "in the clusters file.",
                ) from None
            # A Connect worker answers 409 while its group rebalances or its config is stale (e.g. just after
            # start-up, or right after another config change): wait and retry. "Already exists" is final.
            # It also answers 500 "Request cannot be completed because a rebalance is expected" in that window.
            transient = (resp.status_code == 409 and "exist" not in resp.text.lower()) or (
                resp.status_code == 500 and "rebalance" in resp.text.lower()
            )
            if transient and attempt < self.conflict_retries:
                attempt += 1
                time.sleep(1.0)
                continue
            break
        if resp.status_code < 300:
            if not resp.content:
                return None
            try:
                return resp.json()
            except ValueError:
                return resp.text
        raise self._error(resp.status_code, _message(resp), what)

    def _error(self, status: int, message: str, what: str) -> KafkaAgentError:
        text = f"{what} failed: {self.service} answered HTTP {status}: {message}"
        code = f"HTTP_{status}"
        if status == 404:
            return NotFound(text, code=code)
        if status == 409:
            if "exist" in message.lower():
                return AlreadyExists(text, code=code)
            return Conflict(text, code=code)
        if status in (401, 403):
            return AuthError(text, hint="Check the service credentials in the clusters file.", code=code)
        if status in (400, 405, 415, 422):
            return InvalidArgument(text, code=code)
        return KafkaOperationError(text, code=code)

    def close(self) -> None:
        self._http.close()


def _message(resp: Any) -> str:
    try:
        body = resp.json()
    except ValueError:
        return str(resp.text)[:500] or resp.reason_phrase
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_message") or body)[:1000]
    return str(body)[:1000]


def registry_client(app: AppContext, cfg: ClusterConfig) -> RestClient:
    """The Schema Registry client of a cluster (Confluent API: Confluent SR, Apicurio ccompat, Karapace)."""
    url = cfg.schema_registry_url
    if not url:
        raise ConfigError(
            f"Cluster {cfg.name!r} has no schema registry configured.",
            hint="Set schema_registry_url for it in the clusters file (for Apicurio: http://host:port/apis/ccompat/v7).",
        )
    auth = None
    if cfg.schema_registry_username and cfg.schema_registry_password is not None:
        auth = (cfg.schema_registry_username, cfg.schema_registry_password.get_secret_value())

    def build() -> RestClient:
        return RestClient("schema registry", url, timeout=app.settings.request_timeout_s, auth=auth)

    return app.lazy.get(f"rest:registry:{cfg.name}", build)


def connect_client(app: AppContext, cfg: ClusterConfig) -> RestClient:
    """The Kafka Connect REST client of a cluster."""
    url = cfg.connect_url
    if not url:
        raise ConfigError(
            f"Cluster {cfg.name!r} has no Kafka Connect worker configured.",
            hint="Set connect_url for it in the clusters file (e.g. http://connect:8083).",
        )

    def build() -> RestClient:
        # Connect answers slowly while it rebalances (its own REST timeout is 90 s): give it more than the default.
        timeout = max(app.settings.request_timeout_s, 30.0)
        return RestClient("Kafka Connect worker", url, timeout=timeout, conflict_retries=20)

    return app.lazy.get(f"rest:connect:{cfg.name}", build)
