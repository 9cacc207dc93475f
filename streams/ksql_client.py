"""A client for a ksqlDB server's REST API: statements (/ksql), command status, server info, push and pull queries
(/query-stream, delimited), closing push queries (/close-query); Basic auth and TLS.

Tested against this project's own facade (streams.ksql_facade); not run against a real ksqlDB server here.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import Any

from core.errors import AuthError, InvalidArgument, KafkaOperationError, NotFound, Unreachable
from core.settings import ClusterConfig

KSQL_MEDIA = "application/vnd.ksql.v1+json"
DELIMITED_MEDIA = "application/vnd.ksqlapi.delimited.v1"


class KsqlClient:
    def __init__(
        self,
        url: str,
        *,
        username: str | None = None,
        password: str | None = None,
        verify: bool | str = True,
        timeout: float = 15.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.auth = (username, password or "") if username else None
        self.verify = verify
        self.timeout = timeout

    @classmethod
    def for_cluster(cls, cfg: ClusterConfig, *, timeout: float = 15.0) -> KsqlClient:
        if not cfg.ksqldb_url:
            raise InvalidArgument(f"Cluster {cfg.name!r} has no ksqldb_url configured.")
        password = cfg.ksqldb_password.get_secret_value() if cfg.ksqldb_password else None
        verify: bool | str = cfg.ssl_ca_location or True
        return cls(cfg.ksqldb_url, username=cfg.ksqldb_username, password=password, verify=verify, timeout=timeout)

    def _client(self, timeout: float | None = None) -> Any:
        import httpx

        return httpx.Client(auth=self.auth, verify=self.verify, timeout=timeout or self.timeout)

    def _check(self, resp: Any, what: str) -> Any:
        if resp.status_code in (401, 403):
            raise AuthError(f"ksqlDB at {self.url} refused {what}: HTTP {resp.status_code}.", hint="Check credentials.")
        try:
            data = resp.json()
        except ValueError:
            data = None
        if resp.status_code >= 400:
            message = data.get("message") if isinstance(data, dict) else resp.text[:500]
            code = data.get("error_code") if isinstance(data, dict) else None
            if resp.status_code == 404:
                raise NotFound(f"ksqlDB {what}: {message}")
            if resp.status_code == 400:
                raise InvalidArgument(f"ksqlDB rejected {what}: {message}", code=str(code) if code else None)
            raise KafkaOperationError(f"ksqlDB {what} failed: HTTP {resp.status_code}: {message}")
        return data

    def _request(self, method: str, path: str, what: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        import httpx

        try:
            with self._client(timeout) as client:
                resp = client.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise Unreachable(f"ksqlDB at {self.url} did not answer ({what}): {exc}.") from None
        return self._check(resp, what)

    def info(self) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", "/info", "server info", headers={"Accept": KSQL_MEDIA})
        return data

    def execute(
        self, sql: str, properties: dict[str, Any] | None = None, *, timeout: float = 180.0
    ) -> list[dict[str, Any]]:
        """Run statements; returns one entity per statement. ``timeout`` allows for persistent queries whose
        application must start before the server answers (the built-in engine waits for RUNNING)."""
        body = {"ksql": sql, "streamsProperties": properties or {}}
        headers = {"Accept": KSQL_MEDIA, "Content-Type": KSQL_MEDIA}
        data = self._request("POST", "/ksql", "statement", timeout=timeout, json=body, headers=headers)
        return list(data) if isinstance(data, list) else [data]

    def command_status(self, command_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", f"/status/{command_id}", "command status")
        return data

    def close_query(self, query_id: str) -> None:
        self._request("POST", "/close-query", "close query", json={"queryId": query_id})

    def query(
        self, sql: str, *, properties: dict[str, Any] | None = None, limit: int = 100, timeout: float = 10.0
    ) -> dict[str, Any]:
        """A pull or push query through /query-stream (delimited rows). A push query is closed after ``limit`` rows
        or ``timeout`` seconds. Returns query_id, column_names, column_types and rows."""
        import httpx

        body = {"sql": sql, "properties": properties or {}}
        header: dict[str, Any] = {}
        rows: list[Any] = []
        deadline = time.monotonic() + timeout
        try:
            with (
                self._client(timeout=max(timeout, self.timeout)) as client,
                client.stream(
                    "POST", self.url + "/query-stream", json=body, headers={"Accept": DELIMITED_MEDIA}
                ) as resp,
            ):
                if resp.status_code >= 400:
                    resp.read()
                    self._check(resp, "query")
                for line in resp.iter_lines():
                    if not line.strip():
                        continue
                    item = json.loads(line)
                    if not header and isinstance(item, dict) and "queryId" in item:
                        header = item
                        continue
                    if isinstance(item, dict) and item.get("@type") == "generic_error":
                        raise InvalidArgument(f"ksqlDB query failed: {item.get('message')}")
                    rows.append(item)
                    if len(rows) >= limit or time.monotonic() > deadline:
                        break
        except httpx.ReadTimeout:
            pass
        except httpx.HTTPError as exc:
            raise Unreachable(f"ksqlDB at {self.url} did not answer (query): {exc}.") from None
        query_id = header.get("queryId")
        if query_id and rows and len(rows) >= limit:
            with contextlib.suppress(NotFound, InvalidArgument):
                self.close_query(str(query_id))
        return {
            "query_id": query_id,
            "column_names": header.get("columnNames", []),
            "column_types": header.get("columnTypes", []),
            "rows": rows,
        }
