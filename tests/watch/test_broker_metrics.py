"""Broker metrics through the JMX exporter agent and through Prometheus, checked against Kafka's own counters:
after producing N records to a new topic, the tool's messages-in equals what Kafka's JmxTool reads from the same
MBean over remote JMX, and the topic's high watermark."""

from __future__ import annotations

import re
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import anyio
import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, dashboard_metrics, structured
from tests.watch.conftest import create_topic

pytestmark = pytest.mark.anyio
N = 1234


def _produce(bootstrap: str, topic: str, count: int) -> None:
    from confluent_kafka import Producer

    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "log_level": 0})
    for i in range(count):
        p.produce(topic, value=f"record-{i}".encode())
    assert p.flush(30) == 0


def _jmxtool_count(cluster: ClusterHandle, topic: str) -> int:
    """MessagesInPerSec Count of the topic, read by Kafka's own JmxTool over remote JMX."""
    from devcluster.jars import java_command

    node = cluster.state().nodes[0]
    mbean = f"kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic={topic}"
    url = f"service:jmx:rmi:///jndi/rmi://127.0.0.1:{node.jmx_port}/jmxrmi"
    args = ["--jmx-url", url, "--object-name", mbean, "--attributes", "Count", "--one-time", "true"]
    assert cluster.home is not None
    proc = subprocess.run(
        java_command(cluster.home, "org.apache.kafka.tools.JmxTool", *args),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return int(proc.stdout.strip().splitlines()[-1].split(",")[-1])


def _high_watermark(bootstrap: str, topic: str) -> int:
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer({"bootstrap.servers": bootstrap, "group.id": unique("hw"), "log_level": 0})
    try:
        return int(c.get_watermark_offsets(TopicPartition(topic, 0), timeout=15)[1])
    finally:
        c.close()


@pytest.fixture
def metrics_settings(metrics_cluster: ClusterHandle, data_dir: Path) -> Any:
    from devcluster.metrics import metrics_urls

    return make_settings(metrics_cluster.bootstrap_servers, data_dir, metrics_url=metrics_urls(metrics_cluster.state()))


@pytest.mark.timeout(300)
async def test_messages_in_match_kafkas_own_counters(metrics_cluster: ClusterHandle, metrics_settings: Any) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    topic = unique("jmx")
    create_topic(metrics_cluster.bootstrap_servers, topic)
    _produce(metrics_cluster.bootstrap_servers, topic, N)
    async with Client(build_server(metrics_settings), raise_exceptions=False) as client:
        got = structured(await client.call_tool("kafka_broker_metrics", {"topic": topic}))
        (b,) = got["brokers"]
        assert got["source"] == "jmx" and b["up"] and b["broker"] == 1
        assert b["topic"]["messagesin_total"] == N
        assert b["active_controller"] is True and b["under_replicated_partitions"] == 0
        assert b["messages_in_total"] >= N and "Produce" in b["latency_ms"] and "0.99" in b["latency_ms"]["Produce"]
        # A combined broker and controller marks the one meter from both of its handler pools: up to 2 when idle.
        assert b["requests_total"]["Produce"] >= 1 and 0 <= b["request_handler_idle_ratio"] <= 2
        assert got["totals"]["active_controllers"] == 1
        # An unknown broker, and PromQL without a Prometheus: errors that say what to do.
        assert_tool_error(await client.call_tool("kafka_broker_metrics", {"broker": 7}), "broker 7", "Brokers with")
        assert_tool_error(await client.call_tool("kafka_broker_metrics", {"query": "up"}), "prometheus_url")
    assert _jmxtool_count(metrics_cluster, topic) == N
    assert _high_watermark(metrics_cluster.bootstrap_servers, topic) == N


@pytest.mark.timeout(300)
async def test_the_same_figures_through_prometheus(metrics_cluster: ClusterHandle, data_dir: Path) -> None:
    from mcp import Client

    from mcp_server.server import build_server

    state = metrics_cluster.state()
    prometheus = str(state.services["prometheus"]["url"])
    topic = unique("prom")
    create_topic(metrics_cluster.bootstrap_servers, topic)
    _produce(metrics_cluster.bootstrap_servers, topic, 321)
    settings = make_settings(metrics_cluster.bootstrap_servers, data_dir, prometheus_url=prometheus)
    async with Client(build_server(settings), raise_exceptions=False) as client:

        async def seen() -> Any:
            got = structured(await client.call_tool("kafka_broker_metrics", {"topic": topic}))
            brokers = got["brokers"]
            return got if brokers and (brokers[0].get("topic") or {}).get("messagesin_total") == 321 else None

        got = None
        for _ in range(60):  # Prometheus scrapes every 10 s
            got = await seen()
            if got:
                break
            await anyio.sleep(2)
        assert got is not None, "Prometheus never showed the topic's 321 records"
        assert got["source"] == "prometheus" and got["brokers"][0]["broker"] == 1
        query = f'sum(kafka_server_brokertopic_messagesin_total{{topic="{topic}"}})'
        raw = structured(await client.call_tool("kafka_broker_metrics", {"query": query}))
        assert raw["series"][0]["value"] == 321
        # Our exporter is scraped too: the job is up.
        up: dict[str, Any] = {}
        for _ in range(20):  # its first scrape can come a scrape interval after the brokers'
            up = structured(await client.call_tool("kafka_broker_metrics", {"query": 'up{job="kafka-agent-exporter"}'}))
            if up["series"]:
                break
            await anyio.sleep(2)
        assert up["series"] and up["series"][0]["value"] == 1
        bad = await client.call_tool("kafka_broker_metrics", {"query": "sum(("})
        assert_tool_error(bad, "Prometheus refused the query")


def test_dashboard_broker_panels_use_what_the_agents_export(metrics_cluster: ClusterHandle) -> None:
    """The Grafana dashboard's broker panels read metric names the JMX exporter agents really publish with the
    committed rules (the others come from our exporter: tests/health/test_exporter.py)."""
    from devcluster.metrics import metrics_urls

    _ours, used = dashboard_metrics()
    exported: set[str] = set()
    for url in metrics_urls(metrics_cluster.state()).values():
        with urllib.request.urlopen(url, timeout=60) as resp:
            text = resp.read().decode()
        exported |= set(re.findall(r"^# TYPE (kafka_[a-z0-9_]+) ", text, flags=re.MULTILINE))
    # Counters are published as <name>_total with TYPE <name>; the dashboard names the sample.
    exported |= {f"{name}_total" for name in exported}
    assert len(used) >= 10 and used <= exported, sorted(used - exported)
