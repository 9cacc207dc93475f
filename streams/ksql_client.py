"""A client for a ksqlDB server's REST API: statements (/ksql), command status, server info, push and pull queries
(/query-stream, delimited), closing push queries (/close-query); Basic auth and TLS.

Statements that change something go through ``execute(permit, ...)``; read-only ones (SHOW, LIST, DESCRIBE, EXPLAIN)
through ``execute_read``. Queries (SELECT) read. Tested against this project's own facade (streams.ksql_facade); not
run against a real ksqlDB server here.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from typing import TYPE_CHECKING, Any

from core.errors import AuthError, InvalidArgument, KafkaOperationError, NotFound, Unreachable
from core.settings import ClusterConfig
from streams.sql import split_statements

if TYPE_CHECKING:
    from core.gate import Permit

KSQL_MEDIA = "application/vnd.ksql.v1+json"
DELIMITED_MEDIA = "application/vnd.ksqlapi.delimited.v1"
READ_ONLY = ("SHOW", "LIST", "DESCRIBE", "EXPLAIN", "SELECT")
# Statements that add or change without removing anything; every other statement that is not read-only (DROP,
# TERMINATE, CREATE OR REPLACE, RUN SCRIPT, anything unknown) is treated as destructive.
ADDING = ("CREATE", "INSERT", "ALTER", "PAUSE", "RESUME", "DEFINE", "UNDEFINE", "SET", "UNSET")
_LEADING = re.compile(r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*", re.DOTALL)
_DROP_DELETE_TOPIC = re.compile(
    r"(?is)^DROP\s+(?:STREAM|TABLE)\s+(?:IF\s+EXISTS\s+)?(`[^`]+`|\"[^\"]+\"|[A-Za-z0-9_.]+)\s+DELETE\s+TOPIC\b"
)


def _body(statement: str) -> str:
    """The statement without leading whitespace and comments."""
    m = _LEADING.match(statement)
    return statement[m.end() :] if m else statement


def _words(statement: str, n: int = 3) -> list[str]:
    """The statement's first words, upper-cased."""
    return [w.upper() for w in re.findall(r"[A-Za-z_]+", _body(statement)[:200])[:n]]


def is_read_only(statement: str) -> bool:
    """SHOW, LIST, DESCRIBE, EXPLAIN and SELECT change nothing."""
    words = _words(statement, 1)
    return bool(words) and words[0] in READ_ONLY


def is_destructive(statement: str) -> bool:
    """Whether a statement may remove something: anything neither read-only nor plainly adding (DROP, TERMINATE,
    CREATE OR REPLACE, RUN SCRIPT, unknown statements)."""
    words = _words(statement)
    if words and words[0] in READ_ONLY:
        return False
    return not words or words[0] not in ADDING or words[:3] == ["CREATE", "OR", "REPLACE"]


def delete_topic_source(statement: str) -> str | None:
    """The stream or table of a ``DROP ... DELETE TOPIC`` (its topic is found with DESCRIBE), else None."""
    m = _DROP_DELETE_TOPIC.match(_body(statement))
    if m is None:
        return None
    name = m.group(1)
    return name if name[0] in '`"' else name.upper()


_HEADERS = {"Accept": KSQL_MEDIA, "Content-Type": KSQL_MEDIA}


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

    def _request(
        self,
        method: str,
        path: str,
        what: str,
        *,
        timeout: float | None = None,
        permit: Permit | None = None,
        read_only: bool = False,
        **kwargs: Any,
    ) -> Any:
        """One HTTP call. A call that is not a GET says what it is: ``permit=`` (it may change something; the caller
        checked the permit) or ``read_only=True`` (a POST that only reads)."""
        import httpx

        if method.upper() != "GET" and permit is None and not read_only:
            raise TypeError(f"{method} {path}: pass permit= or read_only=True")

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
        self, permit: Permit, sql: str, properties: dict[str, Any] | None = None, *, timeout: float = 180.0
    ) -> list[dict[str, Any]]:
        """Run statements (``permit``: ``ksql.execute`` of each statement that is not read-only); returns one entity
        per statement. ``timeout`` allows for persistent queries whose application must start before the server
        answers (the built-in engine waits for RUNNING)."""
        for statement in split_statements(sql):
            if not is_read_only(statement):
                permit.require("ksql.execute", statement)
        body = {"ksql": sql, "streamsProperties": properties or {}}
        data = self._request("POST", "/ksql", "statement", timeout=timeout, json=body, headers=_HEADERS, permit=permit)
        return list(data) if isinstance(data, list) else [data]

    def execute_read(
        self, sql: str, properties: dict[str, Any] | None = None, *, timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Run read-only statements (SHOW, LIST, DESCRIBE, EXPLAIN); anything else is refused here."""
        changing = [s for s in split_statements(sql) if not is_read_only(s)]
        if changing:
            raise InvalidArgument(f"Not a read-only statement: {changing[0]!r}.", hint="It needs a permit: execute().")
        body = {"ksql": sql, "streamsProperties": properties or {}}
        data = self._request("POST", "/ksql", "statement", timeout=timeout, json=body, headers=_HEADERS, read_only=True)
        return list(data) if isinstance(data, list) else [data]

    def command_status(self, command_id: str) -> dict[str, Any]:
        data: dict[str, Any] = self._request("GET", f"/status/{command_id}", "command status")
        return data

    def close_query(self, query_id: str) -> None:
        self._request("POST", "/close-query", "close query", json={"queryId": query_id}, read_only=True)

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
