"""Health tells the truth during a broker failure: ten trials on the ``pytest-chaos`` cluster, each SIGKILLs a random
killable broker while one MCP session stays open, asks kafka_cluster_health 2, 5 and 10 seconds later, and then
restarts the broker and waits until health reports the recovery.

Every answer must name the dead broker (as down, with why) and none may say "healthy"; no answer may fail (a partial
answer lists what it could not see instead). The answer times are printed for the README's figures, not asserted.
"""

from __future__ import annotations

import random
import time
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, unique
from tests.health.conftest import CHAOS, KILLABLE, wait_brokers
from tests.helpers import structured

pytestmark = [pytest.mark.anyio, pytest.mark.timeout(900)]

TRIALS = 10
ASK_AT = (2.0, 5.0, 10.0)


def _create_rf3(admin: Any, topic: str) -> None:
    from confluent_kafka.admin import NewTopic

    assignment = [[1, 2, 3], [2, 3, 1], [3, 1, 2], [1, 3, 2], [2, 1, 3], [3, 2, 1]]
    new = NewTopic(topic, num_partitions=6, replica_assignment=assignment, config={"min.insync.replicas": "2"})
    for fut in admin.create_topics([new]).values():
        fut.result(30)


async def _health(client: Any) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    result = await client.call_tool("kafka_cluster_health", {})
    return structured(result), time.monotonic() - started


def _names_dead(health: dict[str, Any], dead: int) -> bool:
    broker = {b["id"]: b for b in health["brokers"]}.get(dead)
    named = any(r["check"] == "brokers" and str(dead) in r["message"] for r in health["reasons"])
    return broker is not None and broker["up"] is False and bool(broker["why_down"]) and named


async def test_health_names_a_killed_broker_within_seconds_ten_times(
    chaos_cluster: ClusterHandle, chaos_client: Any, chaos_admin: Any
) -> None:
    from devcluster.cluster import start_node, stop_node

    assert chaos_cluster.home is not None
    topic = unique("chaos")
    _create_rf3(chaos_admin, topic)
    rng = random.Random(20261130)
    timings: list[float] = []
    recoveries: list[float] = []
    first, _ = await _health(chaos_client)  # the session learns the brokers while all are up
    assert {b["id"] for b in first["brokers"] if b["up"]} == {1, 2, 3}
    for trial in range(TRIALS):
        dead = rng.choice(KILLABLE)
        stop_node(chaos_cluster.home, CHAOS, dead, hard=True)
        killed_at = time.monotonic()
        try:
            for at in ASK_AT:
                await anyio.sleep(max(0.0, killed_at + at - time.monotonic()))
                health, took = await _health(chaos_client)
                timings.append(took)
                assert health["verdict"] != "healthy", (trial, at, health["reasons"])
                assert _names_dead(health, dead), (trial, at, dead, health["brokers"], health["reasons"])
                fixes = [r["fix"] for r in health["reasons"] if r["check"] == "brokers"]
                assert fixes and "Restart" in fixes[0]
        finally:
            start_node(chaos_cluster.home, CHAOS, dead, heap="384m")
        restarted = time.monotonic()
        with anyio.fail_after(120):
            while True:
                health, _ = await _health(chaos_client)
                up = {b["id"]: b["up"] for b in health["brokers"]}
                if up.get(dead) and not any(r["check"] == "brokers" for r in health["reasons"]):
                    break
                await anyio.sleep(1.0)
        recoveries.append(time.monotonic() - restarted)
    wait_brokers(chaos_cluster.bootstrap_servers, 3)
    # In the end every replica is back in sync, and the verdict says what is left to do (a preferred election).
    with anyio.fail_after(120):
        while True:
            health, _ = await _health(chaos_client)
            if health["metrics"]["under_replicated_partitions"] == 0:
                break
            await anyio.sleep(1.0)
    for reason in health["reasons"]:
        if reason["check"] == "leader_imbalance":
            assert "kafka_elect_leaders" in reason["fix"]
    print(
        f"\nchaos: {TRIALS} trials, health answered in {min(timings):.2f}-{max(timings):.2f} s "
        f"(median {sorted(timings)[len(timings) // 2]:.2f} s); recovery reported "
        f"{min(recoveries):.1f}-{max(recoveries):.1f} s after the restart"
    )


async def test_an_unreachable_cluster_fails_fast_and_clearly(data_dir: Any) -> None:
    """A refused connection is known at once: every tool answers in about a second, naming the address and why,
    and the health check answers with a critical verdict instead of an error."""
    from mcp import Client

    from mcp_server.server import build_server
    from tests.conftest import make_settings

    settings = make_settings("127.0.0.1:1", data_dir)
    async with Client(build_server(settings), raise_exceptions=False) as client:
        for tool in ("kafka_list_topics", "kafka_describe_cluster", "kafka_consumer_lag"):
            started = time.monotonic()
            result = await client.call_tool(tool, {})
            took = time.monotonic() - started
            text = "".join(getattr(c, "text", "") for c in result.content)
            assert result.is_error and "127.0.0.1:1" in text and "connection refused" in text, text
            assert "Timed out" not in text and "unexpectedly" not in text
            print(f"{tool}: {took:.2f} s")
        health, took = await _health(client)
        assert health["verdict"] == "critical"
        assert any(r["check"] == "metadata" and "no broker address accepts" in r["message"] for r in health["reasons"])
        print(f"kafka_cluster_health on a dead cluster: {took:.2f} s")
    bad = make_settings("no-such-host.invalid:9092", data_dir)
    async with Client(build_server(bad), raise_exceptions=False) as client:
        result = await client.call_tool("kafka_list_topics", {})
        text = "".join(getattr(c, "text", "") for c in result.content)
        assert result.is_error and "no-such-host.invalid" in text and "resolve" in text, text
