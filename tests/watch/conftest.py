"""Fixtures for the watch area: a broker started with the JMX exporter agent and Prometheus beside it
(``pytest-metrics``), a three-broker cluster whose brokers the watch tests kill (``pytest-watch``, one per test
module), consumers and producers that run in threads, and a watch run in a thread on test settings."""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REUSE, ClusterHandle, devcluster_home

METRICS = "pytest-metrics"
WATCH = "pytest-watch"


@pytest.fixture(scope="session")
def metrics_cluster() -> Iterator[ClusterHandle]:
    """One broker with the JMX exporter agent (``up --metrics``), our exporter and Debian's Prometheus."""
    from devcluster import cluster, services
    from devcluster.jars import stderr_progress

    assert shutil.which("prometheus"), "Debian's prometheus package is missing: scripts/install installs it"
    home = devcluster_home()
    state = cluster.up(home, name=METRICS, brokers=1, base_port=0, heap="384m", metrics=True)
    state = services.start(home, state, ["prometheus"], progress=stderr_progress)
    cluster.save_state(home, state)
    try:
        yield ClusterHandle(name=METRICS, bootstrap_servers=state.bootstrap_servers, home=home)
    finally:
        if not REUSE:
            from cli.devcluster import stop_cluster

            stop_cluster(home, name=METRICS, purge=True)


@pytest.fixture(scope="module")
def watch_cluster() -> Iterator[ClusterHandle]:
    """Three combined broker/controller nodes (RF 3, min ISR 2) for the live watch tests, which kill and restart
    broker 3 (two voters stay, so the quorum holds). Module-scoped: stopped and purged when the module ends, unless
    ``KAFKA_AGENT_TEST_REUSE=1``."""
    from devcluster import cluster

    home = devcluster_home()
    state = cluster.up(home, name=WATCH, brokers=3, base_port=0, heap="384m")
    try:
        yield ClusterHandle(name=WATCH, bootstrap_servers=state.bootstrap_servers, home=home)
    finally:
        if not REUSE:
            from cli.devcluster import stop_cluster

            stop_cluster(home, name=WATCH, purge=True)


@dataclass
class Consumer:
    """A consumer group member in a thread: polls, commits (auto, every 500 ms) unless ``commit`` is False."""

    bootstrap: str
    group: str
    topic: str
    commit: bool = True
    consumed: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> Consumer:
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        from confluent_kafka import Consumer as KConsumer

        c = KConsumer(
            {
                "bootstrap.servers": self.bootstrap,
                "group.id": self.group,
                "auto.offset.reset": "earliest",
                "enable.auto.commit": self.commit,
                "auto.commit.interval.ms": 500,
                "session.timeout.ms": 6000,
                "log_level": 0,
            }
        )
        c.subscribe([self.topic])
        try:
            first = True
            while not self._stop.is_set():
                msg = c.poll(0.2)
                if msg is None or msg.error():
                    continue
                self.consumed += 1
                if first and not self.commit:  # one commit, then never again: the offset stays put
                    c.commit(msg, asynchronous=False)
                    first = False
        finally:
            c.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


@dataclass
class SteadyProducer:
    bootstrap: str
    topic: str
    per_second: int = 50
    sent: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> SteadyProducer:
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def _loop(self) -> None:
        from confluent_kafka import Producer

        p = Producer({"bootstrap.servers": self.bootstrap, "linger.ms": 5, "log_level": 0})
        while not self._stop.is_set():
            for _ in range(max(1, self.per_second // 10)):
                p.produce(self.topic, value=b"x" * 100)
                self.sent += 1
            p.poll(0)
            self._stop.wait(0.1)
        p.flush(10)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(15)


def clusters_file(tmp: Path, clusters: dict[str, str], **extra: dict[str, Any]) -> Path:
    import yaml

    body = {name: {"bootstrap_servers": bs, **extra.get(name, {})} for name, bs in clusters.items()}
    path = tmp / "clusters.yaml"
    path.write_text(yaml.safe_dump({"default": next(iter(clusters)), "clusters": body}), encoding="utf-8")
    return path


def wait_for(what: str, check: Any, *, timeout: float, every: float = 0.5) -> Any:
    """Poll ``check()`` until it returns something truthy; fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        got = check()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s")
        time.sleep(every)


def create_topic(bootstrap: str, name: str, partitions: int = 1, rf: int = 1) -> None:
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    admin.create_topics([NewTopic(name, partitions, rf)])[name].result(30)
