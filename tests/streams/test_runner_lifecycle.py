"""Runner lifecycle outside the tools: reattach from disk, the CLI, and dev-cluster down stopping runners."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from streams.manager import StreamsManager, pid_alive, stop_for_cluster
from tests.conftest import ClusterHandle, unique
from tests.helpers import structured
from tests.streams.conftest import REPO
from tests.streams.helpers import create_topic, produce, read_until

pytestmark = pytest.mark.anyio


def kafka_agent(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real CLI in a child process, on the test's data folder."""
    env = {"KAFKA_AGENT_DATA_DIR": str(data_dir), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "cli", *args]
    return subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=60, cwd=REPO)


async def test_reattach_cli_and_stop_for_cluster(
    streams_client: Any, stream_settings: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    source, sink, name = unique("life-in"), unique("life-out"), unique("life")
    create_topic(admin, source)
    spec = {
        "name": name,
        "source": {"topic": source},
        "steps": [
            {"op": "filter", "expr": "value.n % 2 == 0"},
            {"op": "select", "fields": {"n": "value.n", "double": "value.n * 2"}},
        ],
        "sink": {"topic": sink},
    }
    deployed = structured(await streams_client.call_tool("kafka_stream_deploy", {"spec": spec}))
    pid = deployed["application"]["pid"]
    produce(kafka_cluster.bootstrap_servers, source, [(f"k{i}", {"n": i}, 0) for i in range(10)])
    out = read_until(kafka_cluster.bootstrap_servers, sink, lambda r: len(r) >= 5)
    assert sorted(v["n"] for _, v in out) == [0, 2, 4, 6, 8]
    assert all(v["double"] == 2 * v["n"] for _, v in out)

    # a new manager (as after a server restart) finds the runner from disk and talks to it
    fresh = StreamsManager(stream_settings)
    assert fresh.get(name).pid == pid
    assert fresh.call(name, "/health")["state"] == "RUNNING"
    assert fresh.call(name, "/metrics")["records_in"] == 10

    cli = kafka_agent(stream_settings.data_dir, "streams", "list")
    assert cli.returncode == 0, cli.stderr
    assert name in cli.stdout and "RUNNING" in cli.stdout
    logs = kafka_agent(stream_settings.data_dir, "streams", "logs", name, "-n", "200")
    assert f"runner {name} started" in logs.stdout

    # what dev-cluster down calls: runners of that cluster stop, the record says so
    assert stop_for_cluster("127.0.0.1:1") == 0
    assert pid_alive(pid)
    assert stop_for_cluster(kafka_cluster.bootstrap_servers) >= 1
    assert not pid_alive(pid)
    record = fresh.get(name)
    assert record.status == "stopped" and record.exit_note == "stopped by dev-cluster down"
