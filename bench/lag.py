"""Lag benchmark: ``kafka_consumer_lag`` for every group (through the MCP client) against Kafka's own
``kafka-consumer-groups --describe --all-groups`` (ConsumerGroupCommand), on the same cluster in the same run, and
``kafka_produce`` throughput for small records sent in batches.

    uv run python bench/lag.py                      # starts its own cluster 'bench-lag', stops and purges it after
    uv run python bench/lag.py --keep               # leave the cluster running (faster re-runs)

Seeds ``--groups`` groups with committed offsets over ``--topics`` topics of ``--partitions`` partitions each (200
groups over 20 x 100 = 2000 partitions by default), then alternates the two lag measurements ``--rounds`` times.
Checks that both report the same lag for every (group, topic, partition). Target: ours <= 0.5x the Java tool.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CGC = "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"


def log(message: str) -> None:
    sys.stderr.write(f"[bench-lag] {message}\n")
    sys.stderr.flush()


def seed(bootstrap: str, args: argparse.Namespace, tag: str) -> tuple[list[str], list[str]]:
    """Topics with a few records per partition, and groups with committed offsets on them (no live members)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topics = [f"lag-bench-{tag}-{i:02d}" for i in range(args.topics)]
    futures = admin.create_topics([NewTopic(t, num_partitions=args.partitions, replication_factor=1) for t in topics])
    for f in futures.values():
        f.result(120)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        meta = admin.list_topics(timeout=30).topics
        if all(t in meta and len(meta[t].partitions) == args.partitions for t in topics) and all(
            p.leader >= 0 for t in topics for p in meta[t].partitions.values()
        ):
            break
        time.sleep(0.5)
    rng = random.Random(42)
    ends: dict[tuple[str, int], int] = {}
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 20})
    for t in topics:
        for p in range(args.partitions):
            n = rng.randint(1, args.max_records)
            ends[(t, p)] = n
            for i in range(n):
                producer.produce(t, value=b"x" * 16, key=str(i).encode(), partition=p)
            producer.poll(0)
    assert producer.flush(120) == 0, "seeding records did not finish"
    groups = [f"lag-bench-{tag}-g{i:03d}" for i in range(args.groups)]
    plans = {}
    for i, g in enumerate(groups):
        t = topics[i % len(topics)]
        plans[g] = [
            TopicPartition(t, p, rng.randint(0, ends[(t, p)]))
            for p in range(args.partitions)
            if rng.random() < 0.95  # a few partitions stay without a committed offset
        ]
    todo = list(groups)
    while todo:  # a fresh cluster answers COORDINATOR_LOAD_IN_PROGRESS per partition for a while: retry those groups
        requests = {g: admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(g, plans[g])])[g] for g in todo}
        todo = []
        for g, f in requests.items():
            try:
                failed = [tp for tp in f.result(120).topic_partitions if tp.error]
            except Exception:
                failed = [None]
            if failed:
                todo.append(g)
        if todo:
            if time.monotonic() > deadline + 120:
                raise SystemExit(f"could not commit offsets for {len(todo)} groups")
            time.sleep(1)
    log(f"seeded {len(topics)} topics x {args.partitions} partitions, {len(groups)} groups")
    return topics, groups


def java_all_groups(home: Path, bootstrap: str) -> tuple[float, dict[tuple[str, str, int], str]]:
    from devcluster.jars import java_command
    from tests.groups.conftest import parse_describe

    cmd = java_command(home, CGC, "--bootstrap-server", bootstrap, "--describe", "--all-groups", heap="512m")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"ConsumerGroupCommand failed: {proc.stderr[-2000:]}")
    return elapsed, {k: v[2] for k, v in parse_describe(proc.stdout).items()}


async def ours_all_groups(settings: Any) -> tuple[float, float, dict[tuple[str, str, int], str]]:
    """(first call in a fresh server session, second call, rows); the end-offset cache is off (ttl 0)."""
    from mcp import Client

    from mcp_server.server import build_server
    from tests.helpers import structured

    rows: dict[tuple[str, str, int], str] = {}
    async with Client(build_server(settings), raise_exceptions=False) as client:
        start = time.perf_counter()
        data = structured(await client.call_tool("kafka_consumer_lag", {"include_partitions": True}))
        cold = time.perf_counter() - start
        start = time.perf_counter()
        structured(await client.call_tool("kafka_consumer_lag", {"include_partitions": True}))
        warm = time.perf_counter() - start
    for g in data["groups"]:
        for t in g["topics"]:
            for p in t["partitions"]:
                rows[(g["group_id"], p["topic"], p["partition"])] = "-" if p["lag"] is None else str(p["lag"])
    return cold, warm, rows


