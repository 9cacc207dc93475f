"""Cluster operations benchmark: the issue's scenario at full size, and our plans against Kafka's own
``kafka-reassign-partitions --generate`` for the same broker lists, in the same run.

    uv run python bench/reassign.py [--topics 50] [--mb 100] [--throttle 30MB] [--keep]

It starts a dev cluster ``bench-reassign`` (3 brokers in racks a, b, c), creates ``--topics`` topics (1-6
partitions, RF 1 or 3) holding ``--mb`` MB, runs a producer and a consumer with their own sequence check on a topic of
RF 1 the whole time, adds broker 4 (rack d), and then, through the MCP tools (plan, then execute with consent):

  1. raises the loaded topic's replication factor from 1 to 3;
  2. spreads every topic onto broker 4          (compared with --generate --broker-list 1,2,3,4);
  3. drains broker 4 again                      (compared with --generate --broker-list 1,2,3);
  4. retires broker 4 (stop, then unregister through the gate).

After each step Kafka's own TopicCommand checks every moved partition is on its target replicas and fully in sync;
ConfigCommand checks no throttle is left; at the end the sequence check counts lost and duplicated records.

Figures per comparison: replicas moved, bytes moved, max-min replicas per broker, max-min (preferred) leaders per
broker, over the user topics. --generate's proposal is computed but not applied. Cruise Control is not on Maven
Central (see README), so it is not run.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

NAME = "bench-reassign"
TP = tuple[str, int]


def _size(text: str) -> int:
    from cli.reassign import _size as parse

    return parse(text)


def kafka_tool(home: Path, *args: str) -> str:
    import subprocess

    from devcluster import jars

    proc = subprocess.run(jars.java_command(home, *args), capture_output=True, text=True, timeout=300, check=False)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return proc.stdout


def generate(home: Path, bootstrap: str, topics: list[str], brokers: list[int]) -> dict[TP, list[int]]:
    """Kafka's ReassignPartitionsCommand --generate: its proposed assignment (not applied)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump({"version": 1, "topics": [{"topic": t} for t in topics]}, fh)
    out = kafka_tool(
        home,
        "org.apache.kafka.tools.reassign.ReassignPartitionsCommand",
        "--bootstrap-server",
        bootstrap,
        "--generate",
        "--topics-to-move-json-file",
        fh.name,
        "--broker-list",
        ",".join(map(str, brokers)),
    )
    lines = out.splitlines()
    proposed = json.loads(lines[lines.index("Proposed partition reassignment configuration") + 1])
    return {(p["topic"], p["partition"]): list(p["replicas"]) for p in proposed["partitions"]}


def figures(
    current: dict[TP, list[int]],
    target: dict[TP, list[int]],
    sizes: dict[TP, int],
    brokers: list[int],
    topics: set[str],
) -> dict[str, int]:
    after = {tp: target.get(tp, reps) for tp, reps in current.items() if tp[0] in topics}
    added = {tp: set(after[tp]) - set(current[tp]) for tp in after}
    replicas: Counter[int] = Counter({b: 0 for b in brokers})
    leaders: Counter[int] = Counter({b: 0 for b in brokers})
    for reps in after.values():
        replicas.update(reps)
        leaders[reps[0]] += 1
    return {
        "replicas_moved": sum(len(a) for a in added.values()),
        "bytes_moved": sum(sizes.get(tp, 0) * len(a) for tp, a in added.items()),
        "replicas_spread": max(replicas[b] for b in brokers) - min(replicas[b] for b in brokers),
        "leaders_spread": max(leaders[b] for b in brokers) - min(leaders[b] for b in brokers),
    }


def fill(bootstrap: str, topics: dict[str, tuple[int, int]], total_mb: int, seed: int) -> None:
    """Random 1 KB records, the bytes spread over topics unevenly (some hot, some nearly empty)."""
    from confluent_kafka import Producer

    rnd = random.Random(seed)
    weights = {t: rnd.choice([0.1, 0.5, 1, 1, 2, 4]) for t in topics}
    total = sum(weights.values())
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 50, "batch.size": 1_000_000, "acks": "1"})
    value = rnd.randbytes(1024)
    for topic, w in weights.items():
        for i in range(int(total_mb * 1024 * w / total)):
            while True:
                try:
                    producer.produce(topic, value=value, key=str(i).encode())
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.2)
            if i % 2000 == 0:
                producer.poll(0)
    if producer.flush(300) != 0:
        raise RuntimeError("data not flushed")


