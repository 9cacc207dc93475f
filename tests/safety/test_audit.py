"""The readiness audit of existing topics and groups on real Kafka, and the audit log with `kafka-agent audit tail`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ClusterHandle, make_settings, unique
from tests.helpers import assert_tool_error, structured
from tests.safety.conftest import client_for, create_topic_directly, drop_topics

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]


def _lagging_group(bootstrap: str, topic: str, group: str, produced: int) -> None:
    """Produce records and commit offset 0 for a group, so the group lags by ``produced``."""
    from confluent_kafka import Consumer, Producer, TopicPartition

    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    for i in range(produced):
        producer.produce(topic, value=b"x", key=str(i).encode(), partition=0)
    assert producer.flush(15) == 0
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(topic, 0, 0)], asynchronous=False)
    finally:
        consumer.close()


async def test_audit_flags_a_risky_topic_with_fixes(settings: Any, admin: Any, kafka_cluster: ClusterHandle) -> None:
    bad, good = unique("aud-bad"), unique("aud-good")
    create_topic_directly(
        admin, bad, partitions=1, configs={"unclean.leader.election.enable": "true", "retention.ms": "-1"}
    )
    create_topic_directly(admin, good, partitions=4, configs={"retention.ms": "86400000"})
    group = unique("aud-grp")
    _lagging_group(kafka_cluster.bootstrap_servers, bad, group, 30)
    try:
        async with client_for(settings) as client:
            pattern = f"^({bad}|{good})$"
            prod = structured(
                await client.call_tool(
                    "kafka_audit_cluster", {"profile": "production", "topic_pattern": pattern, "lag_threshold": 10}
                )
            )
            dev = structured(await client.call_tool("kafka_audit_cluster", {"topic_pattern": pattern}))
            assert_tool_error(
                await client.call_tool("kafka_audit_cluster", {"topic_pattern": "("}), "regular expression"
            )
    finally:
        drop_topics(admin, [bad, good])
        for future in admin.delete_consumer_groups([group], request_timeout=15).values():
            future.result(timeout=20)

    assert prod["profile"] == "production" and prod["topics_checked"] == 2 and prod["brokers"] == 1
    by_rule: dict[str, set[str]] = {}
    for f in prod["findings"]:
        by_rule.setdefault(f["rule"], set()).add(f["resource"])
        assert f["fix"] and f["why"], f
    assert by_rule["unclean-leader-election"] == {bad}
    assert by_rule["unlimited-retention"] == {bad}
    assert by_rule["single-partition-high-throughput"] == {bad}
    assert by_rule["replication-factor-min"] == {bad, good}
    assert group in by_rule["consumer-lag"]
    assert "broker-count" in by_rule
    fix = next(f["fix"] for f in prod["findings"] if f["rule"] == "unclean-leader-election")
    assert "kafka_alter_topic_config" in fix and bad in fix
    assert 0 <= prod["score"] < 100 and prod["checks_passed"] < prod["checks_total"]
    criteria = {c["criterion"]: c["status"] for c in prod["criteria"]}
    assert criteria["Replication factor >= 3 with min ISR = 2"] == "not_met"
    assert criteria["Consumers keep up (lag monitored)"] == "not_met"
    assert criteria["Producers configured with idempotence and acks=all"] == "not_checkable"

    # Judged as dev, RF 1 and one partition are fine; unclean election still warns.
    assert dev["profile"] == "dev" and dev["score"] > prod["score"]
    assert {f["rule"] for f in dev["findings"]} == {"unclean-leader-election"}


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cli", "audit", "tail", *args]
    return subprocess.run(cmd, check=False, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)


async def test_audit_tail_cli_shows_the_last_entries(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    settings = make_settings(kafka_cluster.bootstrap_servers, data_dir)
    topic = unique("tail")
    async with client_for(settings) as client:
        structured(
            await client.call_tool("kafka_create_topic", {"topic": topic, "partitions": 1, "replication_factor": 1})
        )
        structured(await client.call_tool("kafka_delete_topic", {"topic": topic}))
        assert_tool_error(
            await client.call_tool(
                "kafka_alter_topic_config", {"topic": "__consumer_offsets", "set_configs": {"retention.ms": "1"}}
            ),
            "protected",
        )
    drop_topics(admin, [topic])
    env = {"PATH": "/usr/bin:/bin", "KAFKA_AGENT_DATA_DIR": str(data_dir), "HOME": str(data_dir)}
    from anyio.to_thread import run_sync

    out = await run_sync(_cli, ["-n", "2"], env)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert len(lines) == 2
    assert "kafka_delete_topic" in lines[0] and "consent_requested" in lines[0] and topic in lines[0]
    assert "kafka_alter_topic_config" in lines[1] and "refused" in lines[1] and "protected" in lines[1]

    raw = await run_sync(_cli, ["-n", "5", "--json"], env)
    entries = [json.loads(line) for line in raw.stdout.splitlines()]
    assert [e["decision"] for e in entries] == ["allowed", "consent_requested", "refused"]
    assert all(e["transport"] == "stdio" and e["time"] for e in entries)
    assert entries[0]["arguments"]["topic"] == topic and entries[0]["result"]["created"] is True

    missing = await run_sync(_cli, ["--file", str(data_dir / "nope.jsonl")], env)
    assert missing.returncode == 1 and "no audit log" in missing.stderr


def _audit_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cli", "audit", "cluster", *args]
    return subprocess.run(cmd, check=False, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)


async def test_audit_cluster_cli(kafka_cluster: ClusterHandle, data_dir: Path, admin: Any) -> None:
    from anyio.to_thread import run_sync

    topic = unique("aud-cli")
    create_topic_directly(admin, topic, partitions=3)
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(data_dir),
        "KAFKA_AGENT_DATA_DIR": str(data_dir),
        "KAFKA_AGENT_BOOTSTRAP_SERVERS": kafka_cluster.bootstrap_servers,
    }
    try:
        pattern = f"^{topic}$"
        text = await run_sync(_audit_cli, ["--profile", "production", "--topic-pattern", pattern, "--no-groups"], env)
        as_json = await run_sync(_audit_cli, ["--topic-pattern", pattern, "--no-groups", "--json"], env)
    finally:
        drop_topics(admin, [topic])
    assert text.returncode == 1, text.stderr  # critical findings in production
    assert "judged as production" in text.stdout and f"replication-factor-min topic {topic}" in text.stdout
    assert "fix: " in text.stdout
    report = json.loads(as_json.stdout)
    assert as_json.returncode == 0 and report["profile"] == "dev" and report["topics_checked"] == 1
    assert report["findings"] == [] and report["score"] == 100
