"""Burrow 1.2.1 (Debian's ``burrow`` package) beside our lag evaluation (``core.kafka.lag_eval``), issue 19.

    uv run python bench/burrow_compare.py                  # both parts and a table (~2.5 min, jars cached)
    uv run python bench/burrow_compare.py --skip-kafka4    # only the side-by-side run on Kafka 3.9.1
    uv run python bench/burrow_compare.py --skip-kafka39   # only the Kafka 4 evidence
    uv run python bench/burrow_compare.py --json           # the results as JSON on stdout

Part 1, Kafka 4 (a one-broker dev cluster ``bench-burrow`` of the project's Kafka, stopped and purged after): why
Burrow 1.2.1 cannot monitor it. Burrow's kafka-version table ends at 2.1.0 (a newer version makes it panic), and its
cluster module asks for log end offsets with ListOffsets v0, which Kafka 4.0 removed (KIP-896): the broker logs an
``UnsupportedVersionException`` and closes the connection, Burrow logs ``failed to fetch offsets from broker`` and
knows no topic, so every group is NOTFOUND. Its consumer module cannot decode the offset commits Kafka 4 writes either
(value version 4; it knows 0, 1 and 3). Our evaluation of the same group on the same cluster is printed beside.

Part 2, Kafka 3.9.1 (still answers ListOffsets v0; its jars resolved with ``mvn`` into the dev-cluster home once): one
KRaft node on free loopback ports, ZooKeeper for Burrow's coordinator, Burrow, and five scenarios run at the same time,
each with its own topic, group, a producer at 100 records/s and a consumer committing every 500 ms. Both sides are
polled every second; a table says what each settled on, how long it took, and whether they agree:

    steady          the consumer keeps up                                   expect OK
    stopped         the consumer closes, the producer goes on               expect STOP (or STALL)
    slow            the consumer reads 20 records/s of 100                  expect WARN
    rewind          steady, then the group's offset is reset to 0           expect Burrow REWIND, ours ERROR
    rewind-lagging  as rewind, but the consumer never caught up (lag > 0)  expect Burrow REWIND, ours ERROR

Windows: Burrow keeps ``intervals`` = 6 commits per partition at least ``min-distance`` = 2 s apart (about 10 s of
commits), refreshes log end offsets every second and caches an evaluation for 1 s; ours samples every second into
``LagWindow(window_s=10, stop_s=20)``, the evaluation ``kafka-agent lag --watch`` uses. Processes started here
(ZooKeeper, Burrow, the 3.9.1 broker, the dev cluster) are stopped when the run ends, also on failure.
"""

from __future__ import annotations

import argparse
import base64
import collections
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.watch_soak import Loop

NAME = "bench-burrow"
KAFKA39 = "3.9.1"
ZK_VERSION = "3.9.5"
BURROW = "Burrow"
WINDOW_S = 10.0  # ours: lag_window_s
STOP_S = 20.0  # ours: lag_stop_s
SAMPLE_S = 1.0  # both sides are read this often
COMMIT_MS = 500  # consumers' auto.commit.interval.ms
RATE = 100  # records/s per producer
BURROW_INTERVALS = 6  # commits kept per partition ...
BURROW_MIN_DISTANCE = 2  # ... at least this many seconds apart: about WINDOW_S of commits
BURROW_OFFSET_REFRESH = 1  # seconds between Burrow's log end offset fetches
EVENT_AT = 20.0  # seconds into the run when the faults happen (both windows are full by then)
SETTLE_S = 60.0  # how long after a fault both sides may take to show it
# Burrow's partition statuses, in our words (a group's ERR is one of STOP, STALL, REWIND on a partition).
BURROW_TO_OURS = {"REWIND": "ERROR", "ERR": "ERROR"}
STOPPED = {"STALL", "STOP"}


def log(message: str) -> None:
    sys.stderr.write(f"[burrow-compare] {time.strftime('%H:%M:%S')} {message}\n")
    sys.stderr.flush()


def free_ports(count: int) -> list[int]:
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()


def listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_until(what: str, check: Callable[[], bool], *, timeout: float, proc: Proc | None = None) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if proc is not None and proc.popen.poll() is not None:
            raise RuntimeError(
                f"{proc.name} exited (code {proc.popen.returncode}) while waiting for {what}; see {proc.log}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.5)


# --- processes -----------------------------------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path


class Processes:
    """The processes this run started; ``stop_all`` ends them (newest first) by their own pid."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def start(self, name: str, cmd: list[str], log_file: Path, cwd: Path) -> Proc:
        out: IO[bytes] = open(log_file, "ab")  # noqa: SIM115 - handed to the child process
        try:
            popen = subprocess.Popen(
                cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            out.close()
        proc = Proc(name, popen, log_file)
        self.procs.append(proc)
        log(f"started {name} (pid {popen.pid}), log {log_file}")
        return proc

    def stop(self, proc: Proc, timeout: float = 20.0) -> None:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGTERM)
            try:
                proc.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(10)
            log(f"stopped {proc.name} (pid {proc.popen.pid})")
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        for proc in reversed(list(self.procs)):
            try:
                self.stop(proc)
            except Exception as exc:
                log(f"could not stop {proc.name} (pid {proc.popen.pid}): {exc}")


# --- jars ----------------------------------------------------------------------------------------------------------


def resolve_jars(target: Path, artifacts: list[str]) -> Path:
    """``groupId:artifactId:version`` artifacts and their runtime dependencies, copied by mvn into ``target`` once."""
    if (target / ".resolved").exists():
        return target
    if shutil.which("mvn") is None:
        raise RuntimeError("mvn is not on PATH")
    log(f"resolving {', '.join(artifacts)} with mvn into {target} (first run only) ...")
    deps = "".join(
        f"<dependency><groupId>{g}</groupId><artifactId>{a}</artifactId><version>{v}</version></dependency>"
        for g, a, v in (x.split(":") for x in artifacts)
    )
    pom = (
        '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
        "<groupId>local.bench</groupId><artifactId>burrow-compare-jars</artifactId><version>1</version>"
        f"<packaging>pom</packaging><dependencies>{deps}</dependencies></project>\n"
    )
    partial = target.with_name(target.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / "pom.xml").write_text(pom, encoding="utf-8")
    cmd = ["mvn", "-B", "-q", "-f", str(partial / "pom.xml"), "dependency:copy-dependencies"]
    cmd += ["-DincludeScope=runtime", f"-DoutputDirectory={partial}"]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"mvn failed (exit {proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    jars = len(list(partial.glob("*.jar")))
    (partial / ".resolved").write_text(f"{jars} jars\n", encoding="utf-8")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(partial, target)
    log(f"resolved {jars} jars into {target}")
    return target


def java(heap: str, lib: Path, main_class: str, *args: str, props: tuple[str, ...] = ()) -> list[str]:
    java_bin = shutil.which("java") or "java"
    head = [java_bin, f"-Xmx{heap}", "-XX:+UseSerialGC", "-Djava.awt.headless=true", *props]
    return [*head, "-cp", f"{lib}/*", main_class, *args]


# --- ZooKeeper (Burrow's coordinator needs one) --------------------------------------------------------------------


def start_zookeeper(procs: Processes, services: Path, work: Path) -> int:
    lib = resolve_jars(
        services / f"zookeeper-{ZK_VERSION}" / "lib",
        [
            f"org.apache.zookeeper:zookeeper:{ZK_VERSION}",
            "io.dropwizard.metrics:metrics-core:4.2.30",
            "org.xerial.snappy:snappy-java:1.1.10.7",
            "org.slf4j:slf4j-simple:2.0.13",
        ],
    )
    zdir = work / "zookeeper"
    (zdir / "data").mkdir(parents=True)
    (port,) = free_ports(1)
    cfg = zdir / "zoo.cfg"
    cfg.write_text(
        f"tickTime=2000\ndataDir={zdir / 'data'}\nclientPort={port}\nclientPortAddress=127.0.0.1\n"
        "admin.enableServer=false\n",
        encoding="utf-8",
    )
    proc = procs.start(
        "zookeeper",
        java("128m", lib, "org.apache.zookeeper.server.ZooKeeperServerMain", str(cfg)),
        zdir / "zookeeper.log",
        zdir,
    )
    wait_until(f"ZooKeeper on 127.0.0.1:{port}", lambda: listening(port), timeout=60, proc=proc)
    return port


# --- Burrow ---------------------------------------------------------------------------------------------------------


@dataclass
class BurrowRun:
    proc: Proc
    url: str
    config_dir: Path


def burrow_config(run_dir: Path, *, zk_port: int, bootstrap: str, http_port: int, kafka_version: str) -> str:
    return f"""[general]
pidfile="{run_dir}/burrow.pid"

[logging]
level="info"

[zookeeper]
servers=["127.0.0.1:{zk_port}"]
timeout=6
root-path="/burrow-{run_dir.name}"

[client-profile.k]
client-id="burrow-compare"
kafka-version="{kafka_version}"

[cluster.local]
class-name="kafka"
servers=["{bootstrap}"]
client-profile="k"
topic-refresh=5
offset-refresh={BURROW_OFFSET_REFRESH}

[consumer.local]
class-name="kafka"
cluster="local"
servers=["{bootstrap}"]
client-profile="k"
offsets-topic="__consumer_offsets"
start-latest=false

[httpserver.default]
address="127.0.0.1:{http_port}"

[storage.default]
class-name="inmemory"
workers=4
intervals={BURROW_INTERVALS}
expire-group=604800
min-distance={BURROW_MIN_DISTANCE}

[evaluator.default]
class-name="caching"
expire-cache=1
"""


def start_burrow(
    procs: Processes, work: Path, name: str, *, zk_port: int, bootstrap: str, kafka_version: str = "2.0.0"
) -> BurrowRun:
    run_dir = work / name
    run_dir.mkdir(parents=True)
    (http_port,) = free_ports(1)
    (run_dir / "burrow.toml").write_text(
        burrow_config(run_dir, zk_port=zk_port, bootstrap=bootstrap, http_port=http_port, kafka_version=kafka_version),
        encoding="utf-8",
    )
    proc = procs.start(name, [BURROW, "-config-dir", str(run_dir)], run_dir / "burrow.log", run_dir)
    url = f"http://127.0.0.1:{http_port}"
    wait_until(f"{name}'s HTTP API", lambda: http_get(f"{url}/burrow/admin")[0] == 200, timeout=60, proc=proc)
    return BurrowRun(proc, url, run_dir)


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status), resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read().decode("utf-8", "replace")
    except OSError:
        return 0, ""


@dataclass
class BurrowAnswer:
    group_status: str  # OK WARN ERR STOP STALL NOTFOUND (or "?" when it did not answer)
    partitions: list[str]  # the partition statuses, in partition order
    total_lag: int | None
    raw: str

    @property
    def comparable(self) -> str:
        """The worst partition status in our words (REWIND -> ERROR); the group status when there is none."""
        order = ["OK", "WARN", "STALL", "STOP", "REWIND"]
        worst = max(self.partitions, key=lambda s: order.index(s) if s in order else -1, default=None)
        status = worst or self.group_status
        return BURROW_TO_OURS.get(status, status)

    @property
    def shown(self) -> str:
        parts = ",".join(self.partitions)
        return f"{self.group_status} [{parts}]" if parts else self.group_status


def burrow_lag(url: str, group: str) -> BurrowAnswer:
    code, body = http_get(f"{url}/v3/kafka/local/consumer/{group}/lag")
    try:
        data = json.loads(body) if body else {}
    except ValueError:
        data = {}
    status = data.get("status") if isinstance(data, dict) else None
    if code == 404 or (isinstance(data, dict) and data.get("error") and not status):
        return BurrowAnswer("NOTFOUND", [], None, body.strip()[:300])
    if not isinstance(status, dict):
        return BurrowAnswer("?", [], None, f"HTTP {code}: {body.strip()[:300]}")
    parts = sorted(status.get("partitions") or [], key=lambda p: (p.get("topic", ""), p.get("partition", 0)))
    return BurrowAnswer(
        str(status.get("status")),
        [str(p.get("status")) for p in parts],
        status.get("totallag"),
        body.strip()[:300],
    )


# --- load -----------------------------------------------------------------------------------------------------------


class Producer(Loop):
    """``rate`` records/s to one topic."""

    def __init__(self, bootstrap: str, topic: str, rate: int = RATE) -> None:
        super().__init__(f"producer-{topic}")
        self.bootstrap, self.topic, self.rate = bootstrap, topic, rate
        self.sent = 0

    def body(self, stop: threading.Event) -> None:
        from confluent_kafka import Producer as KProducer

        p = KProducer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, "log_level": 0})
        per_tick = max(1, self.rate // 20)
        next_at = time.monotonic()
        while not stop.is_set():
            for _ in range(per_tick):
                p.produce(self.topic, value=b"x" * 100)
                self.sent += 1
            p.poll(0)
            next_at += per_tick / self.rate
            stop.wait(max(0.0, next_at - time.monotonic()))
        p.flush(15)


class Consumer(Loop):
    """A group member committing (auto commit) every ``COMMIT_MS``; ``rate`` caps the records it takes per second."""

    def __init__(self, bootstrap: str, topic: str, group: str, rate: float | None = None) -> None:
        super().__init__(f"consumer-{group}")
        self.bootstrap, self.topic, self.group, self.rate = bootstrap, topic, group, rate
        self.consumed = 0

    def body(self, stop: threading.Event) -> None:
        from confluent_kafka import Consumer as KConsumer

        c = KConsumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": True,
                "auto.commit.interval.ms": COMMIT_MS,
                "session.timeout.ms": 6000,
                "log_level": 0,
            }
        )
        c.subscribe([self.topic])
        next_at = time.monotonic()
        try:
            while not stop.is_set():
                msg = c.poll(0.2)
                if msg is None or msg.error():
                    continue
                self.consumed += 1
                if self.rate:
                    next_at = max(next_at + 1 / self.rate, time.monotonic() - 1)
                    stop.wait(max(0.0, next_at - time.monotonic()))
        finally:
            c.close()  # commits the position and leaves the group


def admin_client(bootstrap: str) -> Any:
    from confluent_kafka.admin import AdminClient

    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def create_topics(bootstrap: str, topics: list[str]) -> None:
    from confluent_kafka.admin import NewTopic

    admin = admin_client(bootstrap)  # kept referenced until the futures are done
    futures = admin.create_topics([NewTopic(t, 1, 1) for t in topics])
    for future in futures.values():
        future.result(60)


def set_offset(bootstrap: str, group: str, topic: str, offset: int) -> None:
    """Commit ``offset`` for the group on partition 0 (the group must have no member)."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = admin_client(bootstrap)
    last: Exception | None = None
    for _ in range(20):
        try:
            futures = admin.alter_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0, offset)])]
            )
            for future in futures.values():
                future.result(30)
            return
        except Exception as exc:  # the group may still be leaving
            last = exc
            time.sleep(0.5)
    raise RuntimeError(f"could not reset {group} on {topic}: {last}")


