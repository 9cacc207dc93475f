"""Stream applications through the gate, for the MCP tools, the SQL engine and the ksqlDB REST facade alike.

- ``deploy(permit, ...)``: the sink topic when missing (its own ``topic.create`` through the gate), the runner,
  waiting until it runs; ``deploy_change`` describes it (``stream.deploy`` of the application).
- ``remove(permit, ...)``: stop the runner, delete its internal topics and its consumer group, its local state;
  ``delete_change`` describes it (``stream.delete`` of the application, its internal topics and its group).
- A remote ksqlDB server (``remote_change``): statements are opaque; those that change need a permit, those that
  may remove something need consent (``KsqlClient.execute(permit, ...)``).
- The SQL engine of a cluster (``engine``): ``EngineBackend`` reads the cluster and the runners; a SQL batch is
  planned (``plan_batch``), consent is obtained once for its destructive changes (by the caller, through the gate, on
  the ``ksql.batch`` change), and ``GatedApplier`` then performs each planned change through ``Gate.perform`` as its
  own change on the real resource, with that consent handed on (``Preapproved``): policies and protections see every
  topic, and every change has its own audit line with its outcome.
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.app import AppContext
from core.errors import KafkaAgentError, NotFound
from core.gate import Change, Grant, NoConsent, Preapproved, Requester
from core.kafka import topics as ktopics
from streams import ops
from streams.ksql_engine import AppResources, KsqlEngine, PlannedChange
from streams.manager import RunnerRecord, StreamsManager
from streams.ops import CleanupResult, DeployPlan
from streams.spec import StreamSpec

if TYPE_CHECKING:
    from core.gate import Consent, Permit
    from core.settings import ClusterConfig
    from streams.ksql_client import KsqlClient

# What a stream.delete permit also allows on the resources it names: stopping the runner, deleting its internal
# topics, deleting its consumer group.
DELETE_IMPLIES = ["stream.stop", "topic.delete", "group.delete"]


def manager(app: AppContext) -> StreamsManager:
    return app.lazy.get("streams", lambda: StreamsManager(app.settings))


class DeployOutcome(BaseModel):
    dry_run: bool
    plan: DeployPlan
    topology: str | None = Field(None, description="Kafka Streams' description of the topology (dry run).")
    sink_created: bool = False
    application: RunnerRecord | None = None
    health: dict[str, Any] | None = None


# --- deploy -------------------------------------------------------------------------------------------------------


def plan_deploy(app: AppContext, spec: StreamSpec, cfg: ClusterConfig) -> DeployPlan:
    """What deploying ``spec`` needs from the cluster (reads only)."""
    return ops.plan_deploy(app.clients.admin(cfg.name), spec, timeout=app.timeout)


def dry_run(app: AppContext, spec: StreamSpec, cfg: ClusterConfig) -> DeployOutcome:
    """The plan and the topology, changing nothing."""
    plan = plan_deploy(app, spec, cfg)
    return DeployOutcome(dry_run=True, plan=plan, topology=manager(app).describe(spec))


def deploy_change(
    spec: StreamSpec, cfg: ClusterConfig, plan: DeployPlan, *, tool: str, arguments: dict[str, Any] | None = None
) -> Change:
    """``stream.deploy`` of the application; the policies read the replication factor of its internal topics."""
    return Change(
        tool=tool,
        cluster=cfg.name,
        action="stream.deploy",
        resource_type="stream",
        resources=[spec.name],
        arguments=arguments if arguments is not None else {"spec": spec.model_dump(mode="json", exclude_none=True)},
        details={
            "application_id": spec.application_id,
            "replication_factor": plan.internal_replication_factor,
            "internal_topic_prefix": plan.internal_topic_prefix,
            "profile": cfg.profile,
        },
    )


def sink_change(spec: StreamSpec, cfg: ClusterConfig, plan: DeployPlan, *, tool: str) -> Change:
    """``topic.create`` of a missing sink topic, with the partitions and replication factor for the policies."""
    return Change(
        tool=tool,
        cluster=cfg.name,
        action="topic.create",
        resource_type="topic",
        resources=[spec.sink.topic],
        arguments={
            "topic": spec.sink.topic,
            "partitions": plan.sink_partitions,
            "replication_factor": plan.sink_replication_factor,
            "application": spec.name,
        },
        details={
            "partitions": plan.sink_partitions,
            "replication_factor": plan.sink_replication_factor,
            "profile": cfg.profile,
        },
    )


def sink_write_change(spec: StreamSpec, cfg: ClusterConfig, *, tool: str) -> Change:
    """The application writes its sink topic: checked against the protected topics (a refusal is audited), not
    performed on its own."""
    return Change(
        tool=tool,
        cluster=cfg.name,
        action="topic.write",
        resource_type="topic",
        resources=[spec.sink.topic],
        arguments={"application": spec.name},
        details={"profile": cfg.profile},
    )


def deploy(
    permit: Permit, app: AppContext, spec: StreamSpec, cfg: ClusterConfig, plan: DeployPlan, *, tool: str
) -> DeployOutcome:
    """Create the sink topic when missing (its own change through the gate, for whoever holds ``permit``), launch
    the runner and wait until it runs. A protected sink topic is refused."""
    permit.require("stream.deploy", spec.name)
    app.gate.check(sink_write_change(spec, cfg, tool=tool), requester=permit.requester)
    mgr = manager(app)
    admin = app.clients.admin(cfg.name)
    created = False
    if not plan.sink_exists:
        app.gate.perform(
            sink_change(spec, cfg, plan, tool=tool),
            lambda p: ktopics.create_topic(
                p,
                admin,
                spec.sink.topic,
                partitions=plan.sink_partitions,
                replication_factor=plan.sink_replication_factor,
                configs=None,
                validate_only=False,
                timeout=app.timeout,
                exist_ok=True,
            ),
            requester=permit.requester,
        )
        created = True
    mgr.launch(permit, spec, cfg, replication_factor=plan.internal_replication_factor)
    health = mgr.wait_state(spec.name, "RUNNING", timeout=90.0)
    return DeployOutcome(dry_run=False, plan=plan, sink_created=created, application=mgr.get(spec.name), health=health)


# --- stop and delete ----------------------------------------------------------------------------------------------


def stop_change(record: RunnerRecord, *, tool: str) -> Change:
    return Change(
        tool=tool,
        cluster=record.cluster,
        action="stream.stop",
        resource_type="stream",
        resources=[record.name],
        arguments={"name": record.name},
    )


def app_resources(app: AppContext, name: str) -> tuple[RunnerRecord, list[str]]:
    """The application's record and its internal topics as they are now (reads only)."""
    record = manager(app).get(name)
    topics = ops.internal_topics(app.clients.admin(record.cluster), record.application_id, timeout=app.timeout)
    return record, topics


