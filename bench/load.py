"""Load over streamable HTTP: N client sessions mixing reads and writes against `kafka-agent serve --transport http`,
and, in the same run, against a floor: an MCPServer with the same tool names whose tools do nothing.

    uv run python bench/load.py [--sessions 1,20,50] [--seconds 20] [--soak 600] [--keep]

Per run it prints calls/s, p50/p99 latency and errors for both servers, the CPU each call cost the server, this load
client and the local Kafka JVMs, and the ratio of throughputs (goal at 20 sessions: >= 0.7x the floor, with p99 under
10x p50). ``--soak S`` then runs 20 sessions for S seconds against our
server and prints its resident memory every 30 s (it must stay flat); the soak creates no topics (a produce takes
their share), so the cluster and every listing stay the same size, and each 30 s opens 20 new sessions.

Workload per call: 30 % kafka_list_topics, 30 % kafka_describe_topic, 30 % kafka_consumer_lag (one group),
8 % kafka_produce (one record), 2 % kafka_create_topic (a new topic, deleted at the end).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import anyio
import httpx

ROOT = Path(__file__).resolve().parents[1]
# the project before bench/ (which Python puts first): bench/streams.py and bench/memory.py must not shadow the packages
sys.path.insert(0, str(ROOT))
NULL_SERVER = ROOT / "bench" / "null_server.py"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(cmd: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/", timeout=1)
            return proc
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"server {cmd} did not start") from None
            time.sleep(0.2)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; 0 when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def kafka_jvms() -> list[int]:
    """Local Kafka broker and controller JVMs (the cluster the calls reach, when it runs on this machine)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                cmd = (entry / "cmdline").read_bytes()
                if b"java" in cmd and b"kafka.Kafka" in cmd:
                    pids.append(int(entry.name))
    return pids


def cpu_snapshot(server: int) -> dict[str, float]:
    return {
        "server": cpu_s(server),
        "client": time.process_time(),
        "kafka": sum(cpu_s(pid) for pid in kafka_jvms()),
    }


def prepare(bootstrap: str) -> tuple[str, str]:
    """A topic with records and a group with committed offsets, for the read mix."""
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    topic, group = f"load-{uuid.uuid4().hex[:8]}", f"load-group-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, 6, 1)])[topic].result(30)
    prod = Producer({"bootstrap.servers": bootstrap})
    for i in range(6000):
        prod.produce(topic, key=str(i).encode(), value=b"x" * 100)
    prod.flush(30)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    consumer.commit(offsets=[TopicPartition(topic, p, 500) for p in range(6)], asynchronous=False)
    consumer.close()
    return topic, group


def pick(
    rng: random.Random, topic: str, group: str, created: list[str], *, steady: bool = False
) -> tuple[str, dict[str, Any]]:
    roll = rng.random()
    if steady and roll >= 0.98:
        roll = 0.9  # the soak: a produce instead of a new topic, so the cluster (and every listing) stays the same size
    if roll < 0.30:
        return "kafka_list_topics", {}
    if roll < 0.60:
        return "kafka_describe_topic", {"topic": topic}
    if roll < 0.90:
        return "kafka_consumer_lag", {"groups": [group]}
    if roll < 0.98:
        return "kafka_produce", {"topic": topic, "records": [{"key": "k", "value": "load"}]}
    name = f"load-new-{uuid.uuid4().hex[:10]}"
    created.append(name)
    return "kafka_create_topic", {"topic": name, "partitions": 1, "replication_factor": 1}


async def drive(
    url: str, sessions: int, seconds: float, topic: str, group: str, *, steady: bool = False
) -> dict[str, Any]:
    from mcp import Client

    latencies: list[float] = []
    errors: list[str] = []
    created: list[str] = []
    stop_at = time.monotonic() + seconds

    async def session(n: int) -> None:
        rng = random.Random(n)
        async with Client(url, raise_exceptions=False) as client:
            while time.monotonic() < stop_at:
                tool, args = pick(rng, topic, group, created, steady=steady)
                started = time.perf_counter()
                try:
                    result = await client.call_tool(tool, args)
                    if result.is_error:
                        errors.append(f"{tool}: {''.join(getattr(c, 'text', '') for c in result.content)[:200]}")
                except Exception as exc:  # a transport failure counts as an error, the run goes on
                    errors.append(f"{tool}: {exc!r}"[:200])
                latencies.append(time.perf_counter() - started)

    began = time.monotonic()
    async with anyio.create_task_group() as tg:
        for n in range(sessions):
            tg.start_soon(session, n)
    took = time.monotonic() - began
    latencies.sort()
    return {
        "calls": len(latencies),
        "rate": len(latencies) / took,
        "p50": statistics.median(latencies) * 1000 if latencies else 0.0,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000 if latencies else 0.0,
        "errors": errors,
        "created": created,
    }