def produce(bootstrap: str, topic: str, count: int) -> None:
    from confluent_kafka import Producer as KProducer

    p = KProducer({"bootstrap.servers": bootstrap, "linger.ms": 5, "log_level": 0})
    for _ in range(count):
        p.produce(topic, value=b"x" * 100)
    p.flush(30)


def wait_for_commit(bootstrap: str, group: str, topic: str) -> None:
    """Until the group has committed an offset on partition 0."""
    from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition

    admin = admin_client(bootstrap)

    def committed() -> bool:
        try:
            futures = admin.list_consumer_group_offsets(
                [ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])]
            )
            result = next(iter(futures.values())).result(10)
            return any(tp.offset >= 0 for tp in result.topic_partitions)
        except Exception:
            return False

    wait_until(f"a commit of {group}", committed, timeout=60)


def wait_for_offsets_topic(bootstrap: str) -> None:
    def ready() -> bool:
        meta = admin_client(bootstrap).list_topics(timeout=5)
        topic = meta.topics.get("__consumer_offsets")
        return bool(topic and topic.partitions and all(p.leader >= 0 for p in topic.partitions.values()))

    wait_until("__consumer_offsets", ready, timeout=60)


# --- our side -------------------------------------------------------------------------------------------------------


@dataclass
class OurAnswer:
    status: str
    reason: str
    total_lag: int


