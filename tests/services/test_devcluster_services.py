"""The dev-cluster's services: recorded in the cluster state, shown by `status`, unknown names refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import devcluster_home
from tests.services.conftest import CLUSTER_B, ServiceEnv


def test_status_shows_running_services(service_env: ServiceEnv, capsys: Any) -> None:
    import cli

    assert cli.main(["dev-cluster", "status", "--name", CLUSTER_B, "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    services = status["services"]
    assert services["schema-registry"]["url"] == service_env.registry_url
    assert services["connect"]["url"] == service_env.connect_url
    from core.procs import pid_alive

    assert all(pid_alive(int(s["pid"])) for s in services.values())


def test_unknown_service_is_refused(service_env: ServiceEnv) -> None:
    from devcluster import services
    from devcluster.cluster import DevClusterError, load_state

    state = load_state(devcluster_home(), CLUSTER_B)
    assert state is not None
    with pytest.raises(DevClusterError, match=r"Unknown service.*ksqldb.*Known: schema-registry, connect"):
        services.start(devcluster_home(), state, ["ksqldb"], progress=lambda _: None)


def test_start_is_idempotent(service_env: ServiceEnv) -> None:
    from devcluster import services
    from devcluster.cluster import load_state

    home = devcluster_home()
    state = load_state(home, CLUSTER_B)
    assert state is not None
    before = {k: v["pid"] for k, v in state.services.items()}
    messages: list[str] = []
    state = services.start(home, state, ["schema-registry", "connect"], progress=messages.append)
    assert {k: v["pid"] for k, v in state.services.items()} == before
    assert all("already running" in m for m in messages)