async def tool_names(url: str) -> list[str]:
    from mcp import Client

    async with Client(url) as client:
        return [t.name for t in (await client.list_tools()).tools]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sessions", default="1,20,50")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of the memory soak at 20 sessions (0: none)")
    parser.add_argument("--bootstrap", help="an existing cluster (default: start the dev cluster 'bench-load')")
    parser.add_argument("--keep", action="store_true", help="leave the 'bench-load' cluster running afterwards")
    opts = parser.parse_args()

    bootstrap = opts.bootstrap
    if not bootstrap:
        from devcluster.cluster import up

        bootstrap = up(name="bench-load", progress=lambda _m: None).bootstrap_servers
    topic, group = prepare(bootstrap)
    ours_port, null_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as data:
        env = {**os.environ, "KAFKA_AGENT_DATA_DIR": data, "KAFKA_AGENT_BOOTSTRAP_SERVERS": bootstrap}
        ours = start(
            [sys.executable, "-m", "cli", "serve", "--transport", "http", "--port", str(ours_port)], env, ours_port
        )
        names = Path(data) / "tool-names.txt"
        names.write_text("\n".join(anyio.run(tool_names, f"http://127.0.0.1:{ours_port}/mcp")))
        null = start([sys.executable, str(NULL_SERVER), str(null_port), str(names)], env, null_port)
        created: list[str] = []
        try:
            print(f"{'sessions':>8} | {'server':<18} | {'calls/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | errors")
            for sessions in [int(s) for s in opts.sessions.split(",")]:
                rows = {}
                for name, port, proc in (
                    ("floor (no-op tools)", null_port, null),
                    ("kafka-agent serve", ours_port, ours),
                ):
                    before = cpu_snapshot(proc.pid)
                    r = anyio.run(drive, f"http://127.0.0.1:{port}/mcp", sessions, opts.seconds, topic, group)
                    after = cpu_snapshot(proc.pid)
                    r["cpu_ms"] = {k: (after[k] - before[k]) * 1000 / max(r["calls"], 1) for k in after}
                    created += r["created"] if port == ours_port else []
                    rows[name] = r
                    print(
                        f"{sessions:>8} | {name:<18} | {r['rate']:>8.1f} | {r['p50']:>7.1f} | {r['p99']:>7.1f} | "
                        f"{len(r['errors'])}" + (f" (first: {r['errors'][0]})" if r["errors"] else "")
                    )
                    cpu = r["cpu_ms"]
                    print(
                        f"{'':>8} | {'':<18} | CPU a call: server {cpu['server']:.2f} ms, load client "
                        f"{cpu['client']:.2f} ms, local Kafka JVMs {cpu['kafka']:.2f} ms"
                    )
                ratio = rows["kafka-agent serve"]["rate"] / max(rows["floor (no-op tools)"]["rate"], 1e-9)
                ours_row = rows["kafka-agent serve"]
                print(
                    f"{'':>8} | ratio {ratio:.2f}x the floor; our p99/p50 = "
                    f"{ours_row['p99'] / max(ours_row['p50'], 1e-9):.1f}"
                )
            if opts.soak:
                print(f"soak: 20 sessions for {opts.soak:.0f} s, resident memory of kafka-agent serve:")
                samples = [rss_mb(ours.pid)]
                print(f"  t=0 s: {samples[0]:.0f} MB")
                elapsed = 0.0
                while elapsed < opts.soak:
                    chunk = min(30.0, opts.soak - elapsed)
                    r = anyio.run(
                        functools.partial(drive, steady=True),
                        f"http://127.0.0.1:{ours_port}/mcp",
                        20,
                        chunk,
                        topic,
                        group,
                    )
                    created += r["created"]
                    elapsed += chunk
                    samples.append(rss_mb(ours.pid))
                    rate, errs = r["rate"], len(r["errors"])
                    print(f"  t={elapsed:.0f} s: {samples[-1]:.0f} MB ({rate:.0f} calls/s, {errs} errors)")
                half = len(samples) // 2
                print(f"  growth over the second half: {samples[-1] - samples[half]:+.0f} MB")
        finally:
            ours.terminate()
            null.terminate()
            from confluent_kafka.admin import AdminClient

            admin = AdminClient({"bootstrap.servers": bootstrap})
            for names in [created[i : i + 500] for i in range(0, len(created), 500)] + [[topic]]:
                for fut in admin.delete_topics(names).values():
                    with contextlib.suppress(Exception):  # a topic that was not created is fine here
                        fut.result(30)
            if not opts.bootstrap and not opts.keep:
                from cli.devcluster import stop_cluster

                stop_cluster(name="bench-load", purge=True, progress=lambda _m: None)


if __name__ == "__main__":
    main()
