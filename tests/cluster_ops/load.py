"""A producer writing 0, 1, 2 ... and a consumer reading them back while the cluster changes under them: the
scenario's own sequence check (tests and bench/reassign.py)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SequenceLoad:
    """A producer writing 0, 1, 2 ... (idempotent, acks=all) and a consumer reading them back, both running until
    ``stop``; then ``check`` says whether anything acknowledged was lost or read twice."""

    bootstrap: str
    topic: str
    acked: list[int] = field(default_factory=list)
    read: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> SequenceLoad:
        self._threads = [threading.Thread(target=self._produce), threading.Thread(target=self._consume)]
        for t in self._threads:
            t.start()
        return self

    def _produce(self) -> None:
        from confluent_kafka import Producer

        producer = Producer(
            {"bootstrap.servers": self.bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5}
        )
        seq = 0

        def done(err: Any, msg: Any) -> None:
            if err is not None:
                self.errors.append(str(err))
            else:
                self.acked.append(int(msg.value()))

        while not self._stop.is_set():
            producer.produce(self.topic, key=str(seq % 16).encode(), value=str(seq).encode(), on_delivery=done)
            seq += 1
            producer.poll(0)
            time.sleep(0.002)
        if producer.flush(60) != 0:
            self.errors.append("records left unflushed")

    def _consume(self) -> None:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        # Assigned, not subscribed: a group rebalance (the coordinator moves with __consumer_offsets) must not
        # replay anything, so a duplicate can only come from the log itself.
        consumer = Consumer(
            {"bootstrap.servers": self.bootstrap, "group.id": f"seq-{self.topic}", "enable.auto.commit": False}
        )
        parts = consumer.list_topics(self.topic, timeout=15).topics[self.topic].partitions
        consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in parts])
        idle_since: float | None = None
        try:
            while True:
                msg = consumer.poll(0.5)
                if msg is not None and msg.error() is None:
                    self.read.append(int(msg.value()))
                    idle_since = None
                    continue
                if self._stop.is_set():
                    # after the producer stops: read until everything acknowledged arrived, or 30 s of silence
                    idle_since = idle_since or time.monotonic()
                    if len(self.read) >= len(self.acked) and not self._threads[0].is_alive():
                        return
                    if time.monotonic() - idle_since > 30:
                        return
        finally:
            consumer.close()

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=120)

    def check(self) -> tuple[int, int, int]:
        """(acknowledged, lost, duplicated)."""
        lost = len(set(self.acked) - set(self.read))
        duplicated = len(self.read) - len(set(self.read))
        return len(self.acked), lost, duplicated
