"""Stream applications through the gate, for the MCP tools, the SQL engine and the ksqlDB REST facade alike.

- ``deploy(permit, ...)``: the sink topic when missing (its own ``topic.create`` through the gate), the runner,
  waiting until it runs; ``deploy_change`` describes it (``stream.deploy`` of the application).
- ``remove(permit, ...)``: stop the runner, delete its internal topics and its consumer group, its local state;
  ``delete_change`` describes it (``stream.delete`` of the application, its internal topics and its group).

The SQL engine's side (its backend, the gated applier of a batch, a remote ksqlDB server) is ``streams.ksql_service``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.app import AppContext
from core.errors import Conflict
from core.gate import Change
from core.kafka import topics as ktopics
from streams import ops
from streams.manager import RunnerRecord, StreamsManager
from streams.ops import CleanupResult, DeployPlan
from streams.spec import StreamSpec

if TYPE_CHECKING:
    from core.gate import Permit
    from core.settings import ClusterConfig

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
    note: str | None = Field(None, description="How the application started (joined other instances, resumed).")


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
    permit: Permit,
    app: AppContext,
    spec: StreamSpec,
    cfg: ClusterConfig,
    plan: DeployPlan,
    *,
    tool: str,
    instances: int = 1,
    resume: bool = False,
) -> DeployOutcome:
    """Create the sink topic when missing (its own change through the gate, for whoever holds ``permit``), launch
    ``instances`` runners and wait until they run. A protected sink topic is refused.

    A new application (no record of it here) starts clean: when its application id already has committed offsets or
    internal topics from an earlier application and no instance runs, the deploy is refused unless ``resume``; when
    instances of it run elsewhere (another machine), the new ones join them and share the partitions."""
    permit.require("stream.deploy", spec.name)
    app.gate.check(sink_write_change(spec, cfg, tool=tool), requester=permit.requester)
    mgr = manager(app)
    admin = app.clients.admin(cfg.name)
    note = None
    application_id = spec.application_id or f"ksa-{spec.name}"
    if not mgr.exists(spec.name):
        left = ops.leftovers(admin, application_id, timeout=app.timeout)
        if left.strangers:
            raise Conflict(
                f"The consumer group {application_id!r} has member(s) that are not instances of this application "
                f"({', '.join(left.strangers)}): it cannot join them, and they hold the group's offsets.",
                hint="Stop those consumers (or delete the group once they are gone), or choose another name.",
            )
        if left.running_elsewhere:
            note = (
                f"Joined the running instances of application id {application_id!r} ({', '.join(left.instances)}):"
                " Kafka Streams shares the partitions among all of them."
            )
        elif left.any and not resume:
            raise Conflict(
                f"Application id {application_id!r} already has {left.describe()} from an earlier application, and "
                "no instance of it runs: starting now would resume from that old state, not start clean.",
                hint="Delete what is left (kafka_delete_consumer_group, kafka_delete_topic), deploy with resume=true "
                "to continue from it, or choose another name.",
            )
        elif left.any:
            note = f"Resumed from what application id {application_id!r} had: {left.describe()}."
        elif spec.start_from == "latest":
            inputs = [spec.source.topic] + ([spec.join.topic] if spec.join else [])
            ops.start_at_end(permit, admin, spec.name, application_id, inputs, timeout=app.timeout)
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
    mgr.launch(permit, spec, cfg, replication_factor=plan.internal_replication_factor, instances=instances)
    health = mgr.wait_state(spec.name, "RUNNING", timeout=90.0)
    return DeployOutcome(
        dry_run=False, plan=plan, sink_created=created, application=mgr.get(spec.name), health=health, note=note
    )


def app_metrics(app: AppContext, name: str) -> dict[str, Any] | None:
    """The metrics of every running instance of the application, added up (recent failures joined)."""
    mgr = manager(app)
    record = mgr.get(name)
    total: dict[str, Any] | None = None
    for inst in record.instances or []:
        if inst.status != "running" or inst.port is None:
            continue
        import httpx

        try:
            data = httpx.get(f"http://{app.settings.streams_host}:{inst.port}/metrics", timeout=5.0).json()
        except (httpx.HTTPError, ValueError):
            continue
        if total is None:
            total = dict(data)
            total["recent_failures"] = list(data.get("recent_failures") or [])
            continue
        for key, value in data.items():
            if key == "recent_failures":
                total[key] = [*total[key], *(value or [])][-10:]
            elif isinstance(value, int | float) and isinstance(total.get(key), int | float):
                total[key] = total[key] + value
            elif total.get(key) is None:
                total[key] = value
    if total is not None:
        total["instances"] = sum(1 for i in record.instances if i.status == "running")
    return total


def status_warnings(record: RunnerRecord | None, metrics: dict[str, Any] | None) -> list[str]:
    """What a person should know before trusting the output: records that did not make it, restarts, failures."""
    out: list[str] = []
    if metrics:
        failed = metrics.get("failed_records") or 0
        if failed:
            recent = "; ".join((metrics.get("recent_failures") or [])[-3:])
            out.append(f"{failed} record(s) failed and are missing from the output (e.g. {recent}).")
        late = metrics.get("late_records") or 0
        if late:
            out.append(
                f"{late} record(s) arrived after the grace period of their window and were not counted: give the "
                "window a longer GRACE PERIOD (grace_ms) if the data comes out of order."
            )
        dropped = metrics.get("dropped_records") or 0
        if dropped:
            out.append(
                f"Kafka Streams dropped {dropped} record update(s) (expired windows, unreadable records or null keys)."
            )
    if record is not None:
        if record.restarts:
            last = next((i.last_exit for i in record.instances if i.last_exit), None)
            out.append(f"The runner was restarted {record.restarts} time(s) after it stopped unexpectedly ({last}).")
        failed_instances = [i.index for i in record.instances if i.status == "failed"]
        if failed_instances:
            out.append(f"Instance(s) {failed_instances} failed: {record.exit_note or 'see the runner log'}.")
    return out


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
            why = "appeared after the deletion was described, so it was not part of it; delete it on its own"
            cleanup.failed_topics[topic] = why
            cleanup.remaining.append(f"internal topic {topic}: {why}")
            cleanup.complete = False
    mgr.remove(permit, name)
    return cleanup
