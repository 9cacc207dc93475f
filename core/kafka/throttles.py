"""Replication throttles for a reassignment, set and removed the way Kafka's own ``kafka-reassign-partitions`` does:

- per broker (dynamic broker configs): ``leader.replication.throttled.rate`` and
  ``follower.replication.throttled.rate``, bytes/s, on every broker that sends or receives a copy;
- per topic: ``leader.replication.throttled.replicas`` lists the replicas that send (``partition:broker`` of the
  current replicas of moving partitions), ``follower.replication.throttled.replicas`` the ones that receive.

Only replication of the listed replicas is throttled; clients are not. Left behind, a throttle slows every later
catch-up of those replicas, so every path that sets them removes them (``remove``), and ``state`` finds leftovers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from core.errors import translate_kafka_error
from core.kafka._futures import wait_each

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit
    from core.kafka.reassign_plan import Move

BROKER_KEYS = ("leader.replication.throttled.rate", "follower.replication.throttled.rate")
TOPIC_KEYS = ("leader.replication.throttled.replicas", "follower.replication.throttled.replicas")


class ThrottleState(BaseModel):
    brokers: dict[int, int] = Field(description="Broker id -> throttle rate (bytes/s) where one is set.")
    topics: dict[str, dict[str, str]] = Field(description="Topic -> throttled replica lists where set.")

    @property
    def clear(self) -> bool:
        return not self.brokers and not self.topics


def broker_resource(broker: int) -> str:
    """How the gate names a broker as a resource."""
    return f"broker:{broker}"


def plan_throttles(moves: list[Move]) -> tuple[dict[str, dict[str, str]], list[int]]:
    """Per topic, the two replica lists; and the brokers whose rate is set (every sender and receiver)."""
    leader: dict[str, list[str]] = {}
    follower: dict[str, list[str]] = {}
    brokers: set[int] = set()
    for m in moves:
        if not m.adding:
            continue  # a reorder copies nothing
        leader.setdefault(m.topic, []).extend(f"{m.partition}:{b}" for b in m.current)
        follower.setdefault(m.topic, []).extend(f"{m.partition}:{b}" for b in m.adding)
        brokers.update(m.current)
        brokers.update(m.adding)
    topics = {t: {TOPIC_KEYS[0]: ",".join(leader[t]), TOPIC_KEYS[1]: ",".join(follower[t])} for t in sorted(leader)}
    return topics, sorted(brokers)


def _batches(resources: list[Any]) -> list[list[Any]]:
    """librdkafka takes one broker resource per config request: every broker alone, the topics together."""
    from confluent_kafka.admin import ResourceType

    brokers = [[r] for r in resources if r.restype == ResourceType.BROKER]
    topics = [r for r in resources if r.restype != ResourceType.BROKER]
    return brokers + ([topics] if topics else [])


def _alter(permit: Permit, admin: AdminClient, resources: list[Any], *, action: str, timeout: float, what: str) -> None:
    from confluent_kafka.admin import ResourceType

    for r in resources:
        permit.require(action, broker_resource(int(r.name)) if r.restype == ResourceType.BROKER else r.name)
    for batch in _batches(resources):
        futures = admin.incremental_alter_configs(batch, request_timeout=timeout)
        results = wait_each({r.name: f for r, f in futures.items()}, what=what, timeout=timeout + 1)
        for outcome in results.values():
            if isinstance(outcome, Exception):
                raise outcome


def set_throttles(
    permit: Permit, admin: AdminClient, moves: list[Move], rate: int, *, timeout: float
) -> tuple[list[str], list[int]]:
    """Throttle the replication of the moving replicas to ``rate`` bytes/s; returns the topics and brokers touched."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    topics, brokers = plan_throttles(moves)
    set_op = AlterConfigOpType.SET
    resources = [
        ConfigResource(
            ResourceType.BROKER,
            str(b),
            incremental_configs=[ConfigEntry(k, str(rate), incremental_operation=set_op) for k in BROKER_KEYS],
        )
        for b in brokers
    ]
    resources += [
        ConfigResource(
            ResourceType.TOPIC,
            t,
            incremental_configs=[ConfigEntry(k, v, incremental_operation=set_op) for k, v in values.items()],
        )
        for t, values in topics.items()
    ]
    _alter(permit, admin, resources, action="throttle.set", timeout=timeout, what="set replication throttle on")
    return sorted(topics), brokers


def remove_throttles(
    permit: Permit, admin: AdminClient, *, topics: list[str], brokers: list[int], timeout: float
) -> None:
    """Delete the throttle configs from these topics and brokers (deleting an unset config is a no-op)."""
    from confluent_kafka.admin import AlterConfigOpType, ConfigEntry, ConfigResource, ResourceType

    delete = AlterConfigOpType.DELETE
    resources = [
        ConfigResource(
            ResourceType.BROKER,
            str(b),
            incremental_configs=[ConfigEntry(k, None, incremental_operation=delete) for k in BROKER_KEYS],
        )
        for b in brokers
    ]
    resources += [
        ConfigResource(
            ResourceType.TOPIC,
            t,
            incremental_configs=[ConfigEntry(k, None, incremental_operation=delete) for k in TOPIC_KEYS],
        )
        for t in topics
    ]
    _alter(permit, admin, resources, action="throttle.remove", timeout=timeout, what="remove replication throttle from")


def throttle_state(admin: AdminClient, *, topics: list[str], brokers: list[int], timeout: float) -> ThrottleState:
    """The throttles set on these topics and brokers now (dynamic configs only)."""
    from confluent_kafka.admin import ConfigResource, ResourceType

    resources = [ConfigResource(ResourceType.BROKER, str(b)) for b in brokers]
    resources += [ConfigResource(ResourceType.TOPIC, t) for t in topics]
    if not resources:
        return ThrottleState(brokers={}, topics={})
    futures: dict[Any, Any] = {}
    for batch in _batches(resources):
        futures.update(admin.describe_configs(batch, request_timeout=timeout))
    state = ThrottleState(brokers={}, topics={})
    for res, fut in futures.items():
        try:
            entries = fut.result(timeout=timeout + 1)
        except Exception as exc:
            if res.restype == ResourceType.BROKER:
                raise translate_kafka_error(exc, what=f"describe configs of broker {res.name}") from None
            continue  # a topic deleted meanwhile has no throttle to leave behind
        if res.restype == ResourceType.BROKER:
            rates = [int(entries[k].value) for k in BROKER_KEYS if _dynamic(entries.get(k))]
            if rates:
                state.brokers[int(res.name)] = max(rates)
        else:
            lists = {k: str(entries[k].value) for k in TOPIC_KEYS if _dynamic(entries.get(k))}
            if lists:
                state.topics[res.name] = lists
    return state


def _dynamic(entry: Any) -> bool:
    """Set on purpose: a value from a dynamic config, not the (empty / unlimited) default."""
    if entry is None or entry.value in (None, ""):
        return False
    return not entry.is_default
