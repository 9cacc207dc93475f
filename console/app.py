"""The console's Starlette app: pages under ``/ui`` and the dispatcher that mounts them beside the MCP endpoint.

``build_console_app(settings, app_context)`` makes the app; ``mount(mcp_app, console_app)`` sends ``/ui`` to the
console and everything else (the MCP endpoint, the lifespan) to the MCP app.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import jinja2
from starlette.applications import Starlette
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from console import views
from console.pages import is_fragment, page_routes
from console.readers import AuditReader, RunIndex
from console.sampler import LagSampler
from console.security import (
    CSRF_FIELD,
    SESSION_COOKIE,
    Guard,
    Sessions,
    console_credential,
    csrf_protected,
    is_loopback,
    session_of,
)
from core.app import AppContext
from core.errors import InvalidArgument, KafkaAgentError, NotFound, Refused, Unreachable
from core.settings import Settings

log = logging.getLogger("kafka_agent.console")

HERE = Path(__file__).parent
PREFIX = "/ui"
MAX_NAME = 80
WRONG_TOKEN = "Wrong token."
WRONG_TOKEN_DELAY_S = 0.5


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def _when_ms(ms: int | None) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%fZ")[:-4] + "Z" if ms else "-"


def _duration_ms(ms: int | float | None) -> str:
    if ms is None:
        return "-"
    seconds = ms / 1000
    if seconds < 1:
        return f"{int(ms)} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _number(value: int | float | None) -> str:
    return "-" if value is None else f"{value:,}".replace(",", "\u202f")


class Console:
    """What the routes share: settings, the app context (clients, gate), the sampler, sessions, readers."""

    def __init__(self, settings: Settings, app: AppContext, *, prefix: str = PREFIX) -> None:
        self.settings = settings
        self.app = app
        self.prefix = prefix
        self.sampler: LagSampler = app.lazy.get(
            "console.sampler", lambda: LagSampler(app, interval=settings.console_sample_s)
        )
        self.sessions = Sessions(settings.console_session_ttl_s)
        self.audit = AuditReader(settings.resolved_audit_log())
        self.runs = RunIndex(settings.data_dir)
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,  # every template, every value: record contents are never HTML
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        env.filters.update(when=_when, when_ms=_when_ms, duration_ms=_duration_ms, number=_number, ago=views.ago)
        env.globals.update(shown_value=views.shown_value, UNTRUSTED=views.UNTRUSTED)
        self.env = env

    # --- rendering ------------------------------------------------------------------------------------------------

    def render(self, request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
        session = session_of(request)
        base = {
            "prefix": self.prefix,
            "person": session.person if session is not None else None,
            "csrf": session.csrf if session is not None else "",
            "csrf_field": CSRF_FIELD,
            "read_only": self.settings.read_only,
            "clusters": list(self.settings.clusters()),
            "cluster": context.get("cluster"),
            "nav": context.get("nav", ""),
            "request_path": request.url.path,
        }
        html = self.env.get_template(template).render({**base, **context})
        return HTMLResponse(html, status_code=status, headers={"cache-control": "no-store"})

    def error(self, request: Request, exc: Exception) -> HTMLResponse:
        # An htmx request swaps the answer into a part of the page: it gets the message alone, not a whole page.
        page = "error_fragment.html" if is_fragment(request) else "error.html"
        if isinstance(exc, HTTPException):
            return self.render(request, page, exc.status_code, message=str(exc.detail), hint=None)
        if isinstance(exc, KafkaAgentError):
            status = 500
            if isinstance(exc, NotFound):
                status = 404
            elif isinstance(exc, InvalidArgument):
                status = 400
            elif isinstance(exc, Refused):
                status = 403
            elif isinstance(exc, Unreachable):
                status = 502
            return self.render(request, page, status, message=exc.message, hint=exc.hint)
        log.exception("console page failed")
        return self.render(
            request, page, 500, message=f"The page failed: {type(exc).__name__}.", hint="See the server log."
        )

    async def run(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        return await self.app.run(fn, *args, **kwargs)

    def cluster(self, request: Request) -> str:
        return views.require_cluster(self.app, request.path_params["cluster"])


def build_console_app(settings: Settings, app: AppContext, *, prefix: str = PREFIX, sampler: bool = True) -> Any:
    """The console as an ASGI app whose pages live under ``prefix`` (and ``/`` redirects there)."""
    con = Console(settings, app, prefix=prefix)
    if sampler:
        con.sampler.start()

    def handler(fn: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        async def wrapped(request: Request) -> Response:
            try:
                return await fn(request)
            except Exception as exc:
                return con.error(request, exc)

        wrapped.__name__ = fn.__name__
        for attr in ("csrf_protected",):
            if hasattr(fn, attr):
                setattr(wrapped, attr, getattr(fn, attr))
        return wrapped

    # --- login ----------------------------------------------------------------------------------------------------

    def set_cookie(request: Request, response: Response, sid: str) -> None:
        response.set_cookie(
            SESSION_COOKIE,
            sid,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            path=prefix,
            max_age=int(settings.console_session_ttl_s),
        )

    needs_token = console_credential(settings) is not None
    open_login = not needs_token and is_loopback(settings.http_host)

    async def login_form(request: Request) -> Response:
        session = session_of(request)
        fresh = session is None
        if session is None:
            session = con.sessions.new()
            request.state.session = session
        response = con.render(
            request, "login.html", needs_token=needs_token, open_login=open_login, error=None, name=""
        )
        if fresh:
            set_cookie(request, response, session.id)
        return response

    async def login(request: Request, form: FormData) -> Response:
        import hmac

        name = " ".join(str(form.get("name") or "").split())[:MAX_NAME]
        given = str(form.get("token") or "")
        error = None
        credential = console_credential(settings)
        if not name:
            error = "Give your name: it is recorded with every decision you make here."
        elif credential is None and not open_login:
            error = (
                "This console listens beyond loopback without a token: set KAFKA_AGENT_CONSOLE_TOKEN (or "
                "KAFKA_AGENT_HTTP_TOKEN) and restart it."
            )
        elif credential is not None and not hmac.compare_digest(given.encode(), credential.encode()):
            error = WRONG_TOKEN
        if error is not None:
            if error == WRONG_TOKEN:
                await anyio.sleep(WRONG_TOKEN_DELAY_S)  # guessing the token gets slow
            return con.render(
                request, "login.html", 401, needs_token=needs_token, open_login=open_login, error=error, name=name
            )
        old = session_of(request)
        if old is not None:
            con.sessions.drop(old.id)  # a fresh id at login: no session fixation
        session = con.sessions.new(person=name)
        response = RedirectResponse(f"{prefix}/", status_code=303)
        set_cookie(request, response, session.id)
        return response

    async def logout(request: Request, form: FormData) -> Response:
        session = session_of(request)
        if session is not None:
            con.sessions.drop(session.id)
        response = RedirectResponse(f"{prefix}/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path=prefix)
        return response

    async def root(request: Request) -> Response:
        return RedirectResponse(f"{prefix}/", status_code=307)

    login_post = csrf_protected(login)
    routes = [
        *page_routes(con, handler),
        Route("/login", handler(login_form), methods=["GET"]),
        Route("/login", handler(login_post), methods=["POST"]),
        Route("/logout", handler(csrf_protected(logout)), methods=["POST"]),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    inner = Starlette(routes=[Mount(prefix, routes=routes), Route("/", root)])

    async def not_found(request: Request, exc: Exception) -> Response:
        return con.error(request, exc)

    inner.add_exception_handler(HTTPException, not_found)
    guarded = Guard(inner, settings=settings, sessions=con.sessions, prefix=prefix)
    guarded.console = con  # type: ignore[attr-defined]
    return guarded


def mount(mcp_app: Any, console_app: Any, *, prefix: str = PREFIX) -> Any:
    """One ASGI app: ``prefix`` and below to the console, everything else (and the lifespan) to the MCP app."""

    async def dispatch(scope: dict[str, Any], receive: Any, send: Any) -> None:
        path = scope.get("path", "")
        if scope["type"] == "http" and (path == prefix or path.startswith(prefix + "/")):
            await console_app(scope, receive, send)
            return
        await mcp_app(scope, receive, send)

    return dispatch


def serve_console(settings: Settings) -> None:
    """``kafka-agent console``: the pages alone, on the HTTP host and port, until interrupted."""
    import uvicorn

    from core.app import build_app_context

    shared = build_app_context(settings, transport="console")
    app = build_console_app(settings, shared)
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="warning", lifespan="off")
    log.warning("console on http://%s:%d%s/", settings.http_host, settings.http_port, PREFIX)
    try:
        uvicorn.Server(config).run()
    finally:
        shared.close()
