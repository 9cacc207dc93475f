"""Clusters for the platform-as-code tests.

- ``b``: ``pytest-mirror-b`` with its Apicurio registry and Connect worker (the services tests' session fixture,
  reused as is).
- ``g``: ``pytest-gitops``, started here once per session: one broker with the ACL authorizer and a SCRAM listener,
  its own Apicurio registry and Connect worker. It is the empty second cluster of the round trip, and the dev
  cluster of the agent's events pipeline (which needs ACLs).
- ``prod-b``: ``b`` again, seen as a production cluster (policies at their strictest, consent by approval).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REUSE, devcluster_home, make_settings, unique
from tests.services.conftest import ServiceEnv, service_env  # noqa: F401  (the services' session fixture)

CLUSTER_G = "pytest-gitops"


@dataclass
class GitopsEnv:
    services: ServiceEnv
    g_bootstrap: str
    g_sasl_bootstrap: str
    g_registry: str
    g_connect: str
    clusters_file: Path


@pytest.fixture(scope="session")
def gitops_env(service_env: ServiceEnv, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GitopsEnv]:  # noqa: F811
    from devcluster import cluster, services
    from devcluster.jars import stderr_progress

    home = devcluster_home()
    state = cluster.up(home, name=CLUSTER_G, brokers=1, sasl=True, base_port=0, heap="384m")
    state = services.start(home, state, ["schema-registry", "connect"], progress=stderr_progress)
    cluster.save_state(home, state)
    registry = str(state.services["schema-registry"]["url"])
    connect = str(state.services["connect"]["url"])
    path = tmp_path_factory.mktemp("gitops") / "clusters.yaml"
    s = service_env
    path.write_text(
        "default: b\n"
        "clusters:\n"
        f"  b:\n    bootstrap_servers: {s.b_bootstrap}\n"
        f"    schema_registry_url: {s.registry_url}\n    connect_url: {s.connect_url}\n"
        f"  g:\n    bootstrap_servers: {state.bootstrap_servers}\n"
        f"    schema_registry_url: {registry}\n    connect_url: {connect}\n"
        f"  prod-b:\n    bootstrap_servers: {s.b_bootstrap}\n    profile: production\n"
        f"    schema_registry_url: {s.registry_url}\n    connect_url: {s.connect_url}\n",
        encoding="utf-8",
    )
    assert state.sasl_bootstrap_servers
    try:
        yield GitopsEnv(s, state.bootstrap_servers, state.sasl_bootstrap_servers, registry, connect, path)
    finally:
        if not REUSE:
            from cli.devcluster import stop_cluster  # its stream runners too (the agent deploys one)

            stop_cluster(home, name=CLUSTER_G, purge=True)


@pytest.fixture
def settings(gitops_env: GitopsEnv, data_dir: Path) -> Any:
    return make_settings(gitops_env.services.b_bootstrap, data_dir, clusters_file=gitops_env.clusters_file)


@pytest.fixture
def app(settings: Any) -> Iterator[Any]:
    from core.app import build_app_context

    ctx = build_app_context(settings, transport="cli")
    try:
        yield ctx
    finally:
        ctx.close()


@pytest.fixture
def prefix() -> str:
    """A managed prefix of its own for each test (topics, subjects, connectors, users, apps share it)."""
    return unique("pac").replace("-", "") + "-"


@pytest.fixture
def admin_of(gitops_env: GitopsEnv) -> Callable[[str], Any]:
    """A separate admin client per cluster (b or g), to check effects without our code."""
    from confluent_kafka.admin import AdminClient

    made: dict[str, Any] = {}

    def get(name: str) -> Any:
        if name not in made:
            boot = gitops_env.g_bootstrap if name == "g" else gitops_env.services.b_bootstrap
            made[name] = AdminClient({"bootstrap.servers": boot})
        return made[name]

    return get


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A Git work tree for platform files."""
    folder = tmp_path / "repo"
    folder.mkdir()
    git(folder, "init", "-q", "-b", "main")
    git(folder, "config", "user.email", "ops@example.invalid")
    git(folder, "config", "user.name", "Ops Person")
    return folder


def git(folder: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture
def cli(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Callable[..., tuple[int, str, str]]:
    """``kafka-agent <args>`` in process, on the test's settings: (exit code, stdout, stderr)."""
    import contextlib
    import io

    from cli import main

    monkeypatch.setenv("KAFKA_AGENT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("KAFKA_AGENT_CLUSTERS_FILE", str(settings.clusters_file))

    def call(*args: str) -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(list(args))
        return code, out.getvalue(), err.getvalue()

    return call