def verify_with_kafka(home: Path, bootstrap: str, targets: dict[TP, list[int]]) -> int:
    """TopicCommand --describe of every moved topic: each moved partition on its target, ISR = replicas. Returns
    the partitions checked."""
    checked = 0
    for topic in sorted({t for t, _ in targets}):
        out = kafka_tool(
            home, "org.apache.kafka.tools.TopicCommand", "--bootstrap-server", bootstrap, "--describe", "--topic", topic
        )
        for line in out.splitlines():
            f = dict(x.split(": ", 1) for x in line.strip().split("\t") if ": " in x)
            if "Partition" not in f or (topic, int(f["Partition"])) not in targets:
                continue
            replicas = [int(x) for x in f["Replicas"].split(",")]
            isr = sorted(int(x) for x in f["Isr"].split(",") if x)
            want = targets[(topic, int(f["Partition"]))]
            if replicas != want or isr != sorted(want):
                raise AssertionError(f"{topic}-{f['Partition']}: replicas {replicas} isr {isr}, wanted {want}")
            checked += 1
    return checked


def no_throttles(home: Path, bootstrap: str, brokers: list[int], topics: list[str]) -> bool:
    shown = [
        kafka_tool(
            home,
            "kafka.admin.ConfigCommand",
            "--bootstrap-server",
            bootstrap,
            "--entity-type",
            "brokers",
            "--entity-name",
            str(b),
            "--describe",
        )
        for b in brokers
    ]
    shown += [
        kafka_tool(
            home,
            "kafka.admin.ConfigCommand",
            "--bootstrap-server",
            bootstrap,
            "--entity-type",
            "topics",
            "--entity-name",
            t,
            "--describe",
        )
        for t in topics
    ]
    return not any("throttled" in text for text in shown)


async def execute(client: Any, args: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any], float]:
    from tests.helpers import structured

    plan = structured(await client.call_tool("kafka_reassignment_plan", {**args, "show_moves": 5000}))
    call = {**args, "plan_id": plan["plan_id"], "wait_s": 3600}
    preview = structured(await client.call_tool("kafka_reassignment_execute", call))
    token = preview["consent"]["confirmation_token"]
    started = time.monotonic()
    done = structured(await client.call_tool("kafka_reassignment_execute", {**call, "confirm_token": token}))
    seconds = time.monotonic() - started
    result = done["result"]
    if result["state"] != "completed" or not result["verification"]["ok"]:
        raise AssertionError(json.dumps(result, indent=1)[:3000])
    return plan, result, seconds


