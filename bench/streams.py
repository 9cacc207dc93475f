"""Stream-processing benchmark: windowed count throughput of the generic runner (topology built from a spec) beside
the same topology written by hand in plain Kafka Streams Java, in the same run.

Both read the same pre-produced input topic (JSON events, keyed by event id, grouped by user_id, so both repartition;
event times span 50 minutes and the windows have 1 hour of grace, so no record is late) from the beginning with a
fresh application id, one stream thread, exactly_once_v2, -Xmx256m, and count the records folded into 5-minute
tumbling windows. Each prints records/s between its first and its N-th aggregated record
(start-up excluded). ``--rounds`` alternates them; the medians and the ratio runner/hand (target >= 0.8) are printed.
The default (1 000 000 records, 4 rounds of each, about 3 minutes) runs each side 6-8 s: 200 000-record runs of 2-3 s
move by +-15 % from round to round on a shared 2-core machine.

    uv run python bench/streams.py
    uv run python bench/streams.py --records 200000 --rounds 6
    uv run python bench/streams.py --bootstrap-servers 127.0.0.1:9092

Without --bootstrap-servers it starts (or reuses) the dev cluster named by --cluster (default ``bench``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]


def produce(bootstrap: str, topic: str, records: int, users: int) -> None:
    from confluent_kafka import Producer

    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 20,
            "batch.size": 262144,
            "compression.type": "lz4",
        }
    )
    base = (int(time.time() * 1000) - 3_600_000) // 300_000 * 300_000
    for i in range(records):
        value = json.dumps({"user_id": f"user-{i % users}", "action": "click", "n": i}).encode()
        while True:
            try:
                producer.produce(topic, key=f"e{i}".encode(), value=value, timestamp=base + i * 3_000_000 // records)
                break
            except BufferError:
                producer.poll(0.1)
        if i % 10000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0


def run_once(mode: str, bootstrap: str, source: str, records: int, heap: str) -> dict[str, Any]:
    from core.settings import ClusterConfig
    from streams.manager import java_client_properties, runner_classpath
    from streams.spec import parse_spec

    name = f"bench-{mode}-{uuid.uuid4().hex[:6]}"
    spec = parse_spec(
        {
            "name": name,
            "source": {"topic": source},
            "aggregate": {
                "group_by": "value.user_id",
                "key_field": "user_id",
                # a grace period longer than the data's span: no record is dropped as late, so all N are counted
                "window": {"type": "tumbling", "size_ms": 300_000, "grace_ms": 3_600_000},
            },
            "sink": {"topic": f"{source}-out-{mode}"},
        }
    )
    folder = Path(tempfile.mkdtemp(prefix=f"ksa-bench-{mode}-"))
    try:
        (folder / "spec.json").write_text(spec.model_dump_json(exclude_none=True))
        props = java_client_properties(ClusterConfig(name="bench", bootstrap_servers=bootstrap), replication_factor=1)
        (folder / "client.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        java = shutil.which("java") or "java"
        cmd = [
            java,
            f"-Xmx{heap}",
            "-XX:+UseSerialGC",
            "-cp",
            runner_classpath(),
            "io.ksa.streams.bench.StreamsBench",
            "--mode",
            mode,
            "--spec",
            str(folder / "spec.json"),
            "--config",
            str(folder / "client.properties"),
            "--state-dir",
            str(folder / "state"),
            "--records",
            str(records),
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False)
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("{")), None)
        if proc.returncode != 0 or line is None:
            raise RuntimeError(f"{mode} run failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(line)
        result["application_id"] = spec.application_id
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--cluster", default="bench", help="dev cluster to start/reuse when no bootstrap is given")
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=1000, help="distinct user_id values (group keys)")
    parser.add_argument("--partitions", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=4, help="runs of each, alternating")
    parser.add_argument("--heap", default="256m")
    args = parser.parse_args()

    from confluent_kafka.admin import AdminClient, NewTopic

    from core.settings import Settings

    subprocess.run(["bash", str(REPO / "streams" / "build.sh")], check=True, stdout=subprocess.DEVNULL)
    bootstrap = args.bootstrap_servers
    if not bootstrap:
        from devcluster.cluster import up

        bootstrap = up(
            Settings().resolved_devcluster_home(), name=args.cluster, brokers=1, base_port=0
        ).bootstrap_servers
    admin = AdminClient({"bootstrap.servers": bootstrap})
    source = f"bench-streams-{uuid.uuid4().hex[:8]}"
    sinks = [f"{source}-out-{mode}" for mode in ("runner", "hand")]
    new = [NewTopic(t, num_partitions=args.partitions, replication_factor=1) for t in [source, *sinks]]
    for future in admin.create_topics(new).values():
        future.result(30)
    print(f"producing {args.records} events ({args.users} users, {args.partitions} partitions) to {source} ...")
    produce(bootstrap, source, args.records, args.users)

    results: dict[str, list[float]] = {"runner": [], "hand": []}
    created: list[str] = [source, *sinks]
    try:
        for r in range(args.rounds):
            for mode in ("runner", "hand") if r % 2 == 0 else ("hand", "runner"):
                res = run_once(mode, bootstrap, source, args.records, args.heap)
                results[mode].append(res["records_per_s"])
                print(f"round {r + 1} {mode:<6}: {res['records_per_s']:>10,.0f} records/s ({res['seconds']:.2f} s)")
                internal = [t for t in admin.list_topics(timeout=10).topics if t.startswith(res["application_id"])]
                created += internal
    finally:
        for topic, future in admin.delete_topics(sorted(set(created))).items():
            try:
                future.result(30)
            except Exception as exc:  # cleanup is best effort; say what was left
                print(f"could not delete {topic}: {exc}", file=sys.stderr)
    runner = statistics.median(results["runner"])
    hand = statistics.median(results["hand"])
    print(f"median runner (generic spec): {runner:,.0f} records/s")
    print(f"median hand-written Java:     {hand:,.0f} records/s")
    print(f"ratio runner/hand: {runner / hand:.2f} (target >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
