"""Streamable HTTP on loopback: Host/Origin validation (DNS-rebinding protection) and an optional bearer token."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

from core.app import AppContext, build_app_context
from core.settings import Settings

log = logging.getLogger("kafka_agent.http")


def bearer_matches(header: bytes, expected: bytes) -> bool:
    """``Authorization: <scheme> <token>``: the scheme is matched case-insensitively (RFC 9110), the token exactly
    and in constant time."""
    scheme, _, token = header.strip().partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), expected)


class BearerTokenMiddleware:
    """Rejects requests without ``Authorization: Bearer <token>``."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.expected = token.encode()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            given = headers.get(b"authorization", b"")
            if not bearer_matches(given, self.expected):
                body = b'{"error": "unauthorized: send Authorization: Bearer <KAFKA_AGENT_HTTP_TOKEN>"}'
                await send(
                    {
                        "type": "http.response.start",
                        "status": 401,
                        "headers": [(b"content-type", b"application/json"), (b"www-authenticate", b"Bearer")],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def transport_security(settings: Settings) -> TransportSecuritySettings:
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", "127.0.0.1", "localhost"]
    if settings.http_host not in ("127.0.0.1", "localhost", "::1"):
        hosts += [settings.http_host, f"{settings.http_host}:*"]
    origins = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*", *settings.http_allowed_origins]
    return TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)


def build_http_app(settings: Settings, shared: AppContext) -> Any:
    from mcp_server.server import build_server

    server = build_server(settings, transport="http", shared=shared)
    app: Any = server.streamable_http_app(transport_security=transport_security(settings), host=settings.http_host)
    if settings.http_token is not None:
        app = BearerTokenMiddleware(app, settings.http_token.get_secret_value())
    # The console for people at /ui: its own login, CSRF and Host/Origin checks (console.security).
    from console.app import build_console_app, mount

    return mount(app, build_console_app(settings, shared))


def serve_http(settings: Settings) -> None:
    import uvicorn

    shared = build_app_context(settings, transport="http")
    app = build_http_app(settings, shared)
    config = uvicorn.Config(app, host=settings.http_host, port=settings.http_port, log_level="warning", lifespan="on")
    log.warning("MCP server on http://%s:%d/mcp, console on /ui/", settings.http_host, settings.http_port)
    try:
        uvicorn.Server(config).run()
    finally:
        shared.close()