def delete_change(record: RunnerRecord, topics: list[str], *, tool: str) -> tuple[Change, str]:
    """``stream.delete`` naming every real resource it removes (the application, each internal topic, the consumer
    group), and the effect to show."""
    topics = sorted(topics)
    change = Change(
        tool=tool,
        cluster=record.cluster,
        action="stream.delete",
        resource_type="stream",
        resources=list(dict.fromkeys([record.name, *topics, record.application_id])),
        implies=DELETE_IMPLIES,
        destructive=True,
        arguments={"name": record.name},
        details={"application_id": record.application_id, "internal_topics": topics},
    )
    effect = (
        f"Stop stream application {record.name!r} ({record.status}) on cluster {record.cluster!r}, delete its "
        f"{len(topics)} internal topic(s) ({', '.join(topics) or 'none'}), its consumer group "
        f"{record.application_id!r} and its local state. The sink topic is kept."
    )
    return change, effect


def remove(permit: Permit, app: AppContext, name: str, *, topics: list[str]) -> CleanupResult:
    """Stop the application, delete the internal ``topics`` and the consumer group (each covered by ``permit``),
    and its local state. Internal topics that appeared after the change was described are left, and reported."""
    permit.require("stream.delete", name)
    mgr = manager(app)
    record = mgr.get(name)
    admin = app.clients.admin(record.cluster)
    if record.status in ("running", "starting"):
        mgr.stop(permit, name)
    cleanup = ops.delete_application_resources(permit, admin, record.application_id, topics, timeout=app.timeout)
    for topic in ops.internal_topics(admin, record.application_id, timeout=app.timeout):
        if topic not in topics:
            cleanup.failed_topics[topic] = (
                "appeared after the deletion was described, so it was not part of it; delete it on its own"
            )
    mgr.remove(permit, name)
    return cleanup


# --- the SQL engine -----------------------------------------------------------------------------------------------


