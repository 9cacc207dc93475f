"""Deploying and deleting stream applications with the server's clients and safety gate (used by the MCP tools, the
SQL engine and the REST facade alike), and the SQL engine's backend."""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, Field

from core.app import AppContext
from core.errors import NotFound
from core.gate import Change
from streams import ops
from streams.manager import RunnerRecord, StreamsManager
from streams.ops import CleanupResult, DeployPlan
from streams.spec import StreamSpec


def manager(app: AppContext) -> StreamsManager:
    return app.lazy.get("streams", lambda: StreamsManager(app.settings))


class DeployOutcome(BaseModel):
    dry_run: bool
    plan: DeployPlan
    topology: str | None = Field(None, description="Kafka Streams' description of the topology (dry run).")
    sink_created: bool = False
    application: RunnerRecord | None = None
    health: dict[str, Any] | None = None


def deploy(
    app: AppContext, spec: StreamSpec, cluster: str | None, *, dry_run: bool = False, tool: str = "kafka_stream_deploy"
) -> DeployOutcome:
    """Plan, authorize, create the sink topic when missing, launch the runner and wait until it runs."""
    cfg = app.clients.cluster(cluster)
    admin = app.clients.admin(cfg.name)
    mgr = manager(app)
    plan = ops.plan_deploy(admin, spec, timeout=app.timeout)
    if dry_run:
        return DeployOutcome(dry_run=True, plan=plan, topology=mgr.describe(spec))
    change = Change(
        tool=tool,
        cluster=cfg.name,
        action="stream.deploy",
        resource_type="topic",
        resources=[spec.sink.topic],
        arguments={"spec": spec.model_dump(mode="json", exclude_none=True)},
        details={
            "application_id": spec.application_id,
            "partitions": plan.sink_partitions,
            "replication_factor": plan.sink_replication_factor,
            "internal_topic_prefix": plan.internal_topic_prefix,
            "profile": cfg.profile,
        },
    )
    app.safety.authorize(change, confirm_token=None, effect=f"deploy stream application {spec.name!r}")
    created = False
    try:
        if not plan.sink_exists:
            from core.kafka import topics as ktopics

            ktopics.create_topic(
                admin,
                spec.sink.topic,
                partitions=plan.sink_partitions,
                replication_factor=plan.sink_replication_factor,
                configs=None,
                validate_only=False,
                timeout=app.timeout,
            )
            created = True
        record = mgr.launch(spec, cfg, replication_factor=plan.internal_replication_factor)
        health = mgr.wait_state(spec.name, "RUNNING", timeout=90.0)
    except Exception as exc:
        app.safety.record(change, decision="allowed", error=str(exc))
        raise
    app.safety.record(change, decision="allowed", result={"pid": record.pid, "sink_created": created})
    return DeployOutcome(dry_run=False, plan=plan, sink_created=created, application=mgr.get(spec.name), health=health)


def remove(app: AppContext, name: str) -> CleanupResult:
    """Stop the application, delete its internal topics and group, and its local state (no consent here)."""
    mgr = manager(app)
    rec = mgr.get(name)
    admin = app.clients.admin(rec.cluster)
    if rec.status in ("running", "starting"):
        mgr.stop(name)
    topics = ops.internal_topics(admin, rec.application_id, timeout=app.timeout)
    cleanup = ops.delete_application_resources(admin, rec.application_id, topics, timeout=app.timeout)
    mgr.remove(name)
    return cleanup


class EngineBackend:
    """The SQL engine's view of one cluster, through the server's clients, gate and runners."""

    def __init__(self, app: AppContext, cluster: str | None, *, tool: str = "kafka_ksql") -> None:
        self.app = app
        self.cfg = app.clients.cluster(cluster)
        self.tool = tool

    def topic_partitions(self, topic: str) -> int | None:
        from core.kafka._futures import metadata

        tmeta = metadata(self.app.clients.admin(self.cfg.name), timeout=self.app.timeout).topics.get(topic)
        return len(tmeta.partitions) if tmeta is not None and tmeta.partitions else None

    def create_topic(self, topic: str, partitions: int) -> None:
        from core.kafka import topics as ktopics

        admin = self.app.clients.admin(self.cfg.name)
        brokers = len(admin.list_topics(timeout=self.app.timeout).brokers)
        rf = min(3, brokers)
        change = Change(
            tool=self.tool,
            cluster=self.cfg.name,
            action="topic.create",
            resource_type="topic",
            resources=[topic],
            arguments={"topic": topic, "partitions": partitions},
            details={"partitions": partitions, "replication_factor": rf, "profile": self.cfg.profile},
        )
        self.app.safety.authorize(change, confirm_token=None, effect=f"create topic {topic!r}")
        ktopics.create_topic(
            admin,
            topic,
            partitions=partitions,
            replication_factor=rf,
            configs=None,
            validate_only=False,
            timeout=self.app.timeout,
        )
        self.app.safety.record(change, decision="allowed", result={"partitions": partitions})

    def delete_topic(self, topic: str) -> None:
        from core.kafka import topics as ktopics

        if self.app.safety.is_protected_topic(topic):
            from core.errors import ProtectedResource

            raise ProtectedResource(f"Topic {topic!r} is protected; DROP ... DELETE TOPIC may not remove it.")
        ktopics.delete_topic(self.app.clients.admin(self.cfg.name), topic, timeout=self.app.timeout)

    def deploy(self, spec: StreamSpec) -> None:
        deploy(self.app, spec, self.cfg.name, tool=self.tool)

    def remove_app(self, name: str) -> None:
        with contextlib.suppress(NotFound):
            remove(self.app, name)

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


def engine(app: AppContext, cluster: str | None) -> Any:
    """The built-in SQL engine of one cluster (its catalog lives in <data_dir>/streams/ksql/<cluster>/)."""
    from streams.ksql_engine import KsqlEngine

    cfg = app.clients.cluster(cluster)
    folder = app.settings.data_dir / "streams" / "ksql" / cfg.name
    return app.lazy.get(f"ksql-engine:{cfg.name}", lambda: KsqlEngine(folder, EngineBackend(app, cfg.name)))
