"""Topics: list, describe, create, configure, add partitions, delete."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import AlreadyExists, InvalidArgument, NotFound
from core.kafka._futures import metadata, wait
from core.names import TOPIC_MAX, check_topic

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit

MAX_TOPIC_NAME = TOPIC_MAX


def validate_topic_name(name: str) -> str:
    """Kafka's own rules, checked before any request so the error says exactly what is wrong."""
    return check_topic(name)


class TopicSummary(BaseModel):
    name: str
    partitions: int
    replication_factor: int
    internal: bool


class TopicList(BaseModel):
    topics: list[TopicSummary]
    count: int
    internal_hidden: bool = Field(description="True when internal topics (names starting with '__') were left out.")


class PartitionInfo(BaseModel):
    partition: int
    leader: int | None = Field(description="Node id of the leader; null when the partition is offline.")
    replicas: list[int]
    isr: list[int] = Field(description="In-sync replicas.")
    under_replicated: bool


class ConfigValue(BaseModel):
    name: str
    value: str | None = Field(description="Null for sensitive entries, which are never shown.")
    source: str = Field(description="Where the value comes from: DYNAMIC_TOPIC_CONFIG, STATIC_BROKER_CONFIG, ...")
    is_default: bool
    read_only: bool
    sensitive: bool


class TopicDescription(BaseModel):
    name: str
    topic_id: str | None
    internal: bool
    partition_count: int
    replication_factor: int
    partitions: list[PartitionInfo]
    configs: list[ConfigValue] = Field(description="Topic configs; defaults included only when asked.")


class CreateTopicResult(BaseModel):
    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]
    validate_only: bool
    created: bool = Field(description="False for a validate_only call, which changes nothing.")


class ConfigChange(BaseModel):
    name: str
    op: Literal["SET", "DELETE"]
    value: str | None = None
    previous: str | None = Field(default=None, description="The value before the change, if it was set.")


class AlterTopicConfigResult(BaseModel):
    topic: str
    changes: list[ConfigChange]
    validate_only: bool
    applied: bool


class AddPartitionsResult(BaseModel):
    topic: str
    previous_count: int
    new_count: int
    validate_only: bool
    applied: bool


class DeleteTopicResult(BaseModel):
    topic: str
    partitions: int
    messages: int = Field(description="Records in the topic when it was deleted (high minus low watermark).")
    deleted: bool


def is_internal(name: str) -> bool:
    return name.startswith("__")


def list_topics(
    admin: AdminClient, *, include_internal: bool, timeout: float, name_pattern: str | None = None
) -> TopicList:
    meta = metadata(admin, timeout=timeout)
    matcher = None
    if name_pattern:
        try:
            matcher = re.compile(name_pattern)
        except re.error as exc:
            raise InvalidArgument(f"name_pattern {name_pattern!r} is not a valid regular expression: {exc}.") from None
    topics: list[TopicSummary] = []
    for name, tmeta in sorted(meta.topics.items()):
        internal = is_internal(name)
        if internal and not include_internal:
            continue
        if matcher and not matcher.search(name):
            continue
        parts = list(tmeta.partitions.values())
        rf = max((len(p.replicas) for p in parts), default=0)
        topics.append(TopicSummary(name=name, partitions=len(parts), replication_factor=rf, internal=internal))
    return TopicList(topics=topics, count=len(topics), internal_hidden=not include_internal)


def topic_exists(admin: AdminClient, name: str, *, timeout: float) -> bool:
    meta = metadata(admin, timeout=timeout)
    return name in meta.topics


def require_topic(admin: AdminClient, name: str, *, timeout: float) -> Any:
    """The topic's metadata, or ``NotFound`` with a hint."""
    validate_topic_name(name)
    meta = metadata(admin, timeout=timeout)
    tmeta = meta.topics.get(name)
    if tmeta is None or (tmeta.error is not None and not tmeta.partitions):
        raise NotFound(f"Topic {name!r} does not exist.", hint="See kafka_list_topics for the topics that exist.")
    return tmeta


