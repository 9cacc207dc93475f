"""The SQL engine of a cluster, through the gate, for kafka_ksql and the ksqlDB REST facade alike.

- ``EngineBackend`` reads the cluster, the registry and the runners for the engine (``engine(app, cluster)``).
- A SQL batch is planned whole (``plan_batch``: every statement parsed, type-checked and compiled, every runner spec
  built by the runner itself, nothing run), consent is obtained once for its destructive changes (by the caller,
  through the gate, on the ``ksql.batch`` change), and ``GatedApplier`` then performs each planned change through
  ``Gate.perform`` as its own change on the real resource, with that consent handed on (``Preapproved``): policies and
  protections see every topic and subject, and every change has its own audit line with its outcome.
- A remote ksqlDB server (``remote_change``): statements are opaque; those that change need a permit, those that
  may remove something need consent (``KsqlClient.execute(permit, ...)``).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core.app import AppContext
from core.errors import KafkaAgentError, NotFound
from core.gate import Change, Grant, NoConsent, Preapproved, Requester
from core.kafka import topics as ktopics
from streams import ops
from streams.ksql_engine import AppResources, KsqlEngine, PlannedChange
from streams.ksql_rows import RawRecord
from streams.service import (
    DELETE_IMPLIES,
    app_resources,
    deploy,
    manager,
    plan_deploy,
    remove,
    sink_write_change,
)

if TYPE_CHECKING:
    from core.gate import Consent, Permit
    from core.settings import ClusterConfig
    from streams.ksql_client import KsqlClient


class EngineBackend:
    """The SQL engine's view of one cluster, its registry and its runners: reads only (changes go through
    ``GatedApplier``)."""

    def __init__(self, app: AppContext, cluster: str | None) -> None:
        self.app = app
        self.cfg = app.clients.cluster(cluster)

    def _admin(self) -> Any:
        return self.app.clients.admin(self.cfg.name)

    def _meta(self) -> Any:
        from core.kafka._futures import metadata

        return metadata(self._admin(), timeout=self.app.timeout)

    def topic_partitions(self, topic: str) -> int | None:
        tmeta = self._meta().topics.get(topic)
        return len(tmeta.partitions) if tmeta is not None and tmeta.partitions else None

    def topic_replicas(self, topic: str) -> int | None:
        tmeta = self._meta().topics.get(topic)
        if tmeta is None or not tmeta.partitions:
            return None
        return len(next(iter(tmeta.partitions.values())).replicas)

    def list_topics(self) -> list[str]:
        return sorted(self._meta().topics)

    def topic_records(self, topic: str) -> int:
        from core.kafka import offsets as koffsets

        tmeta = ktopics.require_topic(self._admin(), topic, timeout=self.app.timeout)
        return koffsets.topic_message_count(self._admin(), topic, sorted(tmeta.partitions), timeout=self.app.timeout)

    def default_replication_factor(self) -> int:
        return min(3, max(1, len(self._meta().brokers)))

    def app_resources(self, name: str) -> AppResources | None:
        try:
            record, topics = app_resources(self.app, name)
        except NotFound:
            return None
        return AppResources(application_id=record.application_id, internal_topics=topics, status=record.status)

    def app_state(self, name: str) -> str:
        mgr = manager(self.app)
        try:
            rec = mgr.get(name)
        except NotFound:
            return "UNKNOWN"
        if rec.status == "restarting":
            return "REBALANCING"  # its supervisor restarts it
        if rec.status != "running":
            return "ERROR" if rec.status == "failed" else "NOT_RUNNING"
        try:
            state = mgr.call(name, "/health", timeout=3.0).get("state", "UNKNOWN")
        except KafkaAgentError:
            return "UNKNOWN"
        return str(state)

    def app_metrics(self, name: str) -> dict[str, Any] | None:
        from streams.service import app_metrics

        try:
            return app_metrics(self.app, name)
        except KafkaAgentError:
            return None

    def app_topology(self, name: str) -> str | None:
        try:
            return str(manager(self.app).call(name, "/topology", timeout=5.0).get("description"))
        except KafkaAgentError:
            return None

    def query_app(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = manager(self.app).call(name, "/query", params)["rows"]
        return rows

    def _registry(self) -> Any:
        from core.services.rest import registry_client

        return registry_client(self.app, self.cfg)

    def registry_latest(self, subject: str) -> tuple[int, str] | None:
        from core.kafka import schemas as kschemas

        if not self.cfg.schema_registry_url:
            raise NotFound(
                f"Cluster {self.cfg.name!r} has no Schema Registry, which AVRO needs.",
                hint="Set schema_registry_url for the cluster.",
            )
        try:
            found = kschemas.get_schema(self._registry(), subject)
        except NotFound:
            return None
        return found.id, found.schema_text

    def registry_schema(self, schema_id: int) -> str | None:
        from core.kafka import schemas as kschemas

        if not self.cfg.schema_registry_url:
            return None
        try:
            return kschemas.get_schema_by_id(self._registry(), schema_id)
        except NotFound:
            return None

    def registry_check(self, subject: str, schema: str) -> tuple[bool, list[str]]:
        from core.kafka import schemas as kschemas

        if not self.cfg.schema_registry_url:
            raise NotFound(
                f"Cluster {self.cfg.name!r} has no Schema Registry, which AVRO needs.",
                hint="Set schema_registry_url for the cluster.",
            )
        report = kschemas.check_compatibility(self._registry(), subject, schema, "AVRO")
        return report.compatible, [f"v{p.against_version}: {p.reason}" for p in report.problems]

    def scan(
        self, topic: str, *, earliest: bool, to_end: bool, stop: threading.Event, timeout: float
    ) -> Iterator[RawRecord]:
        """Records of the topic from its start (or end) until ``stop`` or ``timeout``; with ``to_end``, only up to the
        end offsets at the start of the scan (a pull query of a stream or table), read_committed."""
        from confluent_kafka import Consumer, TopicPartition

        conf = self.app.clients.consumer_config(
            self.cfg.name,
            **{
                "group.id": f"ksa-query-{uuid.uuid4().hex[:8]}",
                "enable.auto.commit": False,
                "isolation.level": "read_committed",
            },
        )
        consumer = Consumer(conf)
        try:
            meta = consumer.list_topics(topic, timeout=self.app.timeout)
            tmeta = meta.topics.get(topic)
            if tmeta is None or not tmeta.partitions:
                raise NotFound(f"Topic {topic!r} does not exist.")
            parts = sorted(tmeta.partitions)
            ends: dict[int, int] = {}
            if to_end:
                for p in parts:
                    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=self.app.timeout)
                    if high > low:
                        ends[p] = high
                if not ends:
                    return
            offset = -2 if earliest else -1  # OFFSET_BEGINNING / OFFSET_END
            consumer.assign([TopicPartition(topic, p, offset) for p in parts if not to_end or p in ends])
            deadline = time.monotonic() + timeout
            while not stop.is_set() and time.monotonic() < deadline:
                if to_end and not ends:
                    return
                for msg in consumer.consume(200, timeout=0.2):
                    if msg.error():
                        continue
                    p = msg.partition()
                    if to_end:
                        if p not in ends:
                            continue
                        if msg.offset() >= ends[p] - 1:
                            ends.pop(p, None)
                        if msg.offset() >= (ends.get(p) or msg.offset() + 1):
                            continue
                    ts = msg.timestamp()[1]
                    yield RawRecord(msg.key(), msg.value(), int(ts), p, msg.offset())
                    if stop.is_set():
                        return
                if to_end:
                    # a partition whose last offsets are transaction markers never yields its end record
                    for p in list(ends):
                        position = consumer.position([TopicPartition(topic, p)])[0].offset
                        if position >= ends[p]:
                            ends.pop(p)
        finally:
            consumer.close()


def engine(app: AppContext, cluster: str | None) -> KsqlEngine:
    """The built-in SQL engine of one cluster (its catalog lives in <data_dir>/streams/ksql/<cluster>/)."""
    cfg = app.clients.cluster(cluster)
    folder = app.settings.data_dir / "streams" / "ksql" / cfg.name
    return app.lazy.get(f"ksql-engine:{cfg.name}", lambda: KsqlEngine(folder, EngineBackend(app, cfg.name)))


class GatedApplier:
    """The planned changes of one SQL batch, each through the gate as its own change on the real resource."""

    def __init__(self, app: AppContext, cluster: str, *, tool: str, requester: Requester, consent: Consent) -> None:
        self.app = app
        self.cfg = app.clients.cluster(cluster)
        self.tool = tool
        self.requester = requester
        self.consent = consent

    def change_for(self, item: PlannedChange) -> Change:
        return Change(
            tool=self.tool,
            cluster=self.cfg.name,
            action=item.action,
            resource_type=item.resource_type,
            resources=list(item.resources),
            implies=DELETE_IMPLIES if item.action == "stream.delete" else [],
            destructive=item.destructive,
            arguments={"statement": item.statement},
            details={**item.details, "profile": self.cfg.profile},
        )

    def check(self, items: list[PlannedChange]) -> None:
        """Modes, protected resources and policies for every change (refusals raise, and are audited)."""
        for item in items:
            self.app.gate.check(self.change_for(item), requester=self.requester)
            if item.spec is not None:
                self.app.gate.check(sink_write_change(item.spec, self.cfg, tool=self.tool), requester=self.requester)

    def prepare(self, items: list[PlannedChange]) -> None:
        """Admit every change of the batch (checks and consent) before the first one runs."""
        for item in items:
            self.app.gate.admit(
                self.change_for(item), requester=self.requester, consent=self.consent, effect=item.effect
            )

    def apply(self, item: PlannedChange) -> Any:
        return self.app.gate.perform(
            self.change_for(item),
            lambda permit: self._act(permit, item),
            requester=self.requester,
            consent=self.consent,
            effect=item.effect,
        )

    def _act(self, permit: Permit, item: PlannedChange) -> Any:
        admin = self.app.clients.admin(self.cfg.name)
        timeout = self.app.timeout
        if item.action == "topic.create":
            assert item.topic is not None and item.partitions is not None and item.replication_factor is not None
            created = ktopics.create_topic(
                permit,
                admin,
                item.topic,
                partitions=item.partitions,
                replication_factor=item.replication_factor,
                configs=None,
                validate_only=False,
                timeout=timeout,
            )
            _wait_visible(admin, item.topic, timeout=max(timeout, 10.0))
            return created
        if item.action == "topic.delete":
            assert item.topic is not None
            return ktopics.delete_topic(permit, admin, item.topic, timeout=timeout, messages=item.records or 0)
        if item.action == "topic.produce":
            assert item.topic is not None
            key = bytes.fromhex(item.key) if item.key is not None else None
            value = bytes.fromhex(item.value) if item.value is not None else None
            return ops.produce_one(
                permit,
                self.app.clients.producer(self.cfg.name),
                item.topic,
                key,
                value,
                item.timestamp,
                timeout=timeout,
            )
        if item.action == "schema.register":
            from core.kafka import schemas as kschemas
            from core.services.rest import registry_client

            assert item.subject is not None and item.schema_text is not None
            done = kschemas.register_schema(permit, registry_client(self.app, self.cfg), item.subject, item.schema_text)
            return done.id
        if item.action == "stream.deploy":
            assert item.spec is not None
            plan = plan_deploy(self.app, item.spec, self.cfg)
            outcome = deploy(permit, self.app, item.spec, self.cfg, plan, tool=self.tool)
            record = outcome.application
            return {"application": item.spec.name, "pid": record.pid if record else None}
        if item.action == "stream.stop":
            assert item.application is not None
            return manager(self.app).stop(permit, item.application)
        assert item.application is not None
        return remove(permit, self.app, item.application, topics=item.internal_topics)


def _wait_visible(admin: Any, topic: str, *, timeout: float) -> None:
    """A new topic reaches every broker's metadata a moment after the create returns: wait for it, so the next
    statement of the batch (a query reading it) finds it."""
    from core.kafka._futures import metadata

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            tmeta = metadata(admin, timeout=timeout).topics.get(topic)
            if tmeta is not None and tmeta.partitions:
                return
        time.sleep(0.2)


@dataclass
class KsqlBatch:
    """A planned SQL batch: the changes it makes, and the one ``ksql.batch`` change consent is asked for.

    ``change`` is None when the batch changes no real resource (SHOW, DESCRIBE, a catalog-only CREATE or DROP);
    it is destructive when any planned change is. Run it with ``run(permit)`` through the gate (the consent the
    permit carries is handed on to each destructive change, for exactly the planned ones), or, without a change,
    with ``run_unchanged()``."""

    app: AppContext
    cluster: str
    sql: str
    tool: str
    requester: Requester
    planned: list[PlannedChange]
    change: Change | None
    effect: str
    properties: dict[str, Any] | None = None

    def run(self, permit: Permit) -> list[dict[str, Any]]:
        for resource in permit.change.resources:
            permit.require("ksql.batch", resource)
        consent: Consent = NoConsent("the batch was not confirmed for destructive changes")
        if permit.change.destructive:
            covers = frozenset(pair for item in self.planned if item.destructive for pair in item.pairs())
            consent = Preapproved(Grant(permit.decision, permit.decided_by, covers))
        applier = GatedApplier(self.app, self.cluster, tool=self.tool, requester=permit.requester, consent=consent)
        return engine(self.app, self.cluster).execute(self.sql, applier, self.properties)

    def run_unchanged(self) -> list[dict[str, Any]]:
        applier = GatedApplier(self.app, self.cluster, tool=self.tool, requester=self.requester, consent=NoConsent())
        return engine(self.app, self.cluster).execute(self.sql, applier, self.properties)


def plan_batch(
    app: AppContext,
    cluster: str | None,
    sql: str,
    *,
    tool: str,
    requester: Requester,
    properties: dict[str, Any] | None = None,
) -> KsqlBatch:
    """Plan every statement of ``sql`` (nothing runs if any fails), have the runner build every new query's topology
    (so a spec it cannot build is refused before anything runs), check each planned change against the modes,
    protected resources and policies, and describe the batch for consent."""
    cfg = app.clients.cluster(cluster)
    planned = engine(app, cfg.name).plan(sql, properties)
    specs = [item.spec for item in planned if item.spec is not None]
    if specs:
        manager(app).describe(specs)
    GatedApplier(app, cfg.name, tool=tool, requester=requester, consent=NoConsent()).check(planned)
    batch = KsqlBatch(
        app=app,
        cluster=cfg.name,
        sql=sql,
        tool=tool,
        requester=requester,
        planned=planned,
        change=None,
        effect="",
        properties=properties,
    )
    if not planned:
        return batch
    destructive = [item for item in planned if item.destructive]
    shown = destructive or planned
    kinds = {item.resource_type for item in shown}
    batch.change = Change(
        tool=tool,
        cluster=cfg.name,
        action="ksql.batch",
        resource_type=kinds.pop() if len(kinds) == 1 else "resource",
        resources=list(dict.fromkeys(r for item in shown for r in item.resources)),
        destructive=bool(destructive),
        arguments={"sql": sql, **({"properties": properties} if properties else {})},
        details={"profile": cfg.profile},
    )
    batch.effect = (
        f"Run this SQL on the built-in engine of cluster {cfg.name!r} ({cfg.bootstrap_servers}); it will "
        + "; ".join(item.effect for item in planned)
        + "."
        + (" Deleted topics, records and application state cannot be restored." if destructive else "")
    )
    return batch


# --- a remote ksqlDB server ---------------------------------------------------------------------------------------


def remote_change(
    app: AppContext, cfg: ClusterConfig, client: KsqlClient, sql: str, *, tool: str, requester: Requester
) -> tuple[Change | None, str]:
    """The change a batch sent to the cluster's ksqlDB server makes, for the gate, and its effect; None when every
    statement is read-only (SHOW, LIST, DESCRIBE, EXPLAIN, SELECT).

    The server's statements are opaque here: the resources are the statements that are not read-only, plus the
    topics that ``DROP ... DELETE TOPIC`` deletes (found with DESCRIBE where the server knows the source). The batch
    is destructive when any statement may remove something; a protected topic among those topics is refused."""
    from streams.ksql_client import delete_topic_source, is_destructive, is_read_only
    from streams.sql import split_statements

    changing = [s for s in split_statements(sql) if not is_read_only(s)]
    if not changing:
        return None, ""
    destructive = [s for s in changing if is_destructive(s)]
    topics: list[str] = []
    for statement in destructive:
        source = delete_topic_source(statement)
        if source is None:
            continue
        try:
            described = client.execute_read(f"DESCRIBE {source};")
            topic = described[0]["sourceDescription"]["topic"]
        except (KafkaAgentError, LookupError, TypeError):
            continue  # a source the server does not know: the server refuses the DROP itself
        if isinstance(topic, str) and topic not in topics:
            topics.append(topic)
    for topic in topics:
        app.gate.check(
            Change(
                tool=tool,
                cluster=cfg.name,
                action="topic.delete",
                resource_type="topic",
                resources=[topic],
                destructive=True,
                arguments={"sql": sql},
            ),
            requester=requester,
        )
    change = Change(
        tool=tool,
        cluster=cfg.name,
        action="ksql.execute",
        resource_type="statement",
        resources=list(dict.fromkeys([*changing, *topics])),
        destructive=bool(destructive),
        arguments={"sql": sql},
        details={"profile": cfg.profile},
    )
    effect = f"Send to the ksqlDB server at {cfg.ksqldb_url} (cluster {cfg.name!r}): {'; '.join(changing)}."
    if destructive:
        effect += (
            " Dropping a table or stream stops the queries that write it, TERMINATE stops a query, and these "
            "cannot be undone."
        )
    if topics:
        effect += f" DELETE TOPIC deletes topic(s) {', '.join(repr(t) for t in topics)} and every record in them."
    return change, effect