class Ours:
    """What ``kafka-agent lag --watch`` does: ``consumer_lag`` each round, fed into a ``LagWindow`` and judged."""

    def __init__(self, bootstrap: str, data_dir: Path) -> None:
        from core.kafka.clients import KafkaClients
        from core.kafka.lag import EndOffsetCache
        from core.kafka.lag_eval import LagWindow
        from core.settings import Settings

        self.settings = Settings(
            bootstrap_servers=bootstrap,
            data_dir=data_dir,
            request_timeout_s=10.0,
            lag_window_s=WINDOW_S,
            lag_stop_s=STOP_S,
            lag_sample_s=0,
        )
        self.clients = KafkaClients(self.settings)
        self.cfg = self.clients.cluster(None)
        self.cache = EndOffsetCache(ttl=0)
        self.window = LagWindow(window_s=self.settings.lag_window_s, stop_s=self.settings.lag_stop_s)

    def sample(self, groups: list[str]) -> dict[str, OurAnswer]:
        from core.kafka.lag import consumer_lag

        report = consumer_lag(
            self.clients.admin(self.cfg.name),
            cluster=self.cfg.name,
            cache=self.cache,
            timeout=self.settings.request_timeout_s,
            groups=groups,
            include_partitions=True,
        )
        now = time.time()
        self.window.feed(self.cfg.name, report, at=now)
        out: dict[str, OurAnswer] = {}
        for group in groups:
            st = self.window.group_status(self.cfg.name, group, now=now)
            out[group] = OurAnswer(st.status, st.reason, st.total_lag)
        return out

    def close(self) -> None:
        self.clients.close()


# --- part 1: Kafka 4 ------------------------------------------------------------------------------------------------

# The fields of Burrow's warnings and errors worth counting them by (not offsets, timestamps, group names).
BURROW_DETAILS = ("sarama_error", "coordinator", "message_type", "reason", "version")
UNSUPPORTED = re.compile(r"Received request for api with key (\d+) \((\w+)\) and unsupported version (\d+)")


def kafka4_part(procs: Processes, work: Path, zk_port: int, observe_s: float) -> dict[str, Any]:
    from cli.devcluster import stop_cluster
    from core.settings import Settings
    from devcluster import cluster
    from devcluster.jars import kafka_version

    home = Settings().resolved_devcluster_home()
    result: dict[str, Any] = {"kafka_version": kafka_version(), "cluster": NAME}
    ours: Ours | None = None
    loads: list[Loop] = []
    before = len(procs.procs)
    try:
        log(f"starting dev cluster {NAME!r} (Kafka {kafka_version()}, one broker)")
        state = cluster.up(home, name=NAME, brokers=1, base_port=0, heap="384m")
        bootstrap = state.bootstrap_servers
        server_log = Path(state.nodes[0].log_file)
        tag = uuid.uuid4().hex[:6]
        topic, group = f"k4-steady-{tag}", f"k4-steady-{tag}-g"
        create_topics(bootstrap, [topic])
        loads = [Producer(bootstrap, topic), Consumer(bootstrap, topic, group)]
        for load in loads:
            load.start()
        set_offset(bootstrap, f"k4-seed-{tag}", topic, 0)  # Burrow's consumer module needs __consumer_offsets
        wait_for_offsets_topic(bootstrap)
        wait_for_commit(bootstrap, group, topic)
        ours = Ours(bootstrap, work / "k4-data")

        # Newer client versions are not in Burrow 1.2.1's table: it panics while reading its configuration.
        newer = start_burrow_expecting_exit(procs, work, zk_port=zk_port, bootstrap=bootstrap, kafka_version="2.8.0")
        result["kafka_version_2_8_0"] = newer

        log_offset = server_log.stat().st_size
        burrow = start_burrow(procs, work, "burrow-k4", zk_port=zk_port, bootstrap=bootstrap)
        log(f"Burrow (kafka-version 2.0.0) on Kafka {kafka_version()}: watching for {observe_s:.0f}s")
        answers: list[str] = []
        our_answer: OurAnswer | None = None
        our_seen: list[str] = []  # each change of our status, seconds after Burrow started
        our_lags: list[int] = []
        started = time.monotonic()
        deadline = time.monotonic() + observe_s
        while time.monotonic() < deadline:
            answers.append(burrow_lag(burrow.url, group).shown)
            with contextlib.suppress(Exception):  # a slow round: the next one tries again
                our_answer = ours.sample([group])[group]
                our_lags.append(our_answer.total_lag)
                if not our_seen or not our_seen[-1].startswith(f"{our_answer.status}@"):
                    our_seen.append(f"{our_answer.status}@{time.monotonic() - started:+.0f}s")
            time.sleep(SAMPLE_S)
        answer = burrow_lag(burrow.url, group)
        topics_code, topics_body = http_get(f"{burrow.url}/v3/kafka/local/topic")
        procs.stop(burrow.proc)

        broker_lines = server_log.read_bytes()[log_offset:].decode("utf-8", "replace").splitlines()
        unsupported = collections.Counter(
            f"{m.group(2)} v{m.group(3)} (api key {m.group(1)})"
            for line in broker_lines
            if (m := UNSUPPORTED.search(line))
        )
        listoffsets_v0 = [line for line in broker_lines if UNSUPPORTED.search(line) and "(ListOffsets)" in line]
        listoffsets_v0 = [line for line in listoffsets_v0 if "unsupported version 0" in line]
        burrow_lines = burrow.proc.log.read_text(encoding="utf-8", errors="replace").splitlines()
        errors: collections.Counter[str] = collections.Counter()
        fetch_errors: list[str] = []
        for line in burrow_lines:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("level") in ("error", "warn"):
                details = ", ".join(f"{k}={entry[k]}" for k in BURROW_DETAILS if k in entry)
                errors[f"{entry.get('level')}: {entry.get('msg')} ({details})"] += 1
                if "failed to fetch offsets" in str(entry.get("msg")):
                    fetch_errors.append(line)
        topics = None
        with contextlib.suppress(ValueError):
            topics = json.loads(topics_body).get("topics")
        result.update(
            {
                "bootstrap": bootstrap,
                "group": group,
                "observed_s": observe_s,
                "broker_listoffsets_v0_rejections": len(listoffsets_v0),
                "broker_listoffsets_v0_example": listoffsets_v0[0].strip()[:400] if listoffsets_v0 else None,
                "broker_unsupported_requests": dict(unsupported),
                "burrow_fetch_offsets_errors": len(fetch_errors),
                "burrow_fetch_offsets_example": fetch_errors[0][:400] if fetch_errors else None,
                "burrow_error_lines": dict(errors),
                "burrow_topics": {"http": topics_code, "topics": topics},
                "burrow_group": {"status": answer.shown, "answer": answer.raw},
                "burrow_group_answers_seen": sorted(set(answers)),
                "ours": asdict(our_answer) if our_answer else None,
                "ours_seen": our_seen,
                "ours_lags": our_lags,
            }
        )
        return result
    finally:
        for load in loads:
            with contextlib.suppress(Exception):
                load.stop()
        if ours is not None:
            ours.close()
        for proc in reversed(procs.procs[before:]):  # Burrow, before the cluster it watches
            procs.stop(proc)
        log(f"stopping and purging dev cluster {NAME!r}")
        try:
            stop_cluster(home, name=NAME, purge=True)
        except Exception as exc:
            log(f"could not stop {NAME!r}: {exc}")