def describe_configs(
    admin: AdminClient, resource_type: str, name: str, *, timeout: float, include_defaults: bool = True
) -> list[ConfigValue]:
    from confluent_kafka.admin import ConfigResource, ResourceType

    rtype = ResourceType[resource_type]
    futures = admin.describe_configs([ConfigResource(rtype, name)], request_timeout=timeout)
    entries: dict[str, Any] = wait(
        next(iter(futures.values())), what=f"describe configs of {name!r}", timeout=timeout + 1
    )
    out: list[ConfigValue] = []
    for key in sorted(entries):
        entry = entries[key]
        if entry.is_default and not include_defaults:
            continue
        out.append(
            ConfigValue(
                name=key,
                value=None if entry.is_sensitive else entry.value,
                source=_source_name(entry.source),
                is_default=bool(entry.is_default),
                read_only=bool(entry.is_read_only),
                sensitive=bool(entry.is_sensitive),
            )
        )
    return out


def _source_name(source: Any) -> str:
    from confluent_kafka.admin import ConfigSource

    if hasattr(source, "name"):
        return str(source.name)
    try:
        return str(ConfigSource(source).name)
    except ValueError:
        return str(source)


def describe_topic(
    admin: AdminClient, name: str, *, timeout: float, include_defaults: bool = False
) -> TopicDescription:
    from confluent_kafka import TopicCollection

    require_topic(admin, name, timeout=timeout)
    futures = admin.describe_topics(TopicCollection([name]), request_timeout=timeout)
    desc = wait(futures[name], what=f"describe topic {name!r}", timeout=timeout + 1)
    partitions = [
        PartitionInfo(
            partition=p.id,
            leader=p.leader.id if p.leader is not None and p.leader.id >= 0 else None,
            replicas=[r.id for r in p.replicas],
            isr=[r.id for r in p.isr],
            under_replicated=len(p.isr) < len(p.replicas),
        )
        for p in sorted(desc.partitions, key=lambda p: p.id)
    ]
    configs = describe_configs(admin, "TOPIC", name, timeout=timeout, include_defaults=include_defaults)
    rf = max((len(p.replicas) for p in partitions), default=0)
    topic_id = str(desc.topic_id) if getattr(desc, "topic_id", None) is not None else None
    return TopicDescription(
        name=name,
        topic_id=topic_id,
        internal=bool(desc.is_internal),
        partition_count=len(partitions),
        replication_factor=rf,
        partitions=partitions,
        configs=configs,
    )


def create_topic(
    permit: Permit,
    admin: AdminClient,
    name: str,
    *,
    partitions: int,
    replication_factor: int,
    configs: dict[str, str] | None,
    validate_only: bool,
    timeout: float,
    exist_ok: bool = False,
) -> CreateTopicResult:
    from confluent_kafka.admin import NewTopic

    permit.require("topic.create", name)
    validate_topic_name(name)
    if partitions < 1:
        raise InvalidArgument(f"partitions must be at least 1, got {partitions}.")
    if replication_factor < 1:
        raise InvalidArgument(f"replication_factor must be at least 1, got {replication_factor}.")
    brokers = len(metadata(admin, timeout=timeout).brokers)
    if replication_factor > brokers:
        raise InvalidArgument(
            f"replication_factor {replication_factor} is larger than the {brokers} broker(s) available.",
            hint=f"Use a replication factor of at most {brokers}, or add brokers.",
        )
    conf = {str(k): str(v) for k, v in (configs or {}).items()}
    new = NewTopic(name, num_partitions=partitions, replication_factor=replication_factor, config=conf)
    futures = admin.create_topics(
        [new], operation_timeout=timeout, request_timeout=timeout, validate_only=validate_only
    )
    try:
        wait(futures[name], what=f"create topic {name!r}", timeout=timeout + 1)
    except AlreadyExists:
        if not exist_ok:
            raise
    return CreateTopicResult(
        name=name,
        partitions=partitions,
        replication_factor=replication_factor,
        configs=conf,
        validate_only=validate_only,
        created=not validate_only,
    )


