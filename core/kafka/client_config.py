"""Recommended producer and consumer settings for a goal, as librdkafka and Java property maps.

Whatever the goal, three things are never recommended (the guardrails): a producer without idempotence, a
producer with acks other than ``all``, and auto-committed offsets. Throughput and latency are tuned with batching,
linger, compression and fetch sizes instead.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument

Goal = Literal["throughput", "latency", "durability", "exactly_once"]
GOALS: tuple[Goal, ...] = ("throughput", "latency", "durability", "exactly_once")


class Setting(BaseModel):
    librdkafka: str | None = Field(description="Property name for librdkafka clients (Python, Go, .NET, C).")
    java: str | None = Field(description="Property name for the Java client.")
    value: str
    reason: str


class ClientConfigRecommendation(BaseModel):
    role: Literal["producer", "consumer"]
    goal: Goal
    settings: list[Setting]
    librdkafka: dict[str, str] = Field(description="Ready-to-use librdkafka property map.")
    java: dict[str, str] = Field(description="Ready-to-use Java client property map.")
    notes: list[str]


def _s(rd: str | None, java: str | None, value: object, reason: str) -> Setting:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    return Setting(librdkafka=rd, java=java, value=text, reason=reason)


_SAFE_PRODUCER = [
    _s("enable.idempotence", "enable.idempotence", True, "No duplicates or reordering when the client retries."),
    _s("acks", "acks", "all", "A write counts only when every in-sync replica has it (min.insync.replicas)."),
]


def _producer(goal: Goal, transactional_id: str | None) -> tuple[list[Setting], list[str]]:
    settings = list(_SAFE_PRODUCER)
    notes: list[str] = []
    if goal == "throughput":
        settings += [
            _s("linger.ms", "linger.ms", 20, "Wait up to 20 ms to fill larger batches: fewer, bigger requests."),
            _s("batch.size", "batch.size", 131072, "128 KiB batches amortise request overhead."),
            _s("compression.type", "compression.type", "lz4", "Cheap CPU, fewer bytes on the wire and on disk."),
            _s(None, "buffer.memory", 67108864, "Java: 64 MiB of buffer so bursts do not block send()."),
            _s("queue.buffering.max.kbytes", None, 65536, "librdkafka: 64 MiB local queue for bursts."),
        ]
        notes.append("Throughput comes from batching and compression, never from weaker acks or idempotence.")
    elif goal == "latency":
        settings += [
            _s("linger.ms", "linger.ms", 0, "Send as soon as a record is ready."),
            _s("batch.size", "batch.size", 16384, "Small batches; nothing waits for a batch to fill."),
            _s("compression.type", "compression.type", "none", "No compression CPU on the hot path."),
            _s(
                "max.in.flight.requests.per.connection",
                "max.in.flight.requests.per.connection",
                5,
                "Pipelining up to 5 requests; idempotence keeps order.",
            ),
        ]
        notes.append("acks=all adds one replication round trip; keep replicas close (same region) for low latency.")
    elif goal == "durability":
        settings += [
            _s("retries", "retries", 2147483647, "Retry transient errors until delivery.timeout.ms is spent."),
            _s("message.timeout.ms", "delivery.timeout.ms", 300000, "Five minutes to ride out a leader failover."),
            _s(
                "max.in.flight.requests.per.connection",
                "max.in.flight.requests.per.connection",
                5,
                "The maximum idempotence allows while keeping order.",
            ),
            _s("compression.type", "compression.type", "zstd", "Good ratio for retained data."),
        ]
        notes.append("Pair with topics at replication.factor=3, min.insync.replicas=2, unclean election off.")
    else:
        tid = transactional_id or "<app>-<instance>-<input partition or stable id>"
        settings += [
            _s("transactional.id", "transactional.id", tid, "Stable per producer instance: fences zombies."),
            _s("transaction.timeout.ms", "transaction.timeout.ms", 60000, "Abort a stuck transaction after 60 s."),
            _s(
                "max.in.flight.requests.per.connection",
                "max.in.flight.requests.per.connection",
                5,
                "Allowed with idempotence; order is kept.",
            ),
        ]
        notes.append(
            "Call init_transactions once, then begin/produce/send_offsets_to_transaction/commit per batch; "
            "consumers of the output must use isolation.level=read_committed."
        )
    return settings, notes


def _consumer(goal: Goal) -> tuple[list[Setting], list[str]]:
    settings = [
        _s("enable.auto.commit", "enable.auto.commit", False, "Commit only after processing: no loss on a crash."),
        _s("enable.auto.offset.store", None, False, "librdkafka: store offsets explicitly after processing."),
        _s("auto.offset.reset", "auto.offset.reset", "earliest", "A new group reads from the start, missing nothing."),
    ]
    notes = ["Commit offsets after processing (commit/commitSync); never auto-commit critical data."]
    if goal == "throughput":
        settings += [
            _s("fetch.min.bytes", "fetch.min.bytes", 65536, "Let the broker gather 64 KiB before answering."),
            _s("fetch.wait.max.ms", "fetch.max.wait.ms", 100, "But never wait more than 100 ms."),
            _s(None, "max.poll.records", 2000, "Java: larger batches per poll()."),
            _s("max.partition.fetch.bytes", "max.partition.fetch.bytes", 4194304, "4 MiB per partition per fetch."),
            _s("isolation.level", "isolation.level", "read_committed", "Never process aborted records."),
        ]
    elif goal == "latency":
        settings += [
            _s("fetch.min.bytes", "fetch.min.bytes", 1, "Answer as soon as one byte is there."),
            _s("fetch.wait.max.ms", "fetch.max.wait.ms", 10, "Short broker wait when nothing is there."),
            _s("isolation.level", "isolation.level", "read_committed", "Never process aborted records."),
        ]
        notes.append("read_committed delays records of open transactions until they commit.")
    elif goal == "durability":
        settings += [
            _s("isolation.level", "isolation.level", "read_committed", "Never process aborted records."),
            _s("session.timeout.ms", "session.timeout.ms", 45000, "Ride out short pauses without a rebalance."),
            _s(
                "partition.assignment.strategy",
                "partition.assignment.strategy",
                "cooperative-sticky",
                "Incremental rebalances: fewer stop-the-world pauses (Java: CooperativeStickyAssignor).",
            ),
        ]
    else:
        settings += [
            _s("isolation.level", "isolation.level", "read_committed", "Required: only committed transactions."),
        ]
        notes.append(
            "In consume-transform-produce, commit the input offsets through the producer's "
            "send_offsets_to_transaction, never through the consumer."
        )
    return settings, notes


_JAVA_VALUE = {"cooperative-sticky": "org.apache.kafka.clients.consumer.CooperativeStickyAssignor"}


def recommend(role: str, goal: str, *, transactional_id: str | None = None) -> ClientConfigRecommendation:
    if goal not in GOALS:
        raise InvalidArgument(f"Unknown goal {goal!r}.", hint=f"Use one of: {', '.join(GOALS)}.")
    if role == "producer":
        settings, notes = _producer(goal, transactional_id)  # type: ignore[arg-type]
    elif role == "consumer":
        settings, notes = _consumer(goal)  # type: ignore[arg-type]
    else:
        raise InvalidArgument(f"Unknown role {role!r}.", hint="Use producer or consumer.")
    rd = {s.librdkafka: s.value for s in settings if s.librdkafka}
    java = {s.java: _JAVA_VALUE.get(s.value, s.value) for s in settings if s.java}
    return ClientConfigRecommendation(
        role=role,  # type: ignore[arg-type]
        goal=goal,  # type: ignore[arg-type]
        settings=settings,
        librdkafka=rd,
        java=java,
        notes=notes,
    )


def forbidden_settings(conf: dict[str, str], role: str) -> list[str]:
    """The guardrail breaches in a property map (empty when it is safe)."""
    bad = []
    if role == "producer":
        if conf.get("enable.idempotence") != "true":
            bad.append("enable.idempotence must be true")
        if conf.get("acks") not in ("all", "-1"):
            bad.append("acks must be all")
    if role == "consumer" and conf.get("enable.auto.commit") != "false":
        bad.append("enable.auto.commit must be false")
    return bad
