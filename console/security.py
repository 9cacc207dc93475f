"""Who may see the console and how a decision is protected.

- **Host and Origin**, as the MCP endpoint checks them (DNS-rebinding protection): a Host that is not loopback or the
  configured host gets 421, a foreign ``Origin`` 403. A write (any method but GET/HEAD) must also carry an Origin or
  Referer from an allowed origin.
- **Who you are**: a login form takes the console token (``KAFKA_AGENT_CONSOLE_TOKEN``, else
  ``KAFKA_AGENT_HTTP_TOKEN``) and your name, and sets an HttpOnly, SameSite=Strict session cookie; the name is
  recorded with every decision. ``Authorization: Bearer <token>`` reads pages too (scripts), but decides nothing:
  decisions come from a login session only. Without any token configured, the console serves loopback only and the
  form asks just for a name (whoever can reach loopback can run ``kafka-agent approvals`` as well).
- **CSRF**: every POST carries the session's token (a form field, or the ``X-CSRF-Token`` header htmx sends),
  compared in constant time.
- Every response forbids inline scripts (``Content-Security-Policy: script-src 'self'``), framing and sniffing.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request

from core.settings import Settings

SESSION_COOKIE = "kafka_agent_console"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
MAX_SESSIONS = 10_000
LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")

SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        b"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
]


def console_credential(settings: Settings) -> str | None:
    secret = settings.console_token or settings.http_token
    return secret.get_secret_value() if secret is not None else None


def is_loopback(host: str) -> bool:
    return host in LOOPBACK


@dataclass
class Session:
    id: str
    csrf: str
    expires: float
    person: str | None = None  # set by a login; None for the anonymous session of the login form

    @property
    def authenticated(self) -> bool:
        return self.person is not None


class Sessions:
    """Login sessions in memory (a restart logs everyone out); ids and CSRF tokens are 256-bit random."""

    def __init__(self, ttl: float, *, clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock
        self._lock = threading.Lock()
        self._items: dict[str, Session] = {}

    def new(self, person: str | None = None) -> Session:
        now = self.clock()
        ttl = self.ttl if person is not None else min(self.ttl, 3600.0)
        session = Session(
            id=secrets.token_urlsafe(32), csrf=secrets.token_urlsafe(32), expires=now + ttl, person=person
        )
        with self._lock:
            if len(self._items) >= MAX_SESSIONS:
                for sid in [k for k, s in self._items.items() if s.expires < now]:
                    del self._items[sid]
                if len(self._items) >= MAX_SESSIONS:  # still full: the oldest anonymous ones go first
                    anon = sorted((s.expires, k) for k, s in self._items.items() if not s.authenticated)
                    for _, sid in anon[: len(anon) // 2 + 1]:
                        del self._items[sid]
            self._items[session.id] = session
        return session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self._lock:
            session = self._items.get(sid)
            if session is not None and session.expires < self.clock():
                del self._items[sid]
                return None
            return session

    def drop(self, sid: str) -> None:
        with self._lock:
            self._items.pop(sid, None)


def _split_host(host: str) -> tuple[str, str]:
    """``host[:port]`` (``[v6]:port`` too) -> (name, port or '')."""
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1], host[end + 2 :] if end >= 0 else ""
    name, _, port = host.partition(":")
    return name, port


class Origins:
    """The hosts and origins the console answers, the same rule as ``mcp_server.http.transport_security``."""

    def __init__(self, settings: Settings) -> None:
        self.hosts = {"127.0.0.1", "localhost", "[::1]"}
        if not is_loopback(settings.http_host):
            self.hosts.add(settings.http_host)
        self.extra_origins = {o.rstrip("/") for o in settings.http_allowed_origins}

    def host_ok(self, host: str | None) -> bool:
        return bool(host) and _split_host(host or "")[0] in self.hosts

    def origin_ok(self, origin: str, host: str | None) -> bool:
        origin = origin.rstrip("/")
        if origin in self.extra_origins:
            return True
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return False
        name = _split_host(parts.netloc)[0]
        # Loopback origins (any port) as the MCP endpoint allows them, and the page's own origin.
        return name in ("127.0.0.1", "localhost", "[::1]") or (host is not None and parts.netloc == host)


def _reply(
    status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    start = {
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS, *(extra or [])],
    }
    return start, {"type": "http.response.body", "body": text.encode()}


class Guard:
    """ASGI middleware in front of every console route: Host/Origin checks, the session or bearer token, and the
    security headers on every response."""

    def __init__(self, app: Any, *, settings: Settings, sessions: Sessions, prefix: str) -> None:
        self.app = app
        self.sessions = sessions
        self.prefix = prefix
        self.origins = Origins(settings)
        self.credential = console_credential(settings)
        self.public = (f"{prefix}/login", f"{prefix}/static/")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers") or []}

        async def refuse(status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
            start, body = _reply(status, text, extra)
            await send(start)
            await send(body)

        host = headers.get("host")
        if not self.origins.host_ok(host):
            await refuse(421, "Invalid Host header")
            return
        origin = headers.get("origin")
        if origin is not None and not self.origins.origin_ok(origin, host):
            await refuse(403, "Invalid Origin header")
            return
        method = scope.get("method", "GET")
        if method not in ("GET", "HEAD"):
            source = origin or headers.get("referer")
            if not source or not self.origins.origin_ok(_origin_of(source), host):
                await refuse(403, "A change needs an Origin or Referer from this console")
                return

        session = self.sessions.get(_cookie(headers.get("cookie", ""), SESSION_COOKIE))
        bearer = False
        scheme, _, given = headers.get("authorization", "").strip().partition(" ")
        if self.credential is not None and scheme.lower() == "bearer":  # the scheme is case-insensitive (RFC 9110)
            if not hmac.compare_digest(given.strip().encode(), self.credential.encode()):
                await refuse(401, "unauthorized: wrong bearer token", [(b"www-authenticate", b"Bearer")])
                return
            bearer = True
        scope.setdefault("state", {})
        scope["state"]["session"] = session
        scope["state"]["bearer"] = bearer

        path = scope.get("path", "")
        if not (bearer or (session is not None and session.authenticated)) and not path.startswith(self.public):
            if method in ("GET", "HEAD"):
                target = f"{self.prefix}/login"
                if headers.get("hx-request"):
                    await refuse(401, "log in again", [(b"hx-redirect", target.encode())])
                    return
                await refuse(303, "log in first", [(b"location", target.encode())])
                return
            await refuse(403, "log in first")
            return

        async def send_secure(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                # The server's own time for the page (read by bench/console.py and the browser's devtools).
                timing = f"app;dur={(time.perf_counter() - started) * 1000:.1f}".encode()
                extra = [*SECURITY_HEADERS, (b"server-timing", timing)]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_secure)


def _origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def session_of(request: Request) -> Session | None:
    session: Session | None = request.state.session
    return session


async def checked_form(request: Request) -> FormData:
    """The POSTed form, once its CSRF token matches the login session's (constant time); else 403."""
    session = session_of(request)
    form = await request.form()
    given = str(form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER) or "")
    if session is None or not given or not hmac.compare_digest(given.encode(), session.csrf.encode()):
        raise HTTPException(403, "The form's CSRF token is missing or wrong: reload the page and try again.")
    return form


Handler = Callable[[Request], Awaitable[Any]]


def csrf_protected(handler: Callable[[Request, FormData], Awaitable[Any]]) -> Handler:
    """Every POST route is wrapped in this: the handler runs only with a valid CSRF token."""

    async def wrapped(request: Request) -> Any:
        return await handler(request, await checked_form(request))

    wrapped.csrf_protected = True  # type: ignore[attr-defined]
    wrapped.__name__ = handler.__name__
    return wrapped
