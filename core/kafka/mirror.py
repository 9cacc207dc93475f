"""MirrorMaker 2 as three connectors (MirrorSource, MirrorCheckpoint, MirrorHeartbeat) on the TARGET cluster's
Connect worker, reading from a SOURCE cluster; and replication lag from both clusters' offsets."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument, NotFound
from core.kafka import connect as kconnect
from core.kafka import offsets as koffsets
from core.kafka._futures import metadata
from core.services.rest import RestClient
from core.settings import ClusterConfig

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit

Naming = Literal["prefixed", "identity"]
POLICIES = {
    "prefixed": "org.apache.kafka.connect.mirror.DefaultReplicationPolicy",
    "identity": "org.apache.kafka.connect.mirror.IdentityReplicationPolicy",
}
BYTES = "org.apache.kafka.connect.converters.ByteArrayConverter"
KINDS = ("source", "checkpoint", "heartbeat")
CLASSES = {
    "source": "org.apache.kafka.connect.mirror.MirrorSourceConnector",
    "checkpoint": "org.apache.kafka.connect.mirror.MirrorCheckpointConnector",
    "heartbeat": "org.apache.kafka.connect.mirror.MirrorHeartbeatConnector",
}
# Topics MM2 never replicates by itself (internal, heartbeats, its own); we skip them when measuring lag too.
_NOT_REPLICATED = re.compile(r"^(__.*|.*\.internal|.*-internal|heartbeats|.*\.heartbeats|mm2-.*|connect-.*|_schemas)$")


class MirrorSpec(BaseModel):
    source: str = Field(description="Source cluster alias (its configured name).")
    target: str
    topics: str = Field(".*", description="Comma-separated regular expressions of topics to replicate.")
    topics_exclude: str | None = None
    groups: str = Field(".*", description="Comma-separated regular expressions of consumer groups to checkpoint.")
    naming: Naming = "prefixed"
    sync_group_offsets: bool = True
    emit_checkpoints: bool = True
    replication_factor: int = 3
    refresh_seconds: int = 10


class MirrorConnector(BaseModel):
    name: str
    kind: str
    created: bool | None = None
    status: kconnect.ConnectorStatus | None = None
    error: str | None = None


class MirrorDeployment(BaseModel):
    source: str
    target: str
    worker_url: str
    naming: Naming
    remote_topic_example: str = Field(description="What topic 'orders' is called on the target.")
    connectors: list[MirrorConnector] = Field(description="Per connector: created/updated, or its error.")
    notes: list[str] = Field(default_factory=list)


class TopicLag(BaseModel):
    source_topic: str
    target_topic: str
    source_records: int
    target_records: int
    lag_records: int = Field(description="Records on the source not yet on the target (estimate from counts).")
    target_exists: bool


class MirrorStatus(BaseModel):
    source: str
    target: str
    worker_url: str
    connectors: list[MirrorConnector]
    healthy: bool
    topics: list[TopicLag]
    total_lag_records: int
    note: str = (
        "Lag compares record counts (end minus start offset) per partition between the source topic and its "
        "replica; retention or compaction on either side makes it an estimate."
    )


def connector_names(source: str, target: str) -> dict[str, str]:
    return {kind: f"mm2-{source}-to-{target}-{kind}" for kind in KINDS}


def remote_topic(topic: str, source: str, naming: Naming) -> str:
    return topic if naming == "identity" else f"{source}.{topic}"


def _cluster_props(prefix: str, cfg: ClusterConfig) -> dict[str, str]:
    """Java client properties for one side (MM2 reads them with a ``source.cluster.``/``target.cluster.`` prefix)."""
    props = {f"{prefix}bootstrap.servers": cfg.bootstrap_servers, f"{prefix}security.protocol": cfg.security_protocol}
    if cfg.sasl_mechanism:
        props[f"{prefix}sasl.mechanism"] = cfg.sasl_mechanism
        if cfg.sasl_username and cfg.sasl_password is not None:
            module = (
                "org.apache.kafka.common.security.plain.PlainLoginModule"
                if cfg.sasl_mechanism == "PLAIN"
                else "org.apache.kafka.common.security.scram.ScramLoginModule"
            )
            props[f"{prefix}sasl.jaas.config"] = (
                f'{module} required username="{cfg.sasl_username}" password="{cfg.sasl_password.get_secret_value()}";'
            )
    if cfg.ssl_ca_location:
        props[f"{prefix}ssl.truststore.type"] = "PEM"
        props[f"{prefix}ssl.truststore.location"] = cfg.ssl_ca_location
    return props


def connector_configs(spec: MirrorSpec, source: ClusterConfig, target: ClusterConfig) -> dict[str, dict[str, str]]:
    """The three connector configs, keyed by connector name."""
    for pattern in [*spec.topics.split(","), *spec.groups.split(","), *(spec.topics_exclude or "").split(",")]:
        try:
            re.compile(pattern.strip())
        except re.error as exc:
            raise InvalidArgument(f"{pattern!r} is not a valid regular expression: {exc}.") from None
    if spec.source == spec.target:
        raise InvalidArgument("Source and target must be different clusters.")
    rf = str(spec.replication_factor)
    common = {
        "source.cluster.alias": spec.source,
        "target.cluster.alias": spec.target,
        **_cluster_props("source.cluster.", source),
        **_cluster_props("target.cluster.", target),
        "replication.policy.class": POLICIES[spec.naming],
        "key.converter": BYTES,
        "value.converter": BYTES,
        "header.converter": BYTES,
        "tasks.max": "1",
    }
    names = connector_names(spec.source, spec.target)
    source_conf = {
        **common,
        "connector.class": CLASSES["source"],
        "topics": spec.topics,
        "replication.factor": rf,
        "offset-syncs.topic.replication.factor": rf,
        "sync.topic.configs.enabled": "true",
        "sync.topic.acls.enabled": "false",
        "refresh.topics.interval.seconds": str(spec.refresh_seconds),
        "emit.offset-syncs.enabled": "true",
        "offset.lag.max": "100",
    }
    if spec.topics_exclude:
        source_conf["topics.exclude"] = spec.topics_exclude
    checkpoint_conf = {
        **common,
        "connector.class": CLASSES["checkpoint"],
        "groups": spec.groups,
        "checkpoints.topic.replication.factor": rf,
        "emit.checkpoints.enabled": str(spec.emit_checkpoints).lower(),
        "emit.checkpoints.interval.seconds": str(spec.refresh_seconds),
        "sync.group.offsets.enabled": str(spec.sync_group_offsets).lower(),
        "sync.group.offsets.interval.seconds": str(spec.refresh_seconds),
        "refresh.groups.interval.seconds": str(spec.refresh_seconds),
    }
    heartbeat_conf = {
        **common,
        "connector.class": CLASSES["heartbeat"],
        "heartbeats.topic.replication.factor": rf,
        "emit.heartbeats.interval.seconds": "5",
    }
    return {names["source"]: source_conf, names["checkpoint"]: checkpoint_conf, names["heartbeat"]: heartbeat_conf}


def deploy(
    permit: Permit, rest: RestClient, spec: MirrorSpec, source: ClusterConfig, target: ClusterConfig
) -> MirrorDeployment:
    """Create or update the three connectors (each validated by the worker first); per-connector results.

    The permit must cover ``mirror.deploy`` of every connector name (checked for all three before any is written)
    and imply ``connector.put`` on them (``put_connector`` writes each one)."""
    configs = connector_configs(spec, source, target)
    for name in configs:  # a refusal raises here, before anything is written (per-connector errors are reported)
        permit.require("mirror.deploy", name)
        permit.require("connector.put", name)
    out: list[MirrorConnector] = []
    for name, conf in configs.items():
        kind = name.rsplit("-", 1)[-1]
        try:
            written = kconnect.put_connector(permit, rest, name, conf)
            out.append(MirrorConnector(name=name, kind=kind, created=written.created, status=written.status))
        except Exception as exc:  # per connector: report and go on
            out.append(MirrorConnector(name=name, kind=kind, error=str(exc)))
    notes = [
        f"Topics matching {spec.topics!r} on {spec.source!r} appear on {spec.target!r} as "
        f"{remote_topic('<topic>', spec.source, spec.naming)!r}; new topics are picked up within "
        f"{spec.refresh_seconds}s.",
    ]
    if spec.naming == "identity":
        notes.append("Identity naming keeps topic names: use it active-passive only (both directions would loop).")
    if spec.sync_group_offsets:
        notes.append("Committed offsets of groups idle on the target are translated and written there (failover).")
    if source.sasl_password is not None or target.sasl_password is not None:
        notes.append("SASL credentials are part of the connector configs: restrict access to the worker's REST API.")
    return MirrorDeployment(
        source=spec.source,
        target=spec.target,
        worker_url=rest.base_url,
        naming=spec.naming,
        remote_topic_example=remote_topic("orders", spec.source, spec.naming),
        connectors=out,
        notes=notes,
    )


def _partition_counts(admin: AdminClient, topics: list[str], *, timeout: float) -> dict[str, list[int]]:
    meta = metadata(admin, timeout=timeout)
    return {t: sorted(meta.topics[t].partitions) for t in topics if t in meta.topics}


def _counts(admin: AdminClient, parts: dict[str, list[int]], *, timeout: float) -> dict[tuple[str, int], int]:
    pairs = [(t, p) for t, ps in parts.items() for p in ps]
    return {(w.topic, w.partition): w.messages for w in koffsets.watermarks(admin, pairs, timeout=timeout)}


def mirror_status(
    rest: RestClient,
    source: str,
    target: str,
    source_admin: AdminClient,
    target_admin: AdminClient,
    *,
    timeout: float,
) -> MirrorStatus:
    """The three connectors' states, and for each replicated source topic how many records the target lacks."""
    connectors: list[MirrorConnector] = []
    source_conf: dict[str, str] | None = None
    for kind, name in connector_names(source, target).items():
        try:
            status = kconnect.connector_status(rest, name)
            connectors.append(MirrorConnector(name=name, kind=kind, status=status))
            if kind == "source":
                source_conf = kconnect.connector_config(rest, name)
        except NotFound:
            connectors.append(MirrorConnector(name=name, kind=kind, error="not deployed"))
    if source_conf is None:
        raise NotFound(
            f"No MirrorMaker 2 replication from {source!r} to {target!r} on the worker at {rest.base_url}.",
            hint="Deploy it with kafka_mirror.",
        )
    naming: Naming = "identity" if "Identity" in source_conf.get("replication.policy.class", "") else "prefixed"
    include = [re.compile(p.strip()) for p in source_conf.get("topics", ".*").split(",") if p.strip()]
    exclude = [re.compile(p.strip()) for p in source_conf.get("topics.exclude", "").split(",") if p.strip()]
    src_topics = [
        t
        for t in metadata(source_admin, timeout=timeout).topics
        if not _NOT_REPLICATED.match(t)
        and not t.startswith(f"{target}.")
        and any(p.fullmatch(t) for p in include)
        and not any(p.fullmatch(t) for p in exclude)
    ]
    src_parts = _partition_counts(source_admin, sorted(src_topics), timeout=timeout)
    remote = {t: remote_topic(t, source, naming) for t in src_parts}
    tgt_parts = _partition_counts(target_admin, list(remote.values()), timeout=timeout)
    src_counts = _counts(source_admin, src_parts, timeout=timeout)
    tgt_counts = _counts(target_admin, tgt_parts, timeout=timeout)
    lags: list[TopicLag] = []
    for topic, parts in src_parts.items():
        rt = remote[topic]
        s_total = sum(src_counts[(topic, p)] for p in parts)
        t_total = sum(v for (t, _), v in tgt_counts.items() if t == rt)
        lag = sum(max(0, src_counts[(topic, p)] - tgt_counts.get((rt, p), 0)) for p in parts)
        lags.append(
            TopicLag(
                source_topic=topic,
                target_topic=rt,
                source_records=s_total,
                target_records=t_total,
                lag_records=lag,
                target_exists=rt in tgt_parts,
            )
        )
    # A checkpoint connector has no task until a consumer group matches: RUNNING without failures is healthy.
    healthy = all(
        c.status is not None and c.status.state == "RUNNING" and not c.status.failed_tasks for c in connectors
    )
    return MirrorStatus(
        source=source,
        target=target,
        worker_url=rest.base_url,
        connectors=connectors,
        healthy=healthy,
        topics=lags,
        total_lag_records=sum(t.lag_records for t in lags),
    )


def target_broker_count(admin: AdminClient, *, timeout: float) -> int:
    return len(metadata(admin, timeout=timeout).brokers)