def start_burrow_expecting_exit(
    procs: Processes, work: Path, *, zk_port: int, bootstrap: str, kafka_version: str
) -> dict[str, Any]:
    """Start Burrow with a kafka-version it does not know; it should exit at once. Its last words and exit code."""
    run_dir = work / f"burrow-{kafka_version}"
    run_dir.mkdir(parents=True)
    (http_port,) = free_ports(1)
    (run_dir / "burrow.toml").write_text(
        burrow_config(run_dir, zk_port=zk_port, bootstrap=bootstrap, http_port=http_port, kafka_version=kafka_version),
        encoding="utf-8",
    )
    proc = procs.start(
        f"burrow-{kafka_version}", [BURROW, "-config-dir", str(run_dir)], run_dir / "burrow.log", run_dir
    )
    try:
        code: int | None = proc.popen.wait(30)
    except subprocess.TimeoutExpired:
        code = None
    procs.stop(proc)
    text = proc.log.read_text(encoding="utf-8", errors="replace")
    panic = next((line.strip() for line in text.splitlines() if "Unknown Kafka Version" in line), None)
    return {"exit_code": code, "panic": panic}


# --- part 2: Kafka 3.9.1 side by side -------------------------------------------------------------------------------

LOG4J = """log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.kafka.log=WARN
log4j.logger.state.change.logger=WARN
"""


def start_kafka39(procs: Processes, services: Path, work: Path) -> str:
    lib = resolve_jars(
        services / f"kafka-{KAFKA39}" / "lib",
        [
            f"org.apache.kafka:kafka_2.13:{KAFKA39}",
            f"org.apache.kafka:kafka-server-common:{KAFKA39}",
            "org.slf4j:slf4j-reload4j:1.7.36",
        ],
    )
    kdir = work / f"kafka-{KAFKA39}"
    kdir.mkdir(parents=True)
    port, cport = free_ports(2)
    props = kdir / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{cport}",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{cport}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                "controller.listener.names=CONTROLLER",
                "inter.broker.listener.name=PLAINTEXT",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={kdir / 'data'}",
                "num.partitions=1",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=3",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "auto.create.topics.enable=false",
                "num.network.threads=2",
                "num.io.threads=2",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    (kdir / "log4j.properties").write_text(LOG4J, encoding="utf-8")
    log4j = f"-Dlog4j.configuration=file:{kdir / 'log4j.properties'}"
    # A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (what `StorageTool random-uuid` prints).
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    while cluster_id.startswith("-"):
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    fmt = subprocess.run(
        java("256m", lib, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props), props=(log4j,)),
        capture_output=True,
        text=True,
        check=False,
    )
    if fmt.returncode != 0:
        raise RuntimeError(
            f"StorageTool format failed (exit {fmt.returncode}): {fmt.stdout[-1500:]}{fmt.stderr[-1500:]}"
        )
    proc = procs.start(
        f"kafka-{KAFKA39}",
        java("384m", lib, "kafka.Kafka", str(props), props=(log4j,)),
        kdir / "server.log",
        kdir,
    )
    bootstrap = f"127.0.0.1:{port}"

    def ready() -> bool:
        if not listening(port):
            return False
        try:
            return len(admin_client(bootstrap).list_topics(timeout=3).brokers) == 1
        except Exception:
            return False

    wait_until(f"Kafka {KAFKA39} on {bootstrap}", ready, timeout=120, proc=proc)
    log(f"Kafka {KAFKA39} ready on {bootstrap}")
    return bootstrap


@dataclass
class Reading:
    at: float  # seconds since the scenario's event (negative: before it)
    burrow: str  # comparable
    burrow_shown: str
    burrow_lag: int | None
    ours: str
    ours_reason: str
    ours_lag: int


@dataclass
class Scenario:
    name: str
    what: str
    expect_burrow: tuple[str, ...]  # in our words (REWIND -> ERROR)
    expect_ours: tuple[str, ...]
    hold: bool = False  # the status must hold the whole run (steady), rather than be reached after the event
    lasting: bool = True  # once reached, the status should stay (not so after a rewind, which leaves the window)
    consumer_rate: float | None = None
    backlog: int = 0
    topic: str = ""
    group: str = ""
    event_at: float | None = None  # wall clock (time.time()) of the event
    readings: list[Reading] = field(default_factory=list)
    producer: Producer | None = None
    consumer: Consumer | None = None


SCENARIOS: list[tuple[str, str, tuple[str, ...], tuple[str, ...], bool, float | None, int]] = [
    ("steady", "consumer keeps up", ("OK",), ("OK",), True, None, 0),
    ("stopped", "consumer closes, producer goes on", ("STOP", "STALL"), ("STOP", "STALL"), False, None, 0),
    ("slow", "consumer takes 20 rec/s of 100", ("WARN",), ("WARN",), False, 20.0, 0),
    ("rewind", "steady, then offset reset to 0", ("ERROR",), ("ERROR",), False, None, 0),
    ("rewind-lagging", "70 rec/s of 100 (lag > 0), reset to 0", ("ERROR",), ("ERROR",), False, 70.0, 300),
]


