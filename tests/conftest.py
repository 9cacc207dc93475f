"""Shared fixtures: real local Kafka clusters from our own dev-cluster code, settings, MCP clients.

- ``kafka_cluster``: one broker (session). ``kafka3_cluster``: three brokers, RF 3 / min ISR 2 (session).
  ``sasl_cluster``: one broker with a SCRAM listener and the ACL authorizer (session).
- ``KAFKA_BOOTSTRAP_SERVERS`` brings your own single-broker cluster instead of starting one.
- ``KAFKA_AGENT_TEST_REUSE=1`` keeps the test clusters running between pytest runs (fast local iteration);
  without it they are stopped and purged at the end of the session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REUSE = os.environ.get("KAFKA_AGENT_TEST_REUSE") == "1"
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1" under `pytest -n 2` (scripts/check), else ""

# Session fixtures every worker may start its own copy of (under a per-worker name). Any other session or package
# fixture is set up in one worker only: the modules that use it run together (see pytest_collection_modifyitems).
PER_WORKER_FIXTURES = frozenset({"kafka_cluster", "anyio_backend"})


@dataclass
class ClusterHandle:
    """A running cluster for tests: where it is, and (when we started it) how to reach its nodes."""

    name: str
    bootstrap_servers: str
    home: Path | None = None
    sasl_bootstrap_servers: str | None = None
    admin_user: str | None = None
    admin_password: str | None = None

    def state(self) -> Any:
        from devcluster.cluster import load_state

        assert self.home is not None, "this cluster was not started by the tests"
        return load_state(self.home, self.name)


def devcluster_home() -> Path:
    from core.settings import Settings

    return Settings().resolved_devcluster_home()


def worker_name(name: str) -> str:
    """``name`` for this pytest worker: ``pytest-single-gw1`` under xdist, ``pytest-single`` without it."""
    return f"{name}-{WORKER}" if WORKER else name


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> Iterator[None]:
    """Under ``pytest -n N --dist loadgroup``: one work unit per set of modules that share a session fixture.

    A module is never split (its module fixtures are set up once); modules that share a session or package
    fixture outside PER_WORKER_FIXTURES (a cluster with services, the chaos cluster, the runner jar, the embedding
    model) form one unit, so that fixture starts in one worker only. The heaviest units go first (by what they start
    and by their tests' timeouts, a proxy for their length), so the workers finish close together.
    """
    if WORKER:
        _group_by_shared_fixtures(items)
    return (yield)  # then xdist reads the groups


def _group_by_shared_fixtures(items: list[pytest.Item]) -> None:
    parent: dict[str, str] = {}

    def find(key: str) -> str:
        while parent.setdefault(key, key) != key:
            key = parent[key]
        return key

    module_of = {item: item.nodeid.split("::", 1)[0] for item in items}
    for item in items:
        info = item._fixtureinfo if isinstance(item, pytest.Function) else None
        for name, defs in info.name2fixturedefs.items() if info else ():
            ours = getattr(defs[-1].func, "__module__", "").startswith("tests")  # not pytest's tmp_path_factory
            if ours and name not in PER_WORKER_FIXTURES and defs[-1].scope in ("session", "package"):
                parent[find(module_of[item])] = find("fixture:" + name)
    units: dict[str, list[pytest.Item]] = {}
    for item in items:
        units.setdefault(find(module_of[item]), []).append(item)
    weight = dict.fromkeys(units, 0.0)
    for key in parent:  # a cluster, a service or a model to start
        if key.startswith("fixture:"):
            weight[find(key)] += 20.0
    for unit, members in units.items():
        for item in members:  # a test marked with a long timeout is a long test
            mark = item.get_closest_marker("timeout")
            weight[unit] += max(1.0, float(mark.args[0]) / 60) if mark and mark.args else 1.0
    order = sorted(units, key=lambda unit: (-weight[unit], unit))
    items[:] = [item for unit in order for item in units[unit]]
    for unit in order:
        for item in units[unit]:
            item.add_marker(pytest.mark.xdist_group(unit))


def _start(name: str, *, brokers: int, sasl: bool) -> ClusterHandle:
    from devcluster.cluster import up

    home = devcluster_home()
    name = worker_name(name)
    state = up(home, name=name, brokers=brokers, sasl=sasl, base_port=0, heap="384m")
    return ClusterHandle(
        name=name,
        bootstrap_servers=state.bootstrap_servers,
        home=home,
        sasl_bootstrap_servers=state.sasl_bootstrap_servers,
        admin_user=state.admin_user,
        admin_password=state.admin_password,
    )


def _stop(cluster: ClusterHandle) -> None:
    if REUSE or cluster.home is None:
        return
    from cli.devcluster import stop_cluster

    stop_cluster(cluster.home, name=cluster.name, purge=True)


@pytest.fixture(scope="session")
def kafka_cluster() -> Iterator[ClusterHandle]:
    own = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if own:
        yield ClusterHandle(name="external", bootstrap_servers=own)
        return
    cluster = _start("pytest-single", brokers=1, sasl=False)
    try:
        yield cluster
    finally:
        _stop(cluster)


@pytest.fixture(scope="session")
def kafka3_cluster() -> Iterator[ClusterHandle]:
    cluster = _start("pytest-three", brokers=3, sasl=False)
    try:
        yield cluster
    finally:
        _stop(cluster)


@pytest.fixture(scope="session")
def sasl_cluster() -> Iterator[ClusterHandle]:
    cluster = _start("pytest-sasl", brokers=1, sasl=True)
    try:
        yield cluster
    finally:
        _stop(cluster)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


def make_settings(bootstrap_servers: str, data_dir: Path, **overrides: Any) -> Any:
    """Settings for a test server; every tool is offered (toolsets="all") unless a test chooses a selection."""
    from core.settings import Settings

    overrides.setdefault("toolsets", "all")
    return Settings(bootstrap_servers=bootstrap_servers, data_dir=data_dir, **overrides)


@pytest.fixture
def fake_llm() -> Iterator[Any]:
    """The scripted fake of the Anthropic Messages API on loopback (tests/agent/fake_anthropic.py), for any test that
    runs the agent: the real ``anthropic`` SDK talks to it through ``anthropic_base_url``."""
    from tests.agent.fake_anthropic import FakeAnthropic

    fake = FakeAnthropic()
    fake.start()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def settings(kafka_cluster: ClusterHandle, data_dir: Path) -> Any:
    return make_settings(kafka_cluster.bootstrap_servers, data_dir)


@pytest.fixture
async def mcp_client(settings: Any) -> AsyncIterator[Any]:
    """An in-memory MCP client connected to a server built on ``settings``."""
    from mcp import Client

    from mcp_server.server import build_server

    async with Client(build_server(settings), raise_exceptions=False) as client:
        yield client


@pytest.fixture
def admin(kafka_cluster: ClusterHandle) -> Any:
    """A separate admin client, to check effects without going through the tool under test."""
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": kafka_cluster.bootstrap_servers})


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@pytest.fixture
def topic_name() -> str:
    return unique("topic")