async def scenario(args: argparse.Namespace) -> dict[str, Any]:
    from confluent_kafka.admin import AdminClient, NewTopic
    from mcp import Client

    from cli.devcluster import remove_broker, stop_cluster
    from core.kafka.jadmin import JavaAdmin
    from core.kafka.logdirs import replica_sizes
    from core.kafka.reassign import layout
    from core.settings import Settings
    from devcluster.cluster import add_broker, default_home, load_state, up
    from mcp_server.server import build_server
    from tests.cluster_ops.load import SequenceLoad

    home = default_home()
    rnd = random.Random(args.seed)
    if load_state(home, NAME) is not None:  # a run left over: start from nothing, as the figures assume
        stop_cluster(home, name=NAME, purge=True)
    state = up(home, name=NAME, brokers=3, racks=["a", "b", "c"], base_port=0, heap="512m")
    boot = state.bootstrap_servers
    admin = AdminClient({"bootstrap.servers": boot})
    tag = f"{rnd.randrange(16**6):06x}"
    topics = {f"bench-{tag}-{i:02d}": (rnd.choice([1, 2, 3, 4, 6]), rnd.choice([1, 3, 3])) for i in range(args.topics)}
    load_topic = f"bench-{tag}-load"
    new = [NewTopic(t, p, rf) for t, (p, rf) in topics.items()]
    new.append(NewTopic(load_topic, 3, 1, config={"min.insync.replicas": "1"}))
    for fut in admin.create_topics(new).values():
        fut.result(60)
    t0 = time.monotonic()
    fill(boot, topics, args.mb, args.seed)
    out: dict[str, Any] = {"fill_s": round(time.monotonic() - t0, 1), "topics": len(topics) + 1}
    load = SequenceLoad(boot, load_topic).start()
    settings = Settings(
        bootstrap_servers=boot, data_dir=Path(tempfile.mkdtemp()), toolsets="all", tool_timeout_s=7200.0
    )
    scope = {*topics, load_topic}
    throttle = args.throttle
    try:
        node = add_broker(home, name=NAME, rack=args.new_rack, heap="512m")
        b4 = node.node_id
        jadmin = JavaAdmin(settings.cluster(None))
        async with Client(build_server(settings), raise_exceptions=False) as client:
            plan, _result, secs = await execute(
                client,
                {
                    "goal": "replication_factor",
                    "topics": [load_topic],
                    "replication_factor": 3,
                    "throttle_bytes_per_s": throttle,
                },
            )
            targets = {(m["topic"], m["partition"]): m["target"] for m in plan["moves"]}
            out["rf"] = {
                "replicas_moved": plan["replicas_moved"],
                "seconds": round(secs, 1),
                "checked_by_kafka": verify_with_kafka(home, boot, targets),
            }
            print(f"rf: {json.dumps(out['rf'])}", file=sys.stderr, flush=True)

            for step, goal, brokers_after in (("spread", "spread", [1, 2, 3, b4]), ("drain", "drain", [1, 2, 3])):
                lay = layout(admin, timeout=60)
                sizes = {tp: max(v.values()) for tp, v in replica_sizes(jadmin, sorted(lay.racks), timeout=60).items()}
                proposal = generate(home, boot, sorted(scope), brokers_after)
                plan, _result, secs = await execute(
                    client, {"goal": goal, "brokers": [b4], "throttle_bytes_per_s": throttle}
                )
                ours = {(m["topic"], m["partition"]): m["target"] for m in plan["moves"]}
                out[step] = {
                    "ours": figures(lay.assignment, ours, sizes, brokers_after, scope),
                    "generate": figures(lay.assignment, proposal, sizes, brokers_after, scope),
                    "estimated_s": plan["estimated_seconds"],
                    "seconds": round(secs, 1),
                    "checked_by_kafka": verify_with_kafka(home, boot, ours),
                }
                print(f"{step}: {json.dumps(out[step])}", file=sys.stderr, flush=True)  # kept if a later step fails
        remove_broker(home, name=NAME, node_id=b4, assume_yes=True)
        jadmin.close()
        out["throttles_left"] = not no_throttles(home, boot, [1, 2, 3], sorted(scope))
    finally:
        load.stop()
    acked, lost, duplicated = load.check()
    out["load"] = {"acked": acked, "lost": lost, "duplicated": duplicated, "errors": len(load.errors)}
    if not args.keep:
        stop_cluster(home, name=NAME, purge=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--topics", type=int, default=50)
    parser.add_argument("--mb", type=int, default=100, help="data in the topics before the scenario")
    parser.add_argument("--throttle", type=_size, default=_size("30MB"), help="replication throttle per broker")
    parser.add_argument("--new-rack", default="d", help="rack of the added broker (a, b or c to share one)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="leave the cluster running")
    args = parser.parse_args()
    out = anyio.run(scenario, args)
    print(json.dumps(out, indent=2))
    print()
    print(
        f"{'step':<28} {'':<10} {'replicas moved':>15} {'bytes moved':>14} {'max-min replicas':>17} "
        f"{'max-min leaders':>16}"
    )
    for step, label in (("spread", "spread onto broker 4"), ("drain", "drain broker 4")):
        for who in ("ours", "generate"):
            f = out[step][who]
            name = "ours" if who == "ours" else "--generate"
            print(
                f"{label:<28} {name:<10} {f['replicas_moved']:>15} {f['bytes_moved']:>14,} "
                f"{f['replicas_spread']:>17} {f['leaders_spread']:>16}"
            )
    lo = out["load"]
    print(
        f"\nload: {lo['acked']} records acknowledged, {lo['lost']} lost, {lo['duplicated']} duplicated, "
        f"{lo['errors']} producer errors; throttles left: {out['throttles_left']}"
    )


if __name__ == "__main__":
    main()
