"""A person's decisions on pending approvals (the `kafka-agent approvals` command, and later the console).

A decision is written to the consent store and to the audit log with the person's identity. Nothing here can be
reached by a model: the MCP tools only ever *request* approvals.
"""

from __future__ import annotations

import getpass
import socket

from core.gate.change import Change, Requester
from core.gate.gate import Gate
from core.gate.store import ConsentRecord


def person() -> str:
    """Who is deciding at this terminal: the OS user and the host."""
    try:
        user = getpass.getuser()
    except Exception:  # no user name in the environment
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def decide(gate: Gate, approval_id: str, *, approve: bool, by: str, reason: str | None = None) -> ConsentRecord:
    """Approve or deny one pending approval; audited as ``approval_granted`` / ``approval_denied``."""
    record = gate.store.decide(approval_id, approve=approve, by=by, reason=reason)
    gate.record(
        Change(
            tool=record.tool,
            cluster=record.cluster,
            action=record.action,
            resource_type="approval",
            resources=record.resources,
            arguments=dict(record.arguments),
        ),
        decision="approval_granted" if approve else "approval_denied",
        result={"approval_id": record.id, "reason": reason, "effect": record.effect},
        requester=Requester(record.requester, record.requester_label),
        decided_by=by,
    )
    return record
