"""Retiring a broker: where it stands (replicas, leaders, disk, registration), and unregistering it from the KRaft
metadata once it is drained and stopped.

The decommission procedure (prompts/runbooks/decommission-broker.md) is: drain (a reassignment plan with goal
``drain``) -> verify it holds no replica -> stop the broker process -> unregister it. ``unregister_broker`` refuses
a broker that still runs or still holds replicas: a running broker registers itself again, and an unregistered one
with replicas leaves those partitions short of a copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

from core.errors import Conflict, NotFound
from core.kafka.reassign import layout
from core.kafka.throttles import broker_resource
from core.waiting import until

if TYPE_CHECKING:
    from confluent_kafka.admin import AdminClient

    from core.gate import Permit
    from core.kafka.jadmin import JavaAdmin


class BrokerCheck(BaseModel):
    broker: int
    registered: bool = Field(description="Known to the KRaft controller (running or stopped and fenced).")
    running: bool = Field(description="Registered and not fenced: the broker process serves.")
    rack: str | None
    replicas: int = Field(description="Partition replicas assigned to it, on any topic.")
    leaders: int = Field(description="Partitions it leads now.")
    partitions: list[str] = Field(description="Up to 20 of the partitions it still holds.")
    disk_bytes: int | None = Field(description="Bytes in its log dirs (null when it does not answer).")
    ready_to_stop: bool = Field(description="Holds no replica: stopping it loses nothing.")
    ready_to_unregister: bool = Field(description="Holds no replica and is stopped.")
    next_step: str


def _registration(jadmin: JavaAdmin, broker: int, timeout: float) -> tuple[bool, bool, str | None]:
    desc = jadmin.read_op("describeCluster", {"includeFenced": True}, timeout=timeout)
    node = next((n for n in desc["nodes"] if int(n["id"]) == broker), None)
    if node is None:
        return False, False, None
    return True, not bool(node.get("fenced")), node.get("rack")


def decommission_check(admin: AdminClient, jadmin: JavaAdmin, broker: int, *, timeout: float) -> BrokerCheck:
    """Where broker ``broker`` stands in its retirement, and the next step."""
    registered, running, rack = _registration(jadmin, broker, timeout)
    lay = layout(admin, timeout=timeout)
    held = sorted(tp for tp, reps in lay.assignment.items() if broker in reps)
    leads = sum(1 for tp, leader in lay.leaders.items() if leader == broker)
    if not registered and not held:
        raise NotFound(f"Broker {broker} is not registered and holds no replica: there is nothing to retire.")
    disk: int | None = None
    if running:
        dirs = jadmin.read_op("describeLogDirs", {"brokers": [broker]}, timeout=timeout).get(str(broker), {})
        disk = sum(int(r["size"]) for d in dirs.get("dirs") or [] for r in d.get("replicas") or [])
    if held:
        step = (
            f"Drain it: kafka_reassignment_plan(goal='drain', brokers=[{broker}]), then kafka_reassignment_execute "
            "with that plan."
        )
    elif running:
        step = (
            f"It holds no replica. Stop broker {broker}'s process (a person does this: on a dev cluster "
            f"`kafka-agent dev-cluster remove-broker --id {broker}` stops and unregisters it), then "
            "kafka_unregister_broker."
        )
    elif registered:
        step = f"Stopped and empty: kafka_unregister_broker(broker={broker}) removes it from the metadata."
    else:
        step = "Unregistered; nothing left to do."
    return BrokerCheck(
        broker=broker,
        registered=registered,
        running=running,
        rack=rack,
        replicas=len(held),
        leaders=leads,
        partitions=[f"{t}-{p}" for t, p in held[:20]],
        disk_bytes=disk,
        ready_to_stop=not held,
        ready_to_unregister=not held and not running,
        next_step=step,
    )


class UnregisterResult(BaseModel):
    broker: int
    unregistered: bool
    still_listed: bool = Field(description="True if the controller still lists it after the wait (should not).")


def unregister_broker(
    permit: Permit, admin: AdminClient, jadmin: JavaAdmin, broker: int, *, timeout: float
) -> UnregisterResult:
    """Remove a stopped, empty broker's registration from the KRaft metadata."""
    permit.require("broker.unregister", broker_resource(broker))
    check = decommission_check(admin, jadmin, broker, timeout=timeout)
    if check.replicas:
        raise Conflict(
            f"Broker {broker} still holds {check.replicas} replica(s) (e.g. {', '.join(check.partitions[:3])}); "
            "nothing was changed.",
            hint=check.next_step,
        )
    if check.running:
        raise Conflict(
            f"Broker {broker} is still running; a running broker registers itself again. Nothing was changed.",
            hint="Stop its process first (a person does this), then unregister it.",
        )
    if not check.registered:
        return UnregisterResult(broker=broker, unregistered=False, still_listed=False)
    jadmin.mutate_op(permit, "unregisterBroker", {"broker": broker}, timeout=timeout)
    _, gone = until(
        lambda: _registration(jadmin, broker, timeout)[0], lambda listed: not listed, timeout=min(timeout, 15)
    )
    return UnregisterResult(broker=broker, unregistered=True, still_listed=not gone)
