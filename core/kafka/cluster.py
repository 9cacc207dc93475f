"""Cluster metadata: id, controller, brokers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.kafka._futures import metadata
from core.kafka.observe import observe

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.kafka.clients import KafkaClients


class BrokerInfo(BaseModel):
    id: int = Field(description="The broker's node id.")
    host: str | None
    port: int | None
    rack: str | None = None
    up: bool = Field(True, description="In the cluster metadata and answering on its address just now.")
    why_down: str | None = None


class ClusterDescription(BaseModel):
    cluster_name: str = Field(description="The configured name of this cluster in the agent.")
    cluster_id: str | None = Field(description="Kafka's cluster id.")
    controller_id: int | None = Field(description="Node id of the active controller, when the cluster reports it.")
    brokers: list[BrokerInfo]
    broker_count: int = Field(description="Brokers up now.")
    topic_count: int = Field(description="Topics, internal ones included.")
    profile: str = Field(description="Environment profile of this cluster: production, staging or dev.")
    not_seen: list[str] = Field(default_factory=list, description="What could not be seen within the time budget.")


def describe_cluster(clients: KafkaClients, cluster: str | None, *, budget: float) -> ClusterDescription:
    """The cluster as it is now: fresh metadata, the controller, and every broker ever seen here probed directly
    (a broker that just died is listed as down, with why)."""
    cfg = clients.cluster(cluster)
    clients.require_answering(cfg.name)
    obs = observe(
        clients.fresh_admin(cfg.name),
        known=clients.known_brokers(cfg.name),
        bootstrap=cfg.bootstrap_servers,
        budget=budget,
    )
    clients.remember_brokers(cfg.name, obs.addresses)
    ids = set(obs.addresses) | obs.registered
    down = obs.down(ids)
    brokers = [
        BrokerInfo(
            id=b,
            host=obs.addresses[b][0] if b in obs.addresses else None,
            port=obs.addresses[b][1] if b in obs.addresses else None,
            rack=obs.racks.get(b),
            up=b not in down,
            why_down=down.get(b),
        )
        for b in sorted(ids)
    ]
    return ClusterDescription(
        cluster_name=cfg.name,
        cluster_id=obs.desc.cluster_id if obs.desc is not None else None,
        controller_id=obs.controller,
        brokers=brokers,
        broker_count=sum(1 for b in brokers if b.up),
        topic_count=len(obs.meta.topics) if obs.meta is not None else 0,
        profile=cfg.profile,
        not_seen=obs.gaps,
    )


def broker_count(admin: AdminClient, *, timeout: float) -> int:
    return len(metadata(admin, timeout=timeout).brokers)
