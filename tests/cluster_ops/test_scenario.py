"""The issue's scenario, small: a 3-broker cluster in racks a, b, c grows to 4; under a running producer and
consumer a topic goes from RF 1 to 3, the new broker gets its share, a topic with both copies in one rack is flagged
by health and the readiness audit, the new broker is drained (with a throttle, in the background, then finished) and
retired; nothing acknowledged is lost or read twice, and no throttle is left. Kafka's own tools check each step.
(bench/reassign.py runs the full-size version.)
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

from tests.cluster_ops.conftest import (
    OPS,
    kafka_configs_describe,
    kafka_tool,
    kafka_topics_describe,
)
from tests.cluster_ops.load import SequenceLoad
from tests.conftest import ClusterHandle, unique
from tests.helpers import structured

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]
RACK = {1: "a", 2: "b", 3: "c"}


class _Steps:
    """Prints how long each step took (pytest -s shows it): where the time of this long test goes."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        print(f"[scenario] {name}: {now - self.last:.1f}s")
        self.last = now


def _create(admin: Any, topics: list[Any]) -> None:
    for fut in admin.create_topics(topics).values():
        fut.result(30)


def _fill(bootstrap: str, writes: list[tuple[str, int | None, int]]) -> None:
    """(topic, partition or None, bytes) of 1 KB records."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 20, "acks": "all"})
    for topic, partition, size in writes:
        for i in range(size // 1024):
            kwargs = {"partition": partition} if partition is not None else {}
            producer.produce(topic, value=b"x" * 1024, key=str(i).encode(), **kwargs)
            if i % 1000 == 0:
                producer.poll(0)
    assert producer.flush(60) == 0


async def _plan_and_execute(
    client: Any, args: dict[str, Any], *, wait_s: float = 120.0, progress: Callable[..., Any] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The tools' two steps: a plan, then execute with its plan_id (a preview with a token first, then the call)."""
    plan = structured(await client.call_tool("kafka_reassignment_plan", args))
    call = {**args, "plan_id": plan["plan_id"], "wait_s": wait_s}
    preview = structured(await client.call_tool("kafka_reassignment_execute", call))
    assert preview["executed"] is False and plan["description"] in preview["consent"]["effect"]
    token = preview["consent"]["confirmation_token"]
    done = structured(
        await client.call_tool(
            "kafka_reassignment_execute", {**call, "confirm_token": token}, progress_callback=progress
        )
    )
    assert done["executed"] is True
    return plan, done["result"]


def _throttles(bootstrap: str, *entity_types: str) -> str:
    """What Kafka's ConfigCommand shows of the throttle configs on every broker and every topic."""
    shown = [kafka_configs_describe(bootstrap, kind) for kind in entity_types]
    return "\n".join(line for text in shown for line in text.splitlines() if "throttled" in line)


