"""Fixtures of the guardrail tests: servers on a chosen profile, a server whose gate has a hand-driven clock, and the
audit log's lines."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings

ROOT = Path(__file__).resolve().parents[2]


def read_audit(data_dir: Path) -> list[dict[str, Any]]:
    path = data_dir / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


class FakeClock:
    """A clock the test moves by hand (the gate's token expiry reads it)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@asynccontextmanager
async def client_for(
    settings: Any, *, clock: Callable[[], float] | None = None, **client_kwargs: Any
) -> AsyncIterator[Any]:
    """An in-memory client on a server built from ``settings``; with ``clock``, the gate reads that clock."""
    from mcp import Client

    from core.app import build_app_context
    from mcp_server.server import build_server

    shared = None
    if clock is not None:
        shared = build_app_context(settings, clock=clock)
    try:
        async with Client(build_server(settings, shared=shared), raise_exceptions=False, **client_kwargs) as client:
            yield client
    finally:
        if shared is not None:
            shared.close()


@pytest.fixture
def prod3_settings(kafka3_cluster: ClusterHandle, data_dir: Path) -> Any:
    """The three-broker cluster judged as production."""
    return make_settings(kafka3_cluster.bootstrap_servers, data_dir, profile="production")


@pytest.fixture
def admin3(kafka3_cluster: ClusterHandle) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka3_cluster.bootstrap_servers})


def topic_exists(admin: Any, name: str) -> bool:
    return name in admin.list_topics(timeout=10).topics


def create_topic_directly(
    admin: Any, name: str, *, partitions: int = 1, rf: int = 1, configs: dict[str, str] | None = None
) -> None:
    """Create a topic with a separate admin client, bypassing the server and its policies; returns once the
    metadata shows it (a name deleted just before may still be in deletion: retried for a while)."""
    import time

    from confluent_kafka.admin import NewTopic

    deadline = time.monotonic() + 30
    while True:
        futures = admin.create_topics(
            [NewTopic(name, num_partitions=partitions, replication_factor=rf, config=configs or {})],
            request_timeout=15,
        )
        try:
            futures[name].result(timeout=20)
            break
        except Exception as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.3)
    wait_exists(admin, name)


def wait_exists(admin: Any, name: str) -> bool:
    """Poll the metadata until the topic shows (a new topic reaches every broker's metadata a little later)."""
    import time

    deadline = time.monotonic() + 15
    while not topic_exists(admin, name) and time.monotonic() < deadline:
        time.sleep(0.2)
    return topic_exists(admin, name)


async def wait_gone(admin: Any, name: str) -> bool:
    import anyio

    with anyio.move_on_after(15):
        while topic_exists(admin, name):
            await anyio.sleep(0.2)
    return not topic_exists(admin, name)


def drop_topics(admin: Any, names: list[str]) -> None:
    """Delete test topics and wait for the brokers to accept the deletion (a missing one is fine)."""
    for future in admin.delete_topics(list(names), request_timeout=15).values():
        try:
            future.result(timeout=20)
        except Exception as exc:
            if "UNKNOWN_TOPIC" not in str(exc):
                raise


def server_env(kafka_cluster: ClusterHandle, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAFKA_AGENT_")}
    env.update(
        KAFKA_AGENT_BOOTSTRAP_SERVERS=kafka_cluster.bootstrap_servers,
        KAFKA_AGENT_DATA_DIR=str(data_dir),
        KAFKA_AGENT_TOOLSETS="all",
        **extra,
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def http_server(env: dict[str, str], *args: str) -> Iterator[str]:
    """``kafka-agent serve --transport http`` in a subprocess; yields its /mcp URL once it accepts connections."""
    import time

    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--transport", "http", "--port", str(port), *args],
        env=env,
        cwd=str(ROOT),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, f"server exited: {proc.stderr.read().decode() if proc.stderr else ''}"
            try:
                httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "HTTP server did not start"
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
