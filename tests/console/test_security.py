"""The console's doors, checked over HTTP on the app itself (no browser, no Kafka needed): Host and Origin as the MCP
endpoint checks them, login sessions and their cookie, CSRF on every POST, the bearer token reading but never
deciding, read-only mode refusing decisions, and templates that cannot render anything as HTML or run inline code."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8765"
ORIGIN = {"Origin": BASE}
TOKEN = "people-token-123"
TEMPLATES = Path(__file__).resolve().parents[2] / "console" / "templates"


@asynccontextmanager
async def console_client(tmp_path: Path, **overrides: Any) -> AsyncIterator[tuple[httpx.AsyncClient, Any]]:
    """The console app in process (the sampler off), on a cluster nobody answers at; yields a client and the app
    context (its gate and consent store are the real ones, on SQLite in ``tmp_path``)."""
    from console.app import build_console_app
    from core.app import build_app_context

    settings = make_settings("127.0.0.1:1", tmp_path, consent="approve", **overrides)
    shared = build_app_context(settings, transport="http")
    app = build_console_app(settings, shared, sampler=False)
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
            yield client, shared
    finally:
        shared.close()


def pending_approval(shared: Any, topic: str = "orders") -> str:
    from core.gate import Change, Requester

    change = Change(
        tool="kafka_delete_topic",
        cluster="local",
        action="topic.delete",
        resource_type="topic",
        resources=[topic],
        arguments={"topic": topic},
    )
    record = shared.gate.store.request_approval(
        change, requester=Requester("session:abc", "HTTP session abc"), effect=f"Delete topic {topic!r}", ttl=600
    )
    return str(record.id)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF field in the page"
    return match.group(1)


async def login(client: httpx.AsyncClient, *, token: str | None = TOKEN, name: str = "Ada Ops") -> httpx.Response:
    form = await client.get("/ui/login")
    data = {"csrf_token": csrf_of(form.text), "name": name}
    if token is not None:
        data["token"] = token
    return await client.post("/ui/login", data=data, headers=ORIGIN)


async def test_nothing_without_logging_in(tmp_path: Path) -> None:
    async with console_client(tmp_path, http_token=TOKEN) as (client, _):
        page = await client.get("/ui/approvals")
        assert page.status_code == 303 and page.headers["location"] == "/ui/login"
        htmx = await client.get("/ui/approvals", headers={"HX-Request": "true"})
        assert htmx.status_code == 401 and htmx.headers["hx-redirect"] == "/ui/login"
        assert (await client.post("/ui/approvals/apr-x", data={}, headers=ORIGIN)).status_code == 403
        assert (await client.get("/ui/static/console.css")).status_code == 200  # public: the login page's style
        root = await client.get("/")
        assert root.status_code == 303 and root.headers["location"] == "/ui/login"


async def test_host_and_origin_are_checked_like_the_mcp_endpoint(tmp_path: Path) -> None:
    async with console_client(tmp_path, http_token=TOKEN) as (client, _):
        assert (await client.get("/ui/login", headers={"Host": "evil.example"})).status_code == 421
        assert (await client.get("/ui/login", headers={"Origin": "http://evil.example"})).status_code == 403
        assert (await client.get("/ui/login", headers={"Origin": "http://localhost:3000"})).status_code == 200
        form = await client.get("/ui/login")
        data = {"csrf_token": csrf_of(form.text), "name": "Ada", "token": TOKEN}
        # A write needs an Origin (or Referer) from here.
        assert (await client.post("/ui/login", data=data)).status_code == 403
        assert (await client.post("/ui/login", data=data, headers={"Origin": "http://evil.example"})).status_code == 403
        referer = await client.post("/ui/login", data=data, headers={"Referer": f"{BASE}/ui/login"})
        assert referer.status_code == 303


async def test_login_sets_a_fresh_httponly_strict_cookie_and_logout_ends_it(tmp_path: Path) -> None:
    async with console_client(tmp_path, http_token=TOKEN) as (client, _):
        form = await client.get("/ui/login")
        anon_cookie = form.headers["set-cookie"]
        assert "HttpOnly" in anon_cookie and "SameSite=strict" in anon_cookie and "Path=/ui" in anon_cookie
        anon_id = client.cookies["kafka_agent_console"]
        no_csrf = await client.post("/ui/login", data={"name": "Ada", "token": TOKEN}, headers=ORIGIN)
        assert no_csrf.status_code == 403
        wrong = await client.post(
            "/ui/login", data={"csrf_token": csrf_of(form.text), "name": "Ada", "token": "nope"}, headers=ORIGIN
        )
        assert wrong.status_code == 401 and "Wrong token" in wrong.text
        nameless = await client.post(
            "/ui/login", data={"csrf_token": csrf_of(form.text), "name": " ", "token": TOKEN}, headers=ORIGIN
        )
        assert nameless.status_code == 401 and "Give your name" in nameless.text
        ok = await login(client)
        assert ok.status_code == 303 and "HttpOnly" in ok.headers["set-cookie"]
        assert client.cookies["kafka_agent_console"] != anon_id  # a new session id at login
        home = await client.get("/ui/approvals")
        assert home.status_code == 200 and "Ada Ops" in home.text
        for name, value in (
            ("content-security-policy", "script-src 'self'"),
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
        ):
            assert value in home.headers[name]
        assert home.headers["server-timing"].startswith("app;dur=")
        out = await client.post("/ui/logout", data={"csrf_token": csrf_of(home.text)}, headers=ORIGIN)
        assert out.status_code == 303
        client.cookies.set("kafka_agent_console", anon_id)
        assert (await client.get("/ui/approvals")).status_code == 303


async def test_a_decision_needs_the_csrf_token_and_a_login_session(tmp_path: Path) -> None:
    async with console_client(tmp_path, http_token=TOKEN) as (client, shared):
        approval = pending_approval(shared)
        # The bearer token reads pages, but decides nothing.
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        page = await client.get(f"/ui/approvals/{approval}", headers=bearer)
        assert page.status_code == 200 and "Delete topic" in page.text
        assert (await client.get("/ui/approvals", headers={"Authorization": "Bearer wrong"})).status_code == 401
        as_machine = await client.post(
            f"/ui/approvals/{approval}", data={"action": "approve"}, headers={**bearer, **ORIGIN}
        )
        assert as_machine.status_code == 403
        await login(client)
        page = await client.get(f"/ui/approvals/{approval}")
        csrf = csrf_of(page.text)
        forged = await client.post(
            f"/ui/approvals/{approval}", data={"action": "approve", "csrf_token": "x" * 43}, headers=ORIGIN
        )
        assert forged.status_code == 403
        missing = await client.post(f"/ui/approvals/{approval}", data={"action": "approve"}, headers=ORIGIN)
        assert missing.status_code == 403
        foreign = await client.post(
            f"/ui/approvals/{approval}",
            data={"action": "approve", "csrf_token": csrf},
            headers={"Origin": "http://evil.example"},
        )
        assert foreign.status_code == 403
        assert shared.gate.store.get(approval).status == "pending"
        # The htmx header works as the form field does.
        done = await client.post(
            f"/ui/approvals/{approval}", data={"action": "approve"}, headers={**ORIGIN, "X-CSRF-Token": csrf}
        )
        assert done.status_code == 303
        record = shared.gate.store.get(approval)
        assert record.status == "approved" and record.decided_by == "Ada Ops (console)"
        twice = await client.post(
            f"/ui/approvals/{approval}", data={"action": "deny", "reason": "late", "csrf_token": csrf}, headers=ORIGIN
        )
        assert twice.status_code == 400 and "only pending approvals" in twice.text


async def test_read_only_hides_and_refuses_decisions(tmp_path: Path) -> None:
    async with console_client(tmp_path, http_token=TOKEN, read_only=True) as (client, shared):
        approval = pending_approval(shared)
        await login(client)
        page = await client.get(f"/ui/approvals/{approval}")
        assert page.status_code == 200 and "read-only" in page.text
        assert 'name="action"' not in page.text and "Approve" not in page.text
        csrf = csrf_of(page.text)  # the logout form's: still a valid session token
        refused = await client.post(
            f"/ui/approvals/{approval}", data={"action": "approve", "csrf_token": csrf}, headers=ORIGIN
        )
        assert refused.status_code == 403 and "read-only" in refused.text
        assert shared.gate.store.get(approval).status == "pending"


async def test_without_a_token_only_loopback_logs_in(tmp_path: Path) -> None:
    async with console_client(tmp_path) as (client, _):
        form = await client.get("/ui/login")
        assert 'name="token"' not in form.text
        assert (await login(client, token=None)).status_code == 303
    async with console_client(tmp_path, http_host="0.0.0.0") as (client, _):
        refused = await login(client, token=None)
        assert refused.status_code == 401 and "KAFKA_AGENT_CONSOLE_TOKEN" in refused.text
    async with console_client(tmp_path, http_token=TOKEN, console_token="people-only") as (client, _):
        assert (await login(client, token=TOKEN)).status_code == 401  # the machines' token is not the people's
        assert (await login(client, token="people-only")).status_code == 303


def test_every_post_route_checks_csrf(tmp_path: Path) -> None:
    from starlette.routing import Mount, Route

    from console.app import build_console_app
    from core.app import build_app_context

    settings = make_settings("127.0.0.1:1", tmp_path)
    shared = build_app_context(settings)
    try:
        guarded = build_console_app(settings, shared, sampler=False)
        posts = []

        def walk(routes: list[Any]) -> None:
            for route in routes:
                if isinstance(route, Mount) and route.routes:
                    walk(list(route.routes))
                elif isinstance(route, Route) and "POST" in (route.methods or set()):
                    posts.append(route)

        walk(list(guarded.app.routes))
        assert {r.path for r in posts} == {"/login", "/logout", "/approvals/{approval_id}"}
        for route in posts:
            assert getattr(route.endpoint, "csrf_protected", False), route.path
    finally:
        shared.close()


def test_templates_never_render_html_from_data(tmp_path: Path) -> None:
    from console.app import Console
    from core.app import build_app_context

    for path in sorted(TEMPLATES.glob("*.html")):
        text = path.read_text(encoding="utf-8")
        assert "|safe" not in text.replace(" ", ""), f"{path.name}: |safe"
        assert "autoescape false" not in text, path.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), f"{path.name}: inline script"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{path.name}: inline event handler"
        assert not re.search(r"\sstyle\s*=", text), f"{path.name}: inline style (the CSP forbids it)"
    settings = make_settings("127.0.0.1:1", tmp_path)
    shared = build_app_context(settings)
    try:
        env = Console(settings, shared).env
        shown = env.from_string("<pre>{{ v }}</pre>").render(v='<script>alert(1)</script>"')
        assert shown == "<pre>&lt;script&gt;alert(1)&lt;/script&gt;&#34;</pre>"
    finally:
        shared.close()