@pytest.mark.timeout(900)
async def test_grow_raise_spread_drain_and_retire_under_load(
    ops_cluster: ClusterHandle, ops_client: Any, ops_admin: Any, data_dir: Path
) -> None:
    from confluent_kafka.admin import NewTopic

    from devcluster.cluster import add_broker

    boot = ops_cluster.bootstrap_servers
    assert ops_cluster.home is not None
    data = [unique("ops-data") for _ in range(6)]
    load_topic = unique("ops-load")
    _create(ops_admin, [NewTopic(t, 2, 1 if i % 2 else 3) for i, t in enumerate(data)])
    _create(ops_admin, [NewTopic(load_topic, 3, 1, config={"min.insync.replicas": "1"})])
    await anyio.to_thread.run_sync(_fill, boot, [(t, None, 200_000) for t in data])
    step = _Steps()
    load = SequenceLoad(boot, load_topic).start()
    step("topics, data, load started")
    try:
        node = await anyio.to_thread.run_sync(lambda: add_broker(ops_cluster.home, name=OPS, rack="a", heap="384m"))
        new = node.node_id
        racks = {**RACK, new: "a"}
        step("broker added")

        # RF 1 -> 3 on the topic under load: every partition on three racks, every copy in sync.
        updates: list[float] = []

        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            updates.append(done)

        plan, result = await _plan_and_execute(
            ops_client,
            {"goal": "replication_factor", "topics": [load_topic], "replication_factor": 3},
            progress=on_progress,
        )
        assert plan["replicas_moved"] == 6 and plan["balance"]["rack_violations_after"] == 0
        assert result["state"] == "completed" and result["verification"]["ok"], result
        assert updates, "no progress notification"
        described = kafka_topics_describe(boot, load_topic)
        assert len(described) == 3
        for replicas, isr in described.values():
            assert len(replicas) == 3 and len({racks[b] for b in replicas}) == 3 and sorted(isr) == sorted(replicas)
        step("RF 1 -> 3 verified")

        # The new broker takes its share of the data topics.
        data_args = {"goal": "spread", "brokers": [new], "topics": data}
        plan, result = await _plan_and_execute(ops_client, data_args)
        assert plan["replicas_moved"] > 0 and all(m["adding"] in ([], [new]) for m in plan["moves"])
        assert result["state"] == "completed" and result["verification"]["ok"], result
        meta = ops_admin.list_topics(timeout=10)  # a separate client's view
        held = {f"{t}-{p.id}" for t in data for p in meta.topics[t].partitions.values() if new in p.replicas}
        moved = {f"{m['topic']}-{m['partition']}" for m in plan["moves"] if m["adding"]}
        assert moved and moved <= held
        step("spread verified")

        # Two copies in rack a: the health check and the readiness audit say so, and a balance plan would fix it.
        shared = unique("ops-shared")
        _create(ops_admin, [NewTopic(shared, num_partitions=1, replica_assignment=[[1, new]])])
        rack_reasons: list[dict[str, Any]] = []
        for _ in range(20):  # the brokers' metadata shows a new topic a moment after it is created
            health = structured(await ops_client.call_tool("kafka_cluster_health", {}))
            rack_reasons = [r for r in health["reasons"] if r["check"] == "rack_awareness"]
            if rack_reasons:
                break
            await anyio.sleep(1)
        assert rack_reasons and f"{shared}-0" in rack_reasons[0]["message"]
        audit = structured(await ops_client.call_tool("kafka_audit_cluster", {"include_groups": False}))
        assert any(f["rule"] == "replicas-share-rack" and shared in f["message"] for f in audit["findings"])
        fix = structured(await ops_client.call_tool("kafka_reassignment_plan", {"goal": "balance", "topics": [shared]}))
        assert fix["balance"]["rack_violations_before"] == 1 and fix["balance"]["rack_violations_after"] == 0
        step("racks flagged")

        # Drain it with a low throttle, leave it copying, watch it, then finish it.
        meta = ops_admin.list_topics(timeout=10)
        on_new = next((t, p.id) for t in data for p in meta.topics[t].partitions.values() if new in p.replicas)
        await anyio.to_thread.run_sync(_fill, boot, [(on_new[0], on_new[1], 3_000_000)])
        step("3 MB more on the new broker")
        drain_args = {"goal": "drain", "brokers": [new], "throttle_bytes_per_s": 150_000}
        plan, result = await _plan_and_execute(ops_client, drain_args, wait_s=0)
        assert result["state"] == "in_progress" and result["throttles_removed"] is False
        step("drain submitted")
        status = structured(await ops_client.call_tool("kafka_reassignment_status", {}))
        assert status["in_progress"] > 0 and status["throttles"]["brokers"]
        assert "leader.replication.throttled.rate=150000" in _throttles(boot, "brokers")
        step("throttles seen")
        finished = structured(await ops_client.call_tool("kafka_reassignment_finish", {"wait_s": 200}))
        step("finished")
        assert finished["state"] == "completed" and finished["verification"]["ok"], finished
        assert _throttles(boot, "brokers", "topics") == ""
        check = structured(await ops_client.call_tool("kafka_broker_decommission_check", {"broker": new}))
        assert check["replicas"] == 0 and check["ready_to_stop"] and check["running"]
        step("drained, throttles gone")

        # Retire it: stopped and unregistered by the dev-cluster command (through the gate, audited).
        env = {**os.environ, "KAFKA_AGENT_DATA_DIR": str(data_dir)}
        proc = await anyio.run_process(
            [
                sys.executable,
                "-m",
                "cli",
                "dev-cluster",
                "remove-broker",
                "--name",
                OPS,
                "--id",
                str(new),
                "--yes",
                "--home",
                str(ops_cluster.home),
            ],
            env=env,
            cwd=ROOT,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr.decode()
        endpoints = kafka_tool(
            "org.apache.kafka.tools.ClusterTool",
            "list-endpoints",
            "--bootstrap-server",
            boot,
            "--include-fenced-brokers",
        )
        listed = {int(line.split()[0]) for line in endpoints.splitlines()[1:] if line.strip()}
        assert listed == {1, 2, 3}
        audit_log = [json.loads(line) for line in (data_dir / "audit.jsonl").read_text().splitlines()]
        assert [e["decision"] for e in audit_log if e["action"] == "broker.unregister"][-1] == "confirmed"
        step("retired")
    finally:
        await anyio.to_thread.run_sync(load.stop)
    acked, lost, duplicated = load.check()
    assert not load.errors, load.errors[:5]
    assert acked > 1000 and lost == 0 and duplicated == 0, (acked, lost, duplicated)
