"""What a diagnosis run is asked: the task text for the agent, built from an incident.

The command (`kafka-agent watch --diagnose`) runs the agent with approval policy "ask" and no approver, so the run
reads (the incident, health, lag, broker metrics, the runbooks in memory), concludes, and any change it proposes
stays a pending approval that a person decides (`kafka-agent approvals`); nothing changes on its own.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from core.kafka.incidents import Incident

RULE_HINTS: dict[str, str] = {
    "broker_down": "which partitions lost a replica or their leader, and whether acks=all producers still succeed",
    "under_replicated": "which brokers are behind and why (a broker down, disk or network, throttles)",
    "under_min_isr": "which topics refuse acks=all writes now, and which brokers must come back",
    "offline_partitions": "which partitions have no leader and which brokers of their replica sets are gone",
    "cluster_unreachable": "whether any broker answers, and what the bootstrap servers point at",
    "consumer_lag": "whether the group has members, since when its offsets stopped, and how far behind it is",
    "request_latency": "which request types are slow, the request handler idle ratio, and the load on the broker",
}


def diagnosis_task(incident: Incident) -> str:
    evidence = json.dumps(incident.evidence, default=str)[:3000]
    hint = RULE_HINTS.get(incident.rule, "what the evidence shows")
    return (
        f"Incident {incident.id} opened on cluster {incident.cluster!r} (rule {incident.rule}, {incident.severity}): "
        f"{incident.summary}\nEvidence: {evidence}\n\n"
        f"Diagnose it. Read the incident (kafka_incidents with incident_id {incident.id!r}), the cluster's health, "
        f"consumer lag and broker metrics (kafka_broker_metrics) as they are now, and search the runbooks in memory "
        f"(vector_search) for this kind of failure. Find {hint}. End with the diagnosis (the cause, the impact, the "
        "evidence) and the fix you propose. If the fix is a change a tool can make, write the diagnosis in the same "
        "reply as the call that proposes it (one change: the run pauses there for a person's approval, and the change "
        "does not run before). Do not work around the approval."
    )


def diagnosis_text(output: str | None, pending: list[str], status: str, run_id: str | None = None) -> str:
    text = (output or "").strip() or f"(the run ended {status} without a written conclusion)"
    if pending:
        text += "\nProposed change(s) waiting for approval: " + "; ".join(pending)
        if run_id:
            # `kafka-agent approvals` records a decision only; the paused run makes the change when it is resumed.
            text += f"\nTo decide and apply: `kafka-agent run --resume {run_id} --approve <id>` (or `--deny <id>`)."
    return text[:4000]