def alter_topic_config(
    permit: Permit,
    admin: AdminClient,
    name: str,
    *,
    set_configs: dict[str, str] | None,
    delete_configs: list[str] | None,
    validate_only: bool,
    timeout: float,
) -> AlterTopicConfigResult:
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    permit.require("topic.config.alter", name)
    set_configs = {str(k): str(v) for k, v in (set_configs or {}).items()}
    delete_configs = list(delete_configs or [])
    if not set_configs and not delete_configs:
        raise InvalidArgument("Nothing to change.", hint="Give set_configs and/or delete_configs.")
    both = set(set_configs) & set(delete_configs)
    if both:
        raise InvalidArgument(f"Configs both set and deleted: {', '.join(sorted(both))}.")
    require_topic(admin, name, timeout=timeout)
    current = {c.name: c for c in describe_configs(admin, "TOPIC", name, timeout=timeout)}
    unknown = sorted(k for k in [*set_configs, *delete_configs] if k not in current)
    if unknown:
        raise InvalidArgument(
            f"Unknown topic config(s): {', '.join(unknown)}.",
            hint="See kafka_describe_topic with include_defaults=true for the valid names.",
        )
    entries = [ConfigEntry(k, v, incremental_operation=AlterConfigOpType.SET) for k, v in set_configs.items()]
    entries += [ConfigEntry(k, None, incremental_operation=AlterConfigOpType.DELETE) for k in delete_configs]
    resource = ConfigResource(ResourceType.TOPIC, name, incremental_configs=entries)
    futures = admin.incremental_alter_configs([resource], request_timeout=timeout, validate_only=validate_only)
    wait(next(iter(futures.values())), what=f"alter configs of topic {name!r}", timeout=timeout + 1)

    def prev(key: str) -> str | None:
        entry = current.get(key)
        return None if entry is None or entry.is_default else entry.value

    changes = [ConfigChange(name=k, op="SET", value=v, previous=prev(k)) for k, v in set_configs.items()]
    changes += [ConfigChange(name=k, op="DELETE", previous=prev(k)) for k in delete_configs]
    return AlterTopicConfigResult(topic=name, changes=changes, validate_only=validate_only, applied=not validate_only)


def add_partitions(
    permit: Permit, admin: AdminClient, name: str, *, total_count: int, validate_only: bool, timeout: float
) -> AddPartitionsResult:
    from confluent_kafka.admin import NewPartitions

    permit.require("topic.partitions.add", name)
    tmeta = require_topic(admin, name, timeout=timeout)
    current = len(tmeta.partitions)
    if total_count <= current:
        raise InvalidArgument(
            f"Topic {name!r} already has {current} partitions; total_count must be larger ({total_count} given).",
            hint="Kafka can only add partitions, never remove them.",
        )
    futures = admin.create_partitions(
        [NewPartitions(name, total_count)],
        operation_timeout=timeout,
        request_timeout=timeout,
        validate_only=validate_only,
    )
    wait(futures[name], what=f"add partitions to {name!r}", timeout=timeout + 1)
    return AddPartitionsResult(
        topic=name,
        previous_count=current,
        new_count=total_count,
        validate_only=validate_only,
        applied=not validate_only,
    )


def delete_topic(
    permit: Permit, admin: AdminClient, name: str, *, timeout: float, messages: int = 0
) -> DeleteTopicResult:
    permit.require("topic.delete", name)
    tmeta = require_topic(admin, name, timeout=timeout)
    futures = admin.delete_topics([name], operation_timeout=timeout, request_timeout=timeout)
    wait(futures[name], what=f"delete topic {name!r}", timeout=timeout + 1)
    return DeleteTopicResult(topic=name, partitions=len(tmeta.partitions), messages=messages, deleted=True)
