"""Server mode: two agents (two servers, two stores) share one memory through a real Chroma server process."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_settings, unique
from tests.helpers import assert_tool_error, structured
from tests.memory.conftest import NO_KAFKA

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class ChromaServer:
    url: str
    proc: subprocess.Popen[bytes]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[ChromaServer]:
    port = _free_port()
    chroma = Path(sys.executable).parent / "chroma"
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen(
        [str(chroma), "run", "--path", str(tmp_path / "chroma"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            assert proc.poll() is None, (tmp_path / "chroma.log").read_text()
            time.sleep(0.1)
        server = ChromaServer(url, proc)
        yield server
    finally:
        ChromaServer(url, proc).stop()
        log.close()


@contextlib.asynccontextmanager
async def _agent(settings: Any, embedder: Any) -> Any:
    from mcp import Client

    from core.app import build_app_context
    from mcp_server.server import build_server
    from memory.store import MemoryStore

    app = build_app_context(settings)
    app.lazy.get("memory", lambda: MemoryStore.from_settings(settings, embedder=embedder))
    try:
        async with Client(build_server(settings, shared=app), raise_exceptions=False) as client:
            yield client
    finally:
        app.close()


async def test_two_agents_share_memory_through_a_chroma_server(
    chroma_server: ChromaServer, embedder: Any, tmp_path: Path
) -> None:
    c = unique("c")
    key = f"kafka-streaming-agent/{c}/performance-tuning"
    first = make_settings(NO_KAFKA, tmp_path / "one", chroma_url=chroma_server.url)
    second = make_settings(NO_KAFKA, tmp_path / "two", chroma_url=chroma_server.url)
    async with _agent(first, embedder) as one, _agent(second, embedder) as two:
        text = "Raising num.replica.fetchers to 4 stopped the nightly ISR shrinks on the payments cluster."
        stored = structured(await one.call_tool("memory_store", {"text": text, "metadata": {"key": key}}))
        assert stored["stored"][0]["action"] == "created"
        hits = structured(await two.call_tool("vector_search", {"query": "replicas fall out of sync at night"}))
        assert hits["hits"][0]["record"]["key"] == key and hits["hits"][0]["record"]["text"] == text
        again = structured(await two.call_tool("memory_store", {"text": text, "metadata": {"key": key}}))
        assert again["stored"][0]["action"] == "unchanged"
        # The server goes away mid-session: a clear error, and the MCP server keeps serving.
        chroma_server.stop()
        assert_tool_error(await one.call_tool("vector_search", {"query": "isr"}), "did not answer", "chroma run")
        assert (await one.list_tools()).tools
    assert not (tmp_path / "one" / "memory").exists(), "server mode must not create an embedded store"


async def test_unreachable_chroma_server_is_a_clear_error(tmp_path: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings(NO_KAFKA, tmp_path, chroma_url=f"http://127.0.0.1:{_free_port()}")
    async with Client(build_server(settings), raise_exceptions=False) as client:
        assert_tool_error(await client.call_tool("memory_list", {}), "did not answer", "chroma run")
        assert_tool_error(await client.call_tool("memory_list", {}), "did not answer")