def drive(sc: Scenario, bootstrap: str, start: float, errors: list[str]) -> None:
    """The scenario's fault at ``EVENT_AT`` seconds into the run."""
    try:
        time.sleep(max(0.0, start + EVENT_AT - time.time()))
        assert sc.consumer is not None
        if sc.name == "stopped":
            sc.consumer.stop()
            sc.event_at = time.time()
        elif sc.name.startswith("rewind"):
            sc.consumer.stop()
            set_offset(bootstrap, sc.group, sc.topic, 0)
            sc.event_at = time.time()
            log(f"{sc.name}: {sc.group} reset to offset 0 (was at {sc.consumer.consumed})")
            time.sleep(2)
            sc.consumer = Consumer(bootstrap, sc.topic, sc.group, sc.consumer_rate)
            sc.consumer.start()
    except Exception as exc:
        errors.append(f"{sc.name}: {exc}")


@dataclass
class Verdict:
    status: str  # what the side settled on (hold: the status shown most once the windows were full)
    after_s: float | None  # seconds after the event it was first shown (None: the expected status never was)
    seen: list[str]  # each change of status, with when
    also: dict[str, int]  # other statuses shown after that (lasting scenarios), in samples of SAMPLE_S


def settled(sc: Scenario, side: str) -> Verdict:
    """What one side made of a scenario."""
    expect = sc.expect_burrow if side == "burrow" else sc.expect_ours
    rows = [(r.at, r.burrow if side == "burrow" else r.ours) for r in sc.readings]
    seen: list[str] = []
    last: str | None = None
    for at, status in rows:
        if status != last:
            seen.append(f"{status}@{at:+.0f}s")
            last = status
    if sc.hold:  # judged once both windows are full
        late = collections.Counter(s for at, s in rows if at >= WINDOW_S + 2)
        status = late.most_common(1)[0][0] if late else "?"
        first = next((at for at, s in rows if s == status), None)
        return Verdict(status, first, seen, {s: n for s, n in late.items() if s != status})
    reached = next(((at, s) for at, s in rows if at >= 0 and s in expect), None)
    if reached is None:
        after = [s for at, s in rows if at >= 0]
        status = after[-1] if after else "?"
        return Verdict(status, None, seen, dict(collections.Counter(s for s in after if s != status)))
    at, status = reached
    also = collections.Counter(s for t, s in rows if t >= at and s != status) if sc.lasting else {}
    return Verdict(status, at, seen, dict(also))


def explain(sc: Scenario, burrow: str, ours: str) -> str:
    """One line on why the two verdicts differ."""
    if burrow == ours:
        return ""
    if {burrow, ours} <= STOPPED:
        return "both flag the stopped consumer (STALL and STOP differ only in how long it has been)"
    if sc.name == "rewind" and burrow == "OK" and ours == "ERROR":
        return (
            "Burrow checks REWIND only when every commit in its window had lag > 0 (rule 1: one zero-lag commit "
            "means OK), and the steady consumer's commits before the reset had zero lag; ours flags any offset that "
            "goes back within its window"
        )
    if burrow == "NOTFOUND":
        return "Burrow has no commit of the group it could store"
    if ours == "UNKNOWN":
        return "our window was not full"
    last = sc.readings[-1] if sc.readings else None
    return f"ours: {last.ours_reason}" if last else ""


def explain_also(sc: Scenario, side: str, also: dict[str, int]) -> list[str]:
    """What the other statuses a side showed (after settling) were, for the patterns known to cause them."""
    notes = []
    for status, count in sorted(also.items()):
        if side == "ours" and status == "WARN" and sc.name in ("steady", "stopped"):
            first = next(i for i, r in enumerate(sc.readings) if r.ours == "WARN" and r.at >= 0)
            lags = [r.ours_lag for r in sc.readings[max(0, first - int(WINDOW_S / SAMPLE_S)) : first + 1]]
            why = (
                "the lag sampled over the window never went down and ended higher"
                if sc.name == "steady"
                else "the lag grew while the offset had stood still for less than the window"
            )
            notes.append(
                f"ours WARN for {count} sample(s): {why} (lags {lags}); Burrow never warns while a commit in its "
                "window had zero lag (its rule 1)"
            )
        elif side == "burrow" and status == "OK" and sc.name == "slow":
            notes.append(
                f"Burrow OK for {count} sample(s): it computes each stored commit's lag against the log end offset "
                "it last fetched (every second), and its newest stored commit can be only 500 ms after the one "
                "before (min-distance overwrites a slot in place), so the lag can dip between them and its rule 5 "
                "(lag never decreased) fails for a moment"
            )
        else:
            notes.append(f"{'Burrow' if side == 'burrow' else 'ours'} also showed {status} for {count} sample(s)")
    return notes