async def produce_throughput(settings: Any, bootstrap: str, args: argparse.Namespace, tag: str) -> tuple[float, int]:
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic, OffsetSpec
    from mcp import Client

    from mcp_server.server import build_server
    from tests.helpers import structured

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"lag-bench-{tag}-produce"
    admin.create_topics([NewTopic(topic, num_partitions=6, replication_factor=1)])[topic].result(60)
    await asyncio.sleep(1)
    written = 0
    async with Client(build_server(settings), raise_exceptions=False) as client:
        start = time.perf_counter()
        for first in range(0, args.produce_records, args.batch):
            batch = [
                {"key": f"k{i}", "value": f"value-{i:08d}"}
                for i in range(first, min(first + args.batch, args.produce_records))
            ]
            data = structured(await client.call_tool("kafka_produce", {"topic": topic, "records": batch}))
            written += data["written"]
        elapsed = time.perf_counter() - start
    futs = admin.list_offsets({TopicPartition(topic, p): OffsetSpec.latest() for p in range(6)})
    on_topic = sum(f.result(30).offset for f in futs.values())
    assert on_topic == written == args.produce_records, (on_topic, written)
    return elapsed, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--groups", type=int, default=200)
    parser.add_argument("--topics", type=int, default=20)
    parser.add_argument("--partitions", type=int, default=100, help="partitions per topic")
    parser.add_argument("--max-records", type=int, default=20, help="records per partition: 1..N")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--produce-records", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5000, help="records per kafka_produce call")
    parser.add_argument("--cluster", default="bench-lag")
    parser.add_argument("--keep", action="store_true", help="leave the bench cluster running")
    args = parser.parse_args()

    import tempfile

    from core.settings import Settings
    from devcluster.cluster import down, up

    home = Settings().resolved_devcluster_home()
    state = up(home, name=args.cluster, brokers=1, base_port=0, heap="1g")
    bootstrap = state.bootstrap_servers
    tag = uuid.uuid4().hex[:6]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = Settings(bootstrap_servers=bootstrap, data_dir=Path(tmp), lag_cache_ttl_s=0)
            seed(bootstrap, args, tag)
            java_times: list[float] = []
            cold_times: list[float] = []
            warm_times: list[float] = []
            mismatches = 0
            compared = 0
            for r in range(args.rounds):
                cold, warm, ours = asyncio.run(ours_all_groups(settings))
                jt, java = java_all_groups(home, bootstrap)
                mine = {k: v for k, v in ours.items() if k[0].startswith(f"lag-bench-{tag}")}
                theirs = {k: v for k, v in java.items() if k[0].startswith(f"lag-bench-{tag}")}
                if set(mine) != set(theirs):
                    log(f"round {r}: row sets differ: ours {len(mine)}, java {len(theirs)}")
                    mismatches += len(set(mine) ^ set(theirs))
                bad = [k for k in mine.keys() & theirs.keys() if mine[k] != theirs[k]]
                mismatches += len(bad)
                compared = len(mine)
                java_times.append(jt)
                cold_times.append(cold)
                warm_times.append(warm)
                log(f"round {r}: ours cold {cold:.2f}s warm {warm:.2f}s, java {jt:.2f}s, {len(bad)} lag mismatches")
            elapsed, written = asyncio.run(produce_throughput(settings, bootstrap, args, tag))
    finally:
        if not args.keep:
            down(home, name=args.cluster, purge=True)

    jm, cm, wm = statistics.median(java_times), statistics.median(cold_times), statistics.median(warm_times)
    print(f"lag for all groups: {args.groups} groups over {args.topics * args.partitions} partitions, {compared} rows")
    print(f"  kafka_consumer_lag (MCP, first call of a session): median {cm:.2f}s  rounds {_fmt(cold_times)}")
    print(f"  kafka_consumer_lag (MCP, warm session, no cache):  median {wm:.2f}s  rounds {_fmt(warm_times)}")
    print(f"  kafka-consumer-groups --describe --all-groups:     median {jm:.2f}s  rounds {_fmt(java_times)}")
    print(f"  ratio ours/java: first call {cm / jm:.2f}x, warm {wm / jm:.2f}x (target <= 0.5x)")
    print(
        f"  agreement: {'every lag equal' if mismatches == 0 else f'{mismatches} MISMATCHES'} ({compared} partitions)"
    )
    print(
        f"kafka_produce: {written} records in batches of {args.batch}: {elapsed:.2f}s, "
        f"{written / elapsed:,.0f} records/s (through the MCP client, idempotent, acks=all)"
    )
    return 0 if mismatches == 0 else 1


def _fmt(values: list[float]) -> str:
    return " ".join(f"{v:.2f}" for v in values)


if __name__ == "__main__":
    sys.exit(main())
