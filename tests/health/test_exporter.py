"""The Prometheus exporter, scraped for real over HTTP on loopback (in-process and as the `kafka-agent exporter`
command), checked against lag set up with a separate consumer."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import dashboard_metrics

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    from devcluster.cluster import free_ports

    return free_ports(1)[0]


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _lagging_group(bootstrap: str, admin: Any) -> tuple[str, str]:
    """A topic with 10 records in partition 0 and 4 in partition 1, and a group that committed 3 and 4."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import NewTopic

    topic, group = unique("lag"), unique("group")
    for fut in admin.create_topics([NewTopic(topic, 2, 1)]).values():
        fut.result(30)
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": True})
    for i in range(14):
        producer.produce(topic, b"x", partition=0 if i < 10 else 1)
    producer.flush(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 3), TopicPartition(topic, 1, 4)], asynchronous=False)
    finally:
        consumer.close()
    return topic, group


def test_exporter_serves_lag_and_replication(kafka_cluster: ClusterHandle, admin: Any, data_dir: Path) -> None:
    from monitoring.exporter import start

    topic, group = _lagging_group(kafka_cluster.bootstrap_servers, admin)
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir)
    port = _free_port()
    server, _thread, clients = start(settings, host="127.0.0.1", port=port)
    try:
        resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30)
    finally:
        server.shutdown()
        clients.close()
    assert resp.status_code == 200
    samples = _samples(resp.text)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted({"cluster": "local", **labels}.items())))]

    assert value("kafka_consumergroup_lag", group=group, topic=topic, partition="0") == 7
    assert value("kafka_consumergroup_lag", group=group, topic=topic, partition="1") == 0
    assert value("kafka_consumergroup_lag_sum", group=group, topic=topic) == 7
    assert value("kafka_consumergroup_current_offset", group=group, topic=topic, partition="0") == 3
    assert value("kafka_topic_partition_current_offset", topic=topic, partition="0") == 10
    assert value("kafka_cluster_brokers") == 1
    assert value("kafka_cluster_under_replicated_partitions") == 0
    assert value("kafka_cluster_offline_partitions") == 0
    assert value("kafka_exporter_scrape_success") == 1
    assert value("kafka_exporter_scrape_duration_seconds") > 0


def test_exporter_command_and_unreachable_cluster(kafka_cluster: ClusterHandle, tmp_path: Path) -> None:
    clusters = tmp_path / "clusters.yaml"
    clusters.write_text(
        json.dumps(
            {
                "clusters": {
                    "here": {"bootstrap_servers": kafka_cluster.bootstrap_servers},
                    "gone": {"bootstrap_servers": "127.0.0.1:1"},
                }
            }
        ),
        encoding="utf-8",
    )
    port = _free_port()
    env = {**os.environ, "KAFKA_AGENT_DATA_DIR": str(tmp_path), "KAFKA_AGENT_REQUEST_TIMEOUT_S": "3"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli",
            "exporter",
            "--port",
            str(port),
            "--clusters-file",
            str(clusters),
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=60)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "exporter did not start"
                time.sleep(0.3)
        samples = _samples(resp.text)
        assert samples[("kafka_exporter_scrape_success", (("cluster", "here"),))] == 1
        assert samples[("kafka_exporter_scrape_success", (("cluster", "gone"),))] == 0
        assert samples[("kafka_cluster_brokers", (("cluster", "here"),))] == 1
        assert proc.stdout is not None
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(10)
    assert proc.stdout.read() == b""  # nothing on stdout


def test_exporter_unknown_cluster_is_a_clear_error(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cli", "exporter", "--port", str(_free_port()), "--cluster", "nope"],
        check=False,
        cwd=ROOT,
        env={**os.environ, "KAFKA_AGENT_DATA_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "'nope' is not a configured cluster" in proc.stderr


def test_dashboard_uses_only_exported_metrics(kafka_cluster: ClusterHandle, data_dir: Path) -> None:
    import re

    from monitoring.exporter import start

    used, _brokers = dashboard_metrics()  # the brokers' own: tests/watch/test_broker_metrics.py
    port = _free_port()
    server, _thread, clients = start(
        make_settings(kafka_cluster.bootstrap_servers, data_dir), host="127.0.0.1", port=port
    )
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    finally:
        server.shutdown()
        clients.close()
    exported = set(re.findall(r"^# TYPE (kafka_[a-z_]+) ", text, flags=re.MULTILINE))
    assert used and used <= exported, used - exported