def kafka39_part(procs: Processes, services: Path, work: Path, zk_port: int) -> dict[str, Any]:
    bootstrap = start_kafka39(procs, services, work)
    tag = uuid.uuid4().hex[:6]
    scenarios = [
        Scenario(
            name,
            what,
            eb,
            eo,
            hold=hold,
            lasting=not name.startswith("rewind"),
            consumer_rate=rate,
            backlog=backlog,
            topic=f"bc-{name}-{tag}",
            group=f"bc-{name}-{tag}-g",
        )
        for name, what, eb, eo, hold, rate, backlog in SCENARIOS
    ]
    create_topics(bootstrap, [sc.topic for sc in scenarios])
    for sc in scenarios:
        if sc.backlog:
            produce(bootstrap, sc.topic, sc.backlog)
    set_offset(bootstrap, f"bc-seed-{tag}", scenarios[0].topic, 0)  # creates __consumer_offsets before Burrow
    wait_for_offsets_topic(bootstrap)
    burrow = start_burrow(procs, work, "burrow-k39", zk_port=zk_port, bootstrap=bootstrap)

    def burrow_knows_topics() -> bool:
        code, body = http_get(f"{burrow.url}/v3/kafka/local/topic")
        return code == 200 and all(sc.topic in body for sc in scenarios)

    wait_until("Burrow to list the scenario topics", burrow_knows_topics, timeout=60, proc=burrow.proc)
    ours = Ours(bootstrap, work / "k39-data")
    groups = [sc.group for sc in scenarios]
    errors: list[str] = []
    drivers: list[threading.Thread] = []
    try:
        start = time.time()
        for sc in scenarios:
            sc.producer = Producer(bootstrap, sc.topic)
            sc.consumer = Consumer(bootstrap, sc.topic, sc.group, sc.consumer_rate)
            sc.producer.start()
            sc.consumer.start()
            if sc.name in ("stopped", "rewind", "rewind-lagging"):
                drivers.append(threading.Thread(target=drive, args=(sc, bootstrap, start, errors), daemon=True))
            else:
                sc.event_at = start
        for thread in drivers:
            thread.start()
        log(f"{len(scenarios)} scenarios running; faults at +{EVENT_AT:.0f}s; up to {SETTLE_S:.0f}s to settle after")
        last_report = 0.0
        while True:
            now = time.time()
            try:
                answers = ours.sample(groups)
            except Exception as exc:  # a slow round: recorded, and the next one tries again
                answers = {g: OurAnswer("?", f"sample failed: {exc}", 0) for g in groups}
            for sc in scenarios:
                b_answer = burrow_lag(burrow.url, sc.group)
                o_answer = answers[sc.group]
                at = now - (sc.event_at if sc.event_at is not None else start + EVENT_AT)
                sc.readings.append(
                    Reading(
                        round(at, 1),
                        b_answer.comparable,
                        b_answer.shown,
                        b_answer.total_lag,
                        o_answer.status,
                        o_answer.reason,
                        o_answer.total_lag,
                    )
                )
            elapsed = time.time() - start
            if elapsed - last_report >= 10:
                last_report = elapsed
                log(
                    f"+{elapsed:.0f}s "
                    + "; ".join(
                        f"{sc.name}: burrow {sc.readings[-1].burrow_shown} ours {sc.readings[-1].ours}"
                        for sc in scenarios
                    )
                )
            done = all(sc.event_at is not None for sc in scenarios) and elapsed >= EVENT_AT + 25
            if done:
                for sc in scenarios:
                    if sc.hold:
                        continue
                    b_first = settled(sc, "burrow").after_s
                    o_first = settled(sc, "ours").after_s
                    if b_first is None or o_first is None:
                        done = False
            if done or elapsed >= EVENT_AT + SETTLE_S:
                break
            time.sleep(max(0.0, SAMPLE_S - (time.time() - now)))
        total = time.time() - start
    finally:
        for sc in scenarios:
            for load in (sc.consumer, sc.producer):
                if load is not None:
                    with contextlib.suppress(Exception):
                        load.stop()
        ours.close()
        procs.stop(burrow.proc)
    rows = []
    for sc in scenarios:
        bv, ov = settled(sc, "burrow"), settled(sc, "ours")
        agree = "yes" if bv.status == ov.status else ("partly" if {bv.status, ov.status} <= STOPPED else "no")
        last = sc.readings[-1] if sc.readings else None
        b_from, o_from = bv.after_s or 0, ov.after_s or 0
        rows.append(
            {
                "scenario": sc.name,
                "what": sc.what,
                "burrow": bv.status,
                "burrow_answer": next(
                    (r.burrow_shown for r in sc.readings if r.burrow == bv.status and r.at >= b_from), None
                ),
                "burrow_after_s": bv.after_s,
                "burrow_seen": bv.seen,
                "burrow_also": bv.also,
                "ours": ov.status,
                "ours_reason": next(
                    (r.ours_reason for r in sc.readings if r.ours == ov.status and r.at >= o_from), None
                ),
                "ours_after_s": ov.after_s,
                "ours_seen": ov.seen,
                "ours_also": ov.also,
                "agree": agree,
                "why": explain(sc, bv.status, ov.status),
                "notes": explain_also(sc, "burrow", bv.also) + explain_also(sc, "ours", ov.also),
                "final": {"burrow": last.burrow_shown, "ours": last.ours} if last else None,
                "readings": [asdict(r) for r in sc.readings],
            }
        )
    return {
        "kafka_version": KAFKA39,
        "bootstrap": bootstrap,
        "observed_s": round(total, 1),
        "windows": {
            "burrow": f"intervals={BURROW_INTERVALS} commits >= {BURROW_MIN_DISTANCE}s apart (~10s), "
            f"offset-refresh={BURROW_OFFSET_REFRESH}s, evaluator expire-cache=1s",
            "ours": f"LagWindow(window_s={WINDOW_S:.0f}, stop_s={STOP_S:.0f}), a sample every {SAMPLE_S:.0f}s",
            "load": f"{RATE} rec/s per topic, commits every {COMMIT_MS} ms, faults at +{EVENT_AT:.0f}s",
        },
        "scenarios": rows,
        "errors": errors,
    }


# --- output ---------------------------------------------------------------------------------------------------------


