"""Producer benchmark: ``kafka_perf_test`` (through the MCP server) against Kafka's own ProducerPerformance.

Both run on the same topic with the same record size, acks, idempotence, linger and batch size, one after the other,
in one run (``--rounds`` alternates them to even out a busy machine). Prints records/s, MB/s and p95 latency of each
and the ratio ours/Java (target >= 0.8).

    uv run python bench/produce.py --bootstrap-servers 127.0.0.1:9092 --records 200000 --record-size 512

Without --bootstrap-servers it starts (or reuses) the dev cluster named by --cluster (default ``bench``, one broker).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import statistics
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

_JAVA_LINE = re.compile(
    r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg latency, ([\d.]+) ms max latency,"
    r" (\d+) ms 50th, (\d+) ms 95th, (\d+) ms 99th"
)


async def ours(settings: Any, topic: str, args: argparse.Namespace) -> dict[str, float]:
    from mcp import Client

    from mcp_server.server import build_server
    from tests.helpers import structured

    async with Client(build_server(settings), raise_exceptions=False) as client:
        data = structured(
            await client.call_tool(
                "kafka_perf_test",
                {
                    "mode": "producer",
                    "topic": topic,
                    "num_records": args.records,
                    "record_size": args.record_size,
                    "acks": args.acks,
                    "idempotence": args.acks == "all",
                    "linger_ms": args.linger_ms,
                    "batch_size": args.batch_size,
                },
            )
        )
    return {
        "records_per_s": data["records_per_s"],
        "mb_per_s": data["mb_per_s"],
        "p50_ms": data["latency"]["p50_ms"],
        "p95_ms": data["latency"]["p95_ms"],
        "p99_ms": data["latency"]["p99_ms"],
        "errors": data["errors"],
    }


def java(home: Path, bootstrap: str, topic: str, args: argparse.Namespace) -> dict[str, float]:
    from devcluster import jars

    cmd = jars.java_command(
        home,
        "org.apache.kafka.tools.ProducerPerformance",
        "--topic",
        topic,
        "--num-records",
        str(args.records),
        "--record-size",
        str(args.record_size),
        "--throughput",
        "-1",
        "--producer-props",
        f"bootstrap.servers={bootstrap}",
        f"acks={args.acks}",
        f"enable.idempotence={'true' if args.acks == 'all' else 'false'}",
        f"linger.ms={args.linger_ms}",
        f"batch.size={args.batch_size}",
        heap="512m",
    )
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=600)
    match = None
    for line in proc.stdout.splitlines():
        match = _JAVA_LINE.search(line) or match
    if proc.returncode != 0 or match is None:
        raise SystemExit(
            f"ProducerPerformance failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        )
    return {
        "records_per_s": float(match.group(2)),
        "mb_per_s": float(match.group(3)),
        "p50_ms": float(match.group(6)),
        "p95_ms": float(match.group(7)),
        "p99_ms": float(match.group(8)),
        "errors": 0.0,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--cluster", default="bench", help="dev cluster to start/reuse when no bootstrap is given")
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--record-size", type=int, default=512)
    parser.add_argument("--acks", choices=["all", "1"], default="all")
    parser.add_argument("--linger-ms", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=16384)
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from confluent_kafka.admin import AdminClient, NewTopic

    from core.settings import Settings

    home = Settings().resolved_devcluster_home()
    bootstrap = args.bootstrap_servers
    if not bootstrap:
        from devcluster.cluster import up

        bootstrap = up(home, name=args.cluster, brokers=1, base_port=0).bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    brokers = len(admin.list_topics(timeout=10).brokers)
    rf = min(3, brokers)
    topic = f"bench-produce-{uuid.uuid4().hex[:8]}"
    for fut in admin.create_topics([NewTopic(topic, args.partitions, rf)]).values():
        fut.result(30)
    settings = Settings(bootstrap_servers=bootstrap, data_dir=Path("/tmp/kafka-agent-bench"), tool_timeout_s=600)
    print(
        f"topic {topic}: {args.partitions} partitions, RF {rf} on {brokers} broker(s); {args.records} records of "
        f"{args.record_size} B, acks={args.acks}, idempotence={args.acks == 'all'}, linger.ms={args.linger_ms}, "
        f"batch.size={args.batch_size}"
    )
    try:
        runs: dict[str, list[dict[str, float]]] = {"kafka_perf_test": [], "ProducerPerformance": []}
        for i in range(args.rounds):
            order = ["kafka_perf_test", "ProducerPerformance"]
            if i % 2:  # alternate who goes first: a busy machine should not favour one side
                order.reverse()
            for name in order:
                res = (
                    asyncio.run(ours(settings, topic, args))
                    if name == "kafka_perf_test"
                    else java(home, bootstrap, topic, args)
                )
                runs[name].append(res)
                print(f"round {i + 1} {name:20}: {res}", flush=True)
    finally:
        for fut in admin.delete_topics([topic]).values():
            with contextlib.suppress(Exception):
                fut.result(30)

    def med(name: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[name])

    print()
    print(f"{'tool':22} {'records/s':>12} {'MB/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}   (median of rounds)")
    for name in runs:
        print(
            f"{name:22} {med(name, 'records_per_s'):12.0f} {med(name, 'mb_per_s'):8.2f} {med(name, 'p50_ms'):8.1f} "
            f"{med(name, 'p95_ms'):8.1f} {med(name, 'p99_ms'):8.1f}"
        )
    ratio = med("kafka_perf_test", "records_per_s") / med("ProducerPerformance", "records_per_s")
    print(f"throughput ratio kafka_perf_test / ProducerPerformance = {ratio:.2f} (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
