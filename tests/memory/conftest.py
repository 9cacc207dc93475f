"""Memory fixtures: one embedding model per session, a fresh embedded Chroma per test, a clock the test moves."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import make_settings

# Memory tools never reach Kafka; the settings only need a default cluster name.
NO_KAFKA = "127.0.0.1:1"
# A tool's ``cluster`` argument must name a configured cluster (mcp_server.tools._base checks it for every tool), so
# the memory tests' settings configure the clusters their records name. Each test has its own Chroma folder: the
# names need not be unique.
PREFIXES = ("a", "b", "c", "ca", "cb", "none", "big", "small")


def mem_cluster(prefix: str) -> str:
    """The configured cluster name a test uses for ``prefix``."""
    assert prefix in PREFIXES, prefix
    return f"{prefix}-memtest1"


class FakeClock:
    """Injected into the store: time moves only when a test says so."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def embedder() -> Any:
    from memory.embeddings import Embedder

    model = Embedder()
    model.encode(["warm up"])
    return model


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def memory_settings(data_dir: Path) -> Any:
    clusters = data_dir / "clusters.yaml"
    names = ["local", *(mem_cluster(p) for p in PREFIXES)]
    body = "".join(f"  {name}:\n    bootstrap_servers: '{NO_KAFKA}'\n" for name in names)
    clusters.write_text(f"default: local\nclusters:\n{body}", encoding="utf-8")
    return make_settings(NO_KAFKA, data_dir, clusters_file=clusters)


@pytest.fixture
def memory_app(memory_settings: Any, embedder: Any, clock: FakeClock, request: pytest.FixtureRequest) -> Iterator[Any]:
    """An app context whose memory store (real Chroma in a temp folder) uses the shared model and the fake clock.

    Tests marked ``chroma_only`` get a store without the in-process search copy (as with a Chroma server), so
    every search takes Chroma's own path."""
    from core.app import build_app_context
    from memory.store import MemoryStore

    if request.node.get_closest_marker("chroma_only"):
        memory_settings = memory_settings.model_copy(update={"memory_search_cache_rows": 0})
    app = build_app_context(memory_settings)
    store = MemoryStore.from_settings(memory_settings, embedder=embedder, clock=clock)
    app.lazy.get("memory", lambda: store)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
async def memory_client(memory_settings: Any, memory_app: Any) -> AsyncIterator[Any]:
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(memory_settings, shared=memory_app), raise_exceptions=False) as client:
        yield client


@pytest.fixture
def chroma(memory_app: Any) -> Any:
    """Direct Chroma access, to check effects without the memory tools."""
    return memory_app.lazy.peek("memory").client