def print_kafka4(r: dict[str, Any]) -> None:
    print(f"== Kafka {r['kafka_version']} (dev cluster {r['cluster']!r}): Burrow 1.2.1 cannot monitor it ==")
    newer = r.get("kafka_version_2_8_0") or {}
    print(f'kafka-version "2.8.0": Burrow exits (code {newer.get("exit_code")}): {newer.get("panic") or "-"}')
    print(f'kafka-version "2.0.0" (accepted): watched group {r.get("group")} for {r.get("observed_s", 0):.0f}s')
    print(f"  broker server.log: {r.get('broker_listoffsets_v0_rejections')} x ListOffsets v0 rejected")
    if r.get("broker_listoffsets_v0_example"):
        print(f"    e.g. {r['broker_listoffsets_v0_example']}")
    for what, count in sorted((r.get("broker_unsupported_requests") or {}).items()):
        print(f"    unsupported request {what}: {count}")
    print(f"  Burrow log: {r.get('burrow_fetch_offsets_errors')} x 'failed to fetch offsets from broker'")
    if r.get("burrow_fetch_offsets_example"):
        print(f"    e.g. {r['burrow_fetch_offsets_example']}")
    for what, count in sorted((r.get("burrow_error_lines") or {}).items()):
        print(f"    {count:4} x {what}")
    topics = r.get("burrow_topics") or {}
    print(f"  Burrow GET /v3/kafka/local/topic: HTTP {topics.get('http')}, topics {topics.get('topics')}")
    group = r.get("burrow_group") or {}
    print(f"  Burrow GET /v3/kafka/local/consumer/<group>/lag: {group.get('status')}  {group.get('answer')}")
    print(f"    answers seen while watching: {', '.join(r.get('burrow_group_answers_seen') or [])}")
    ours = r.get("ours") or {}
    print(f"  ours, same group: {ours.get('status')} ({ours.get('reason')}), total lag {ours.get('total_lag')}")
    print(f"    ours seen: {' -> '.join(r.get('ours_seen') or [])}")
    if any(x.startswith("WARN@") for x in r.get("ours_seen") or []):
        print(
            "    note: ours WARNs on a consumer that keeps up: its lag sampled each second (a saw-tooth between "
            "500 ms commits) happened not to go down over the window and to end higher; Burrow's rule 1 (a commit "
            f"with zero lag in the window means OK) keeps it from that. Lags sampled: {r.get('ours_lags')}"
        )
    decode = sum(n for what, n in (r.get("burrow_error_lines") or {}).items() if "failed to decode" in what)
    if r.get("broker_listoffsets_v0_rejections") and group.get("status") == "NOTFOUND":
        print(
            "  verdict: Burrow 1.2.1 cannot monitor Kafka 4: its ListOffsets v0 requests are refused (KIP-896), so it "
            "knows no log end offset and stores no commit; every group is NOTFOUND"
            + (f"; it also fails to decode {decode} record(s) of __consumer_offsets" if decode else "")
        )


def also(counts: dict[str, int]) -> str:
    return ",".join(f"{s}x{n}" for s, n in sorted(counts.items())) or "-"


def print_kafka39(r: dict[str, Any]) -> None:
    print(f"== Kafka {r['kafka_version']}: Burrow 1.2.1 and ours side by side ({r['observed_s']}s) ==")
    for side, text in r["windows"].items():
        print(f"  {side:6}: {text}")
    header = ["scenario", "Burrow (group [partitions])", "after", "also", "ours", "after", "also", "agree"]
    table = []
    for row in r["scenarios"]:
        table.append(
            [
                row["scenario"],
                f"{row['burrow_answer'] or row['burrow']}",
                "-" if row["burrow_after_s"] is None else f"{row['burrow_after_s']:.0f}s",
                also(row["burrow_also"]),
                row["ours"],
                "-" if row["ours_after_s"] is None else f"{row['ours_after_s']:.0f}s",
                also(row["ours_also"]),
                row["agree"],
            ]
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *table, strict=False)]
    print("  " + "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    for cells in table:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
    print(
        "  after: seconds from the fault (from the start for steady and slow) to the status first shown; also: other "
        "statuses shown later (seconds); steady is judged once the windows are full (+12s)"
    )
    for row in r["scenarios"]:
        print(f"  {row['scenario']}: {row['what']}")
        print(f"    Burrow seen: {' -> '.join(row['burrow_seen'])}")
        print(f"    ours seen:   {' -> '.join(row['ours_seen'])}   ({row['ours_reason']})")
        if row["why"]:
            print(f"    why they differ: {row['why']}")
        for note in row["notes"]:
            print(f"    note: {note}")
    for error in r.get("errors") or []:
        print(f"  error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--skip-kafka4", action="store_true", help="skip the Kafka 4 evidence")
    parser.add_argument("--skip-kafka39", action="store_true", help="skip the Kafka 3.9.1 side-by-side run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--observe", type=float, default=25.0, help="seconds to watch Burrow on Kafka 4 (default 25)")
    parser.add_argument("--keep", action="store_true", help="keep the run's temp dir (logs, configs, data)")
    args = parser.parse_args()
    if shutil.which(BURROW) is None:
        log("Burrow is not installed (Debian: apt-get install burrow)")
        return 2

    from core.settings import Settings

    services = Settings().resolved_devcluster_home() / "services"
    work = Path(tempfile.mkdtemp(prefix="burrow-compare-"))
    log(f"work dir {work}")
    procs = Processes()
    results: dict[str, Any] = {}
    started = time.time()
    failed = False
    try:
        zk_port = start_zookeeper(procs, services, work)
        if not args.skip_kafka4:
            results["kafka4"] = kafka4_part(procs, work, zk_port, args.observe)
        if not args.skip_kafka39:
            results["kafka39"] = kafka39_part(procs, services, work, zk_port)
    except BaseException:
        failed = True
        raise
    finally:
        procs.stop_all()
        results["run_s"] = round(time.time() - started, 1)
        if args.keep or failed:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        if "kafka4" in results:
            print_kafka4(results["kafka4"])
        if "kafka39" in results:
            print_kafka39(results["kafka39"])
        print(f"run time {results['run_s']}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
