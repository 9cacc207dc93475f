"""Fixtures of the console tests: a real ``kafka-agent serve --transport http`` (MCP endpoint and console at /ui) on
the single-broker test cluster, Debian's Chromium driven by Playwright, a logged-in page, and screenshots.

Playwright's own browser download is not used: the tests launch ``/usr/bin/chromium`` (scripts/install installs it).
Screenshots go to ``build/console-screenshots/`` (or ``KAFKA_AGENT_SCREENSHOTS_DIR``).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, unique
from tests.safety.conftest import ROOT, http_server, server_env

CHROMIUM = os.environ.get("KAFKA_AGENT_CHROMIUM", "/usr/bin/chromium")
# What this machine's Chromium needs to start headless as root on a closed network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(os.environ.get("KAFKA_AGENT_SCREENSHOTS_DIR") or ROOT / "build" / "console-screenshots")
PERSON = "Ada Ops"


@dataclass
class Served:
    base: str  # http://127.0.0.1:PORT
    token: str
    data_dir: Path

    @property
    def ui(self) -> str:
        return f"{self.base}/ui"

    @property
    def mcp(self) -> str:
        return f"{self.base}/mcp"


@pytest.fixture(scope="module")
def served(kafka_cluster: ClusterHandle, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The real HTTP server on an ``approve``-mode cluster, sampling lag every second."""
    data_dir = tmp_path_factory.mktemp("console-data")
    token = "console-" + unique("tok")
    env = server_env(
        kafka_cluster,
        data_dir,
        KAFKA_AGENT_HTTP_TOKEN=token,
        KAFKA_AGENT_CONSENT="approve",
        KAFKA_AGENT_CONSOLE_SAMPLE_S="1",
    )
    with http_server(env) as url:
        yield Served(base=url.removesuffix("/mcp"), token=token, data_dir=data_dir)


@pytest.fixture(scope="module")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: run scripts/install (it installs Debian's chromium)")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield browser
        finally:
            await browser.close()


async def log_in(browser: Any, served: Served, *, person: str = PERSON) -> Any:
    """A new browser context, logged in through the form; returns its page."""
    context = await browser.new_context(viewport={"width": 1360, "height": 900})
    # Generous waits: the first overview measures the cluster's health, and CI machines can be busy.
    context.set_default_navigation_timeout(90_000)
    context.set_default_timeout(60_000)
    page = await context.new_page()
    await page.goto(f"{served.ui}/")
    assert page.url.endswith("/ui/login"), page.url
    await page.fill("input[name=name]", person)
    await page.fill("input[name=token]", served.token)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{served.ui}/")
    return page


@pytest.fixture
async def page(browser: Any, served: Served) -> AsyncIterator[Any]:
    page = await log_in(browser, served)
    try:
        yield page
    finally:
        await page.context.close()


async def shot(page: Any, name: str) -> Path:
    """Save the whole page as ``<SHOTS>/<name>.png``."""
    path = SHOTS / f"{name}.png"
    await anyio.Path(SHOTS).mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(path), full_page=True)
    return path


def mcp_client(served: Served) -> Any:
    """An MCP client on the real server's endpoint, with the bearer token (a machine, not a person)."""
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client
    from mcp.shared._httpx_utils import create_mcp_http_client

    transport = streamable_http_client(
        served.mcp, http_client=create_mcp_http_client(headers={"Authorization": f"Bearer {served.token}"})
    )
    return Client(transport, raise_exceptions=False)
