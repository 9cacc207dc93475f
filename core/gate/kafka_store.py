"""The consent store on a compacted Kafka topic, for several servers that serve one team (HTTP replicas).

One partition holds every record, so the log gives one order that every replica reads the same way:

- ``<id>`` -> the record's latest state (JSON of ``ConsentRecord``); compaction keeps the latest one per id;
- ``claim:<id>:<nonce>`` -> a replica's claim to redeem ``<id>``. Claims are written only after the writer saw the
  record approved, so they come after the approval in the log, and **the first claim in the log wins**. A replica
  writes its claim, reads the partition up to it, and goes ahead only if its own nonce is the first; every other
  replica, reading the same log, reaches the same verdict. Claim keys are unique, so compaction never removes one.

Each store tails the topic from the beginning in a background thread into an in-memory view, and reads after
catching up to the partition's end, so an approval granted through one server is seen by the next call on another.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from core.errors import OperationTimeout, translate_kafka_error
from core.gate.store import ConsentRecord, ConsentStore, Status
from core.settings import Settings

if TYPE_CHECKING:
    from core.gate.gate import Gate

log = logging.getLogger("kafka_agent.consent")


class KafkaConsentStore(ConsentStore):
    def __init__(self, settings: Settings, gate: Gate, *, clock: Callable[[], float] = time.time) -> None:
        from confluent_kafka import Consumer, Producer, TopicPartition

        super().__init__(clock=clock)
        self.topic = settings.consent_topic
        self.timeout = settings.request_timeout_s
        cfg = settings.cluster(settings.consent_cluster)
        self._ensure_topic(settings, gate, cfg.name)
        base: dict[str, Any] = dict(cfg.librdkafka_config())
        self._producer = Producer({**base, "enable.idempotence": True, "acks": "all", "linger.ms": 0})
        self._consumer = Consumer(
            {**base, "group.id": f"kafka-agent-consent-{secrets.token_hex(4)}", "enable.auto.commit": False}
        )
        self._consumer.assign([TopicPartition(self.topic, 0, 0)])
        # A consumer is not shared between threads: the tail thread owns the one above, this one answers the
        # "where does the log end now" question for readers.
        self._offsets = Consumer(
            {**base, "group.id": f"kafka-agent-consent-{secrets.token_hex(4)}", "enable.auto.commit": False}
        )
        self._offsets_lock = threading.Lock()
        self._cond = threading.Condition()
        self._view: dict[str, ConsentRecord] = {}
        self._first_claim: dict[str, str] = {}
        self._position = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._tail, name="consent-store-tail", daemon=True)
        self._thread.start()

    @staticmethod
    def _ensure_topic(settings: Settings, gate: Gate, cluster: str) -> None:
        """Create the consent topic (compacted, one partition) through the gate when it does not exist."""
        from core.gate.change import Change
        from core.kafka import topics as ktopics
        from core.kafka.clients import KafkaClients

        clients = KafkaClients(settings)
        try:
            admin = clients.admin(cluster)
            meta = admin.list_topics(timeout=settings.request_timeout_s)
            if settings.consent_topic in meta.topics:
                return
            rf = min(3, len(meta.brokers))
            configs = {"cleanup.policy": "compact", "min.insync.replicas": str(min(2, rf))}
            change = Change(
                tool="consent-store",
                cluster=cluster,
                action="topic.create",
                resource_type="topic",
                resources=[settings.consent_topic],
                arguments={"topic": settings.consent_topic, "partitions": 1, "replication_factor": rf},
                details={"partitions": 1, "replication_factor": rf, "configs": configs, "high_throughput": False},
            )
            gate.perform(
                change,
                lambda permit: ktopics.create_topic(
                    permit,
                    admin,
                    settings.consent_topic,
                    partitions=1,
                    replication_factor=rf,
                    configs=configs,
                    validate_only=False,
                    timeout=settings.request_timeout_s,
                    exist_ok=True,
                ),
            )
        finally:
            clients.close()

    # --- the tail -------------------------------------------------------------------------------------------------

    def _tail(self) -> None:
        while not self._stop.is_set():
            try:
                msgs = self._consumer.consume(500, timeout=0.2)
            except Exception as exc:  # keep tailing: a read-after-write waits for us and reports a timeout
                log.warning("consent store tail: %s", exc)
                time.sleep(0.5)
                continue
            if not msgs:
                continue
            with self._cond:
                for msg in msgs:
                    if msg.error():
                        continue
                    self._apply(msg.key(), msg.value())
                    self._position = msg.offset() + 1
                self._cond.notify_all()

    def _apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None or value is None:
            return
        text = key.decode()
        if text.startswith("claim:"):
            _, rid, nonce = text.split(":", 2)
            self._first_claim.setdefault(rid, nonce)
            return
        self._view[text] = ConsentRecord.model_validate_json(value)

    def _wait_past(self, offset: int) -> None:
        deadline = time.monotonic() + self.timeout
        with self._cond:
            while self._position <= offset:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise OperationTimeout(
                        f"The consent store ({self.topic}) did not catch up within {self.timeout:g}s.",
                        hint="Check that the cluster holding the consent topic is healthy.",
                    )
                self._cond.wait(left)

    def _catch_up(self) -> None:
        from confluent_kafka import TopicPartition

        try:
            with self._offsets_lock:
                _low, high = self._offsets.get_watermark_offsets(TopicPartition(self.topic, 0), timeout=self.timeout)
        except Exception as exc:
            raise translate_kafka_error(exc, what=f"read the consent topic {self.topic}") from exc
        if high > 0:
            self._wait_past(high - 1)

    def _write(self, key: str, value: str) -> int:
        offsets: list[int] = []
        errors: list[str] = []

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                offsets.append(int(msg.offset()))

        self._producer.produce(self.topic, key=key.encode(), value=value.encode(), partition=0, on_delivery=delivered)
        self._producer.flush(self.timeout)
        if errors or not offsets:
            raise OperationTimeout(f"Could not write to the consent store {self.topic}: {errors or 'timed out'}.")
        return offsets[0]

    # --- primitives -----------------------------------------------------------------------------------------------

    def _save(self, record: ConsentRecord) -> None:
        self._wait_past(self._write(record.id, record.model_dump_json()))

    def _load(self, record_id: str) -> ConsentRecord | None:
        self._catch_up()
        with self._cond:
            record = self._view.get(record_id)
            return record.model_copy() if record is not None else None

    def _all(self) -> list[ConsentRecord]:
        self._catch_up()
        with self._cond:
            return [r.model_copy() for r in self._view.values()]

    def _claim(self, record_id: str, expected: Status, used_at: float) -> bool:
        record = self._load(record_id)
        if record is None or record.status != expected:
            return False
        nonce = secrets.token_hex(8)
        self._wait_past(self._write(f"claim:{record_id}:{nonce}", json.dumps({"claim": record_id})))
        with self._cond:
            won = self._first_claim.get(record_id) == nonce
        if won:
            record.status = "used"
            record.used_at = used_at
            self._save(record)
        return won

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        try:
            self._consumer.close()
            self._offsets.close()
        finally:
            self._producer.flush(5)
