"""Cluster metadata: id, controller, brokers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.kafka._futures import metadata, wait

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient


class BrokerInfo(BaseModel):
    id: int = Field(description="The broker's node id.")
    host: str
    port: int
    rack: str | None = None


class ClusterDescription(BaseModel):
    cluster_name: str = Field(description="The configured name of this cluster in the agent.")
    cluster_id: str | None = Field(description="Kafka's cluster id.")
    controller_id: int | None = Field(description="Node id of the active controller, when the cluster reports it.")
    brokers: list[BrokerInfo]
    broker_count: int
    topic_count: int = Field(description="Topics, internal ones included.")
    profile: str = Field(description="Environment profile of this cluster: production, staging or dev.")


def describe_cluster(
    admin: AdminClient, *, cluster_name: str, profile: str, timeout: float, bootstrap: str | None = None
) -> ClusterDescription:
    desc = wait(
        admin.describe_cluster(request_timeout=timeout),
        what="describe cluster",
        timeout=timeout + 1,
        bootstrap=bootstrap,
    )
    brokers = sorted(
        (BrokerInfo(id=n.id, host=n.host, port=n.port, rack=n.rack) for n in desc.nodes), key=lambda b: b.id
    )
    meta = metadata(admin, timeout=timeout, bootstrap=bootstrap)
    controller = desc.controller.id if desc.controller is not None else None
    return ClusterDescription(
        cluster_name=cluster_name,
        cluster_id=desc.cluster_id,
        controller_id=controller,
        brokers=brokers,
        broker_count=len(brokers),
        topic_count=len(meta.topics),
        profile=profile,
    )


def broker_count(admin: AdminClient, *, timeout: float) -> int:
    return len(metadata(admin, timeout=timeout).brokers)
