"""Exactly-once verification on a real cluster, in three steps on two scratch topics:

1. a transactional producer writes sequence-numbered records, committing most transactions and aborting some on
   purpose (flushed first, so the aborted records really sit in the log);
2. consume-transform-produce: a ``read_committed`` consumer reads the input, a second transactional producer writes
   one transformed record per input record and commits the input offsets with ``send_offsets_to_transaction``;
   one of its transactions is aborted on purpose and the work redone from the committed offsets, like a crash;
3. independent ``read_committed`` readers count every sequence number on both topics: committed, missing,
   duplicated, aborted-visible. The check passes only when the last three are zero and the group's committed
   offsets reached the input's end.

``fault`` is the negative control: ``duplicate`` makes step 2 write one record twice inside a committed transaction
(what a non-transactional retry does), ``read_uncommitted`` makes step 3 read without isolation. Either must fail.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, translate_kafka_error

if TYPE_CHECKING:
    from core.gate import Permit

Fault = Literal["none", "duplicate", "read_uncommitted"]
Progress = Callable[[float, float, str], None]


def _noop(done: float, total: float, message: str) -> None:
    return None


class StreamCheck(BaseModel):
    topic: str
    expected: int = Field(description="Committed records that must be there exactly once.")
    seen: int = Field(description="Records the verifier read.")
    missing: int
    duplicated: int = Field(description="Extra copies beyond the first.")
    aborted_visible: int = Field(description="Records of aborted transactions the verifier could read.")


class EosReport(BaseModel):
    passed: bool
    committed: int = Field(description="Records written in committed transactions.")
    missing: int = Field(description="Sum over input and output.")
    duplicated: int = Field(description="Sum over input and output.")
    aborted_visible: int = Field(description="Sum over input and output.")
    transactions: int
    aborted_transactions: int
    aborted_records_in_log: int = Field(
        description="Aborted records a read_uncommitted reader sees in the input: proof the aborts really wrote."
    )
    ctp_transactions: int = Field(description="Committed consume-transform-produce transactions.")
    ctp_aborted: int = Field(description="Deliberately aborted consume-transform-produce transactions (redone).")
    offsets_committed: bool = Field(
        description="The offsets committed in the transactions cover every processed input record."
    )
    input: StreamCheck
    output: StreamCheck
    fault: Fault
    topics_deleted: bool
    reasons: list[str]


def _producer(base: dict[str, Any], tid: str, timeout: float) -> Any:
    from confluent_kafka import Producer

    conf = dict(base)
    conf.update({"transactional.id": tid, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
    producer = Producer(conf)
    producer.init_transactions(timeout)
    return producer


def _read_all(conf: dict[str, Any], topic: str, partitions: list[int], *, isolation: str, deadline: float) -> list[str]:
    """Every value of the topic from the start, until the reader sits idle at the end."""
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    c = dict(conf)
    c.update({"isolation.level": isolation, "group.id": f"kafka-agent-eos-check-{uuid.uuid4().hex}"})
    consumer = Consumer(c)
    values: list[str] = []
    try:
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        idle = 0
        started = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.consume(1000, timeout=0.5)
            values += [m.value().decode() for m in batch if m.error() is None and m.value() is not None]
            idle = 0 if batch else idle + 1
            # idle at the end: nothing for 1.5 s once started (the first fetch may take a moment)
            if idle >= 3 and (values or time.monotonic() - started > 5):
                break
    finally:
        consumer.close()
    return values


def _check(topic: str, values: list[str], committed: set[int], aborted: set[int], prefix: str) -> StreamCheck:
    counts = Counter(int(v[len(prefix) :]) for v in values if v.startswith(prefix))
    return StreamCheck(
        topic=topic,
        expected=len(committed),
        seen=len(values),
        missing=len(committed - set(counts)),
        duplicated=sum(n - 1 for n in counts.values() if n > 1),
        aborted_visible=sum(counts[s] for s in aborted if s in counts),
    )


def scratch_names(run: str) -> tuple[str, str, str]:
    """The input topic, output topic and consumer group of one verification run."""
    return f"kafka-agent-eos-{run}-in", f"kafka-agent-eos-{run}-out", f"kafka-agent-eos-{run}"


def verify_exactly_once(
    permit: Permit,
    admin: Any,
    base_conf: dict[str, Any],
    consumer_base: dict[str, Any],
    *,
    replication_factor: int,
    transactions: int = 10,
    records_per_transaction: int = 20,
    abort_every: int = 3,
    fault: Fault = "none",
    timeout: float = 15.0,
    max_seconds: float = 90.0,
    keep_topics: bool = False,
    progress: Progress = _noop,
    run: str,
) -> EosReport:
    from confluent_kafka.admin import NewTopic

    if not 1 <= transactions <= 200 or not 1 <= records_per_transaction <= 1000:
        raise InvalidArgument("transactions must be 1..200 and records_per_transaction 1..1000.")
    if abort_every < 2:
        raise InvalidArgument("abort_every must be at least 2 (1 would abort every transaction).")
    src, dst, group = scratch_names(run)
    for topic in (src, dst):
        permit.require("topic.create", topic)
        permit.require("topic.delete", topic)
    permit.require("group.delete", group)
    partitions = [0, 1, 2]
    deadline = time.monotonic() + max_seconds
    futures = admin.create_topics(
        [NewTopic(t, num_partitions=len(partitions), replication_factor=replication_factor) for t in (src, dst)],
        request_timeout=timeout,
    )
    for name, fut in futures.items():
        try:
            fut.result(timeout=timeout + 1)
        except Exception as exc:
            raise translate_kafka_error(exc, what=f"create scratch topic {name!r}") from None
    deleted = False
    try:
        report = _run(
            permit,
            admin,
            base_conf,
            consumer_base,
            src,
            dst,
            group,
            partitions,
            transactions=transactions,
            per_txn=records_per_transaction,
            abort_every=abort_every,
            fault=fault,
            timeout=timeout,
            deadline=deadline,
            progress=progress,
        )
    except Exception as exc:
        raise translate_kafka_error(exc, what="exactly-once verification") from None
    finally:
        if not keep_topics:
            try:
                for fut in admin.delete_topics([src, dst], request_timeout=timeout).values():
                    fut.result(timeout=timeout + 1)
                deleted = True
            except Exception:  # the report still stands; the names are in it
                deleted = False
            with contextlib.suppress(Exception):
                admin.delete_consumer_groups([group], request_timeout=timeout)
    report.topics_deleted = deleted
    return report


def _run(
    permit: Permit,
    admin: Any,
    base_conf: dict[str, Any],
    consumer_base: dict[str, Any],
    src: str,
    dst: str,
    group: str,
    partitions: list[int],
    *,
    transactions: int,
    per_txn: int,
    abort_every: int,
    fault: Fault,
    timeout: float,
    deadline: float,
    progress: Progress,
) -> EosReport:
    from confluent_kafka import Consumer, TopicPartition

    permit.require("topic.produce", src)
    permit.require("topic.produce", dst)
    total_steps = 3.0
    # 1. transactional writes with deliberate aborts
    committed: set[int] = set()
    aborted: set[int] = set()
    producer = _producer(base_conf, f"kafka-agent-eos-{group}-src", timeout)
    aborted_txns = 0
    for t in range(transactions):
        producer.begin_transaction()
        seqs = range(t * per_txn, (t + 1) * per_txn)
        for seq in seqs:
            producer.produce(src, key=str(seq).encode(), value=f"s{seq}".encode())
        if t % abort_every == abort_every - 1:
            producer.flush(timeout)  # make sure the aborted records reach the log before the abort marker
            producer.abort_transaction(timeout)
            aborted.update(seqs)
            aborted_txns += 1
        else:
            producer.commit_transaction(timeout)
            committed.update(seqs)
    progress(1, total_steps, f"{transactions} transactions written, {aborted_txns} aborted on purpose")

    # 2. consume-transform-produce with offsets in the transaction, one deliberate abort and a redo
    ctp = _producer(base_conf, f"kafka-agent-eos-{group}-ctp", timeout)
    cconf = dict(consumer_base)
    cconf.update(
        {
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )

    def open_consumer() -> Any:
        consumer = Consumer(cconf)
        tps = [TopicPartition(src, p) for p in partitions]
        start = consumer.committed(tps, timeout=timeout)
        consumer.assign([TopicPartition(src, tp.partition, tp.offset) for tp in start])
        return consumer

    consumer = open_consumer()
    processed: set[int] = set()
    last_offset: dict[int, int] = {}
    ctp_txns = ctp_aborts = 0
    injected = False
    try:
        while len(processed) < len(committed) and time.monotonic() < deadline:
            batch = [m for m in consumer.consume(50, timeout=1.0) if m.error() is None]
            if not batch:
                continue
            ctp.begin_transaction()
            for m in batch:
                ctp.produce(dst, key=m.key(), value=b"t" + m.value()[1:], partition=m.partition())
                if fault == "duplicate" and not injected and ctp_aborts:
                    ctp.produce(dst, key=m.key(), value=b"t" + m.value()[1:], partition=m.partition())
                    injected = True
            if ctp_aborts == 0:  # the first batch: write, then fail as if the process crashed, and redo
                ctp.flush(timeout)
                ctp.abort_transaction(timeout)
                ctp_aborts += 1
                consumer.close()
                consumer = open_consumer()
                continue
            positions = consumer.position(consumer.assignment())
            ctp.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), timeout)
            ctp.commit_transaction(timeout)
            ctp_txns += 1
            processed.update(int(m.value()[1:]) for m in batch)
            for m in batch:
                last_offset[m.partition()] = max(last_offset.get(m.partition(), -1), m.offset())
    finally:
        consumer.close()
    progress(2, total_steps, f"consume-transform-produce: {ctp_txns} transactions committed, {ctp_aborts} redone")

    # 3. independent verification
    isolation = "read_uncommitted" if fault == "read_uncommitted" else "read_committed"
    read_conf = dict(consumer_base)
    in_values = _read_all(read_conf, src, partitions, isolation=isolation, deadline=deadline)
    out_values = _read_all(read_conf, dst, partitions, isolation=isolation, deadline=deadline)
    raw_in = (
        in_values
        if isolation == "read_uncommitted"
        else _read_all(read_conf, src, partitions, isolation="read_uncommitted", deadline=deadline)
    )
    in_check = _check(src, in_values, committed, aborted, "s")
    out_check = _check(dst, out_values, committed, aborted, "t")
    aborted_in_log = sum(1 for v in raw_in if int(v[1:]) in aborted)

    from confluent_kafka import ConsumerGroupTopicPartitions

    fut = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)], request_timeout=timeout)
    got = next(iter(fut.values())).result(timeout=timeout + 1)
    group_offsets = {tp.partition: tp.offset for tp in got.topic_partitions if tp.topic == src}
    # every processed record's offset is covered by the offsets committed inside the transactions
    offsets_ok = bool(last_offset) and all(group_offsets.get(p, -1) > off for p, off in last_offset.items())
    progress(3, total_steps, "verified")

    reasons = []
    for check in (in_check, out_check):
        for field in ("missing", "duplicated", "aborted_visible"):
            n = getattr(check, field)
            if n:
                reasons.append(f"{check.topic}: {n} {field.replace('_', ' ')} record(s).")
    if not offsets_ok:
        reasons.append(
            f"The group's committed offsets {group_offsets} do not cover the processed records {last_offset}."
        )
    if aborted_in_log == 0:
        reasons.append("No aborted record reached the log, so the abort check proved nothing.")
    passed = not reasons
    if passed:
        reasons.append(
            f"All {len(committed)} committed records present exactly once on input and output, no aborted record "
            f"visible ({aborted_in_log} sit in the log), offsets committed through the transaction."
        )
    return EosReport(
        passed=passed,
        committed=len(committed),
        missing=in_check.missing + out_check.missing,
        duplicated=in_check.duplicated + out_check.duplicated,
        aborted_visible=in_check.aborted_visible + out_check.aborted_visible,
        transactions=transactions,
        aborted_transactions=aborted_txns,
        aborted_records_in_log=aborted_in_log,
        ctp_transactions=ctp_txns,
        ctp_aborted=ctp_aborts,
        offsets_committed=offsets_ok,
        input=in_check,
        output=out_check,
        fault=fault,
        topics_deleted=False,
        reasons=reasons,
    )
