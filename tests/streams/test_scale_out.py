"""Kafka Streams' own scale-out: two runner instances of one application share its partitions, answer interactive
queries for each other's keys, and when one is lost (its JVM and supervisor killed, as a machine would be) the other
takes its partitions over and the counts stay exact. Runner heap and stream threads come from the settings."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from streams.manager import pid_alive
from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import structured
from tests.streams.conftest import stop_runners
from tests.streams.helpers import create_topic, produce

pytestmark = pytest.mark.anyio


@pytest.fixture
async def scaled_client(kafka_cluster: ClusterHandle, data_dir: Path, runner_built: None) -> Any:
    from mcp import Client

    from mcp_server.server import build_server

    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir, streams_heap="192m", streams_threads=2)
    try:
        async with Client(build_server(settings), raise_exceptions=False) as client:
            yield client
    finally:
        stop_runners(settings)


async def counts_by_key(client: Any, name: str) -> dict[str, int]:
    rows = structured(await client.call_tool("kafka_stream_query", {"name": name}))["rows"]
    return {r["user_id"]: r["count"] for r in rows}


async def wait_counts(client: Any, name: str, expected: dict[str, int], *, wait_s: float = 120) -> dict[str, int]:
    deadline = time.monotonic() + wait_s
    got: dict[str, int] = {}
    while time.monotonic() < deadline:
        result = await client.call_tool("kafka_stream_query", {"name": name})
        if not result.is_error:
            got = {r["user_id"]: r["count"] for r in structured(result)["rows"]}
            if got == expected:
                return got
        await asyncio.sleep(1)
    return got


async def test_two_instances_share_the_work_and_one_takes_over(
    scaled_client: Any, kafka_cluster: ClusterHandle, admin: Any
) -> None:
    source, sink, name = unique("scale-in"), unique("scale-out"), unique("scale")
    create_topic(admin, source, partitions=4)
    spec = {
        "name": name,
        "source": {"topic": source},
        "aggregate": {"group_by": "value.user_id", "key_field": "user_id"},
        "sink": {"topic": sink},
    }
    deployed = structured(await scaled_client.call_tool("kafka_stream_deploy", {"spec": spec, "instances": 2}))
    app = deployed["application"]
    assert [i["status"] for i in app["instances"]] == ["running", "running"]
    first, second = app["instances"]
    cmdline = await asyncio.to_thread(Path(f"/proc/{first['pid']}/cmdline").read_bytes)
    cmdline = cmdline.split(b"\0")
    assert b"-Xmx192m" in cmdline
    assert "num.stream.threads=2" in await asyncio.to_thread((Path(app["app_dir"]) / "client.properties").read_text)

    # both instances hold partitions (the group rebalances as the second joins)
    health: dict[str, Any] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        health = structured(await scaled_client.call_tool("kafka_stream_status", {"name": name}))["health"] or {}
        owners = [i for i in health.get("instances", []) if not i.endswith("(0 partition(s))")]
        if len(owners) == 2 and health.get("state") == "RUNNING":
            break
        await asyncio.sleep(1)
    assert len(health["instances"]) == 2 and health["threads"] == 2, health

    events = [(f"e{i}", {"user_id": f"user-{i % 9}"}, 0) for i in range(900)]
    produce(kafka_cluster.bootstrap_servers, source, events)
    expected = Counter(v["user_id"] for _, v, _ in events)
    # the interactive query gathers every key, wherever its partition lives
    assert await wait_counts(scaled_client, name, dict(expected)) == dict(expected)
    one = structured(await scaled_client.call_tool("kafka_stream_query", {"name": name, "key": "user-4"}))["rows"]
    assert [(r["user_id"], r["count"]) for r in one] == [("user-4", expected["user-4"])]

    # lose the second instance as a machine would be lost: supervisor and JVM killed, no clean leave
    os.kill(second["supervisor_pid"], signal.SIGKILL)
    os.kill(second["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 30
    while pid_alive(second["pid"]) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    more = [(f"f{i}", {"user_id": f"user-{i % 9}"}, 0) for i in range(450)]
    produce(kafka_cluster.bootstrap_servers, source, more)
    expected.update(v["user_id"] for _, v, _ in more)
    # after the session timeout the survivor owns every partition and counts exactly what was produced
    assert await wait_counts(scaled_client, name, dict(expected), wait_s=180) == dict(expected)
    status = structured(await scaled_client.call_tool("kafka_stream_status", {"name": name}))
    assert status["application"]["status"] == "running"
    assert [i["status"] for i in status["application"]["instances"]] == ["running", "failed"]
    assert any("Instance(s) [1] failed" in w for w in status["warnings"])