class EngineBackend:
    """The SQL engine's view of one cluster and its runners: reads only (changes go through ``GatedApplier``)."""

    def __init__(self, app: AppContext, cluster: str | None) -> None:
        self.app = app
        self.cfg = app.clients.cluster(cluster)

    def _admin(self) -> Any:
        return self.app.clients.admin(self.cfg.name)

    def topic_partitions(self, topic: str) -> int | None:
        from core.kafka._futures import metadata

        tmeta = metadata(self._admin(), timeout=self.app.timeout).topics.get(topic)
        return len(tmeta.partitions) if tmeta is not None and tmeta.partitions else None

    def topic_records(self, topic: str) -> int:
        from core.kafka import offsets as koffsets

        tmeta = ktopics.require_topic(self._admin(), topic, timeout=self.app.timeout)
        return koffsets.topic_message_count(self._admin(), topic, sorted(tmeta.partitions), timeout=self.app.timeout)

    def default_replication_factor(self) -> int:
        from core.kafka._futures import metadata

        return min(3, max(1, len(metadata(self._admin(), timeout=self.app.timeout).brokers)))

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
        if rec.status != "running":
            return "ERROR" if rec.status == "failed" else "NOT_RUNNING"
        try:
            state = mgr.call(name, "/health", timeout=3.0).get("state", "UNKNOWN")
        except Exception:
            return "UNKNOWN"
        return str(state)

    def query_app(self, name: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = manager(self.app).call(name, "/query", params)["rows"]
        return rows

    def tail(
        self, topic: str, *, earliest: bool, stop: threading.Event, timeout: float
    ) -> Iterator[tuple[str | None, Any]]:
        """Records of the topic from its end (or start), as (key, JSON value), until stop or timeout."""
        import json

        from confluent_kafka import Consumer, TopicPartition

        conf = self.app.clients.consumer_config(
            self.cfg.name,
            **{
                "group.id": f"ksa-push-{uuid.uuid4().hex[:8]}",
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
            offset = -2 if earliest else -1  # OFFSET_BEGINNING / OFFSET_END
            consumer.assign([TopicPartition(topic, p, offset) for p in sorted(tmeta.partitions)])
            deadline = time.monotonic() + timeout
            while not stop.is_set() and time.monotonic() < deadline:
                for msg in consumer.consume(100, timeout=0.2):
                    if msg.error() or msg.value() is None:
                        continue
                    try:
                        value = json.loads(msg.value())
                    except ValueError:
                        continue
                    key = msg.key().decode("utf-8", "replace") if msg.key() is not None else None
                    yield key, value
                    if stop.is_set():
                        return
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

    def apply(self, item: PlannedChange) -> None:
        self.app.gate.perform(
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
        if item.action == "stream.deploy":
            assert item.spec is not None
            plan = plan_deploy(self.app, item.spec, self.cfg)
            outcome = deploy(permit, self.app, item.spec, self.cfg, plan, tool=self.tool)
            record = outcome.application
            return {"application": item.spec.name, "pid": record.pid if record else None}
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

    def run(self, permit: Permit) -> list[dict[str, Any]]:
        for resource in permit.change.resources:
            permit.require("ksql.batch", resource)
        consent: Consent = NoConsent("the batch was not confirmed for destructive changes")
        if permit.change.destructive:
            covers = frozenset(pair for item in self.planned if item.destructive for pair in item.pairs())
            consent = Preapproved(Grant(permit.decision, permit.decided_by, covers))
        applier = GatedApplier(self.app, self.cluster, tool=self.tool, requester=permit.requester, consent=consent)
        return engine(self.app, self.cluster).execute(self.sql, applier)

    def run_unchanged(self) -> list[dict[str, Any]]:
        applier = GatedApplier(self.app, self.cluster, tool=self.tool, requester=self.requester, consent=NoConsent())
        return engine(self.app, self.cluster).execute(self.sql, applier)


def plan_batch(app: AppContext, cluster: str | None, sql: str, *, tool: str, requester: Requester) -> KsqlBatch:
    """Plan every statement of ``sql`` (nothing runs if any fails), check each planned change against the modes,
    protected resources and policies, and describe the batch for consent."""
    cfg = app.clients.cluster(cluster)
    planned = engine(app, cfg.name).plan(sql)
    GatedApplier(app, cfg.name, tool=tool, requester=requester, consent=NoConsent()).check(planned)
    batch = KsqlBatch(
        app=app, cluster=cfg.name, sql=sql, tool=tool, requester=requester, planned=planned, change=None, effect=""
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
        arguments={"sql": sql},
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
