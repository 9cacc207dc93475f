"""What the gate reasons about: a ``Change``, who asked for it (``Requester``), and the ``Permit`` that proves it
passed the gate.

Every function that changes a cluster or a service (a topic, a group, an ACL, a schema, a connector, a stream
application, records on a topic) takes a ``Permit`` as its first argument and calls ``permit.require(action,
resource)`` before it acts. Only ``Gate`` makes permits, so the type checker and the import test
(``tests/test_architecture.py``) together keep every change behind the one door.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field

from core.errors import Refused

_SECRET_KEYS = re.compile(r"pass(word)?|secret|token|credential|sasl\.jaas|api[_.-]?key", re.IGNORECASE)


def redact(value: Any) -> Any:
    """A copy with every secret-looking key's value replaced, at any depth."""
    if isinstance(value, dict):
        return {k: ("***" if isinstance(k, str) and _SECRET_KEYS.search(k) else redact(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    return value


@dataclass(frozen=True)
class Requester:
    """Who asks for a change: consent tokens and approvals are bound to it.

    ``id`` is stable for one asker and unguessable where it matters: an MCP session (``session:<random>``), an agent
    run (``run:<task id>``; a resumed run is the same run), a command-line user (``cli:<user>``), the ksqlDB facade of
    a cluster (``facade:<cluster>``), a delegation worker (``worker:<peer>``).
    """

    id: str
    label: str = ""

    def __str__(self) -> str:
        return self.label or self.id


SYSTEM = Requester("system", "the server itself")
# The agent's in-process tool hub names its run in a request's _meta under this key; only the server the agent builds
# in process for itself believes it (nothing else can reach that server).
RUN_META_KEY = "kafka-agent/run"


class Change(BaseModel):
    """A planned change, as the gate, the consent store and the audit log see it."""

    tool: str = Field(description="The tool (or command) that asks, e.g. 'kafka_delete_topic', 'kafka_ksql'.")
    cluster: str
    action: str = Field(description="What changes, e.g. 'topic.create', 'topic.delete', 'group.offsets.reset'.")
    resource_type: str = Field(description="topic, group, acl, user, schema, connector, memory, stream ...")
    resources: list[str] = Field(default_factory=list, description="The real resources the change touches.")
    implies: list[str] = Field(
        default_factory=list,
        description="Further actions the same permit allows on the same resources (a perf test creates, writes and "
        "deletes its scratch topic).",
    )
    destructive: bool = False
    arguments: dict[str, Any] = Field(default_factory=dict, description="The call's arguments, for binding/audit.")
    details: dict[str, Any] = Field(default_factory=dict, description="Facts the policies read (partitions, RF...).")
    override_reason: str | None = None
    on_mismatch: str | None = Field(
        None,
        description="What a consent that no longer fits means for this call (e.g. the matches bound into the "
        "arguments changed since the preview); the generic message otherwise.",
    )
    policy_warnings: list[str] = Field(default_factory=list, description="Set by the gate: rules that warned.")
    overridden_rules: list[str] = Field(default_factory=list, description="Set by the gate: rules overridden.")

    def digest(self) -> str:
        """What consent binds to: the tool, the cluster and the exact arguments (never a confirmation token)."""
        bound = {
            "tool": self.tool,
            "cluster": self.cluster,
            "action": self.action,
            "resources": self.resources,
            "arguments": {k: v for k, v in self.arguments.items() if k != "confirm_token"},
        }
        return hashlib.sha256(json.dumps(bound, sort_keys=True, default=str).encode()).hexdigest()

    def covers(self, action: str, resource: str) -> bool:
        return (action == self.action or action in self.implies) and resource in self.resources


_GATE_ONLY = object()


class Permit:
    """Proof that the gate let one change through. Only ``Gate`` makes them; a function that changes something
    takes one and checks it covers what it is about to do."""

    __slots__ = ("change", "decided_by", "decision", "requester")

    def __init__(
        self,
        change: Change,
        requester: Requester,
        *,
        _key: object = None,
        decision: str = "allowed",
        decided_by: str = "",
    ) -> None:
        if _key is not _GATE_ONLY:
            raise TypeError("Permits are made by the gate only (core.gate.Gate.perform).")
        self.change = change
        self.requester = requester
        # The gate's decision on this change and who made it (a batch that performs its parts one by one hands this
        # consent on to them: core.gate.consent.Grant / Preapproved).
        self.decision = decision
        self.decided_by = decided_by

    def require(self, action: str, resource: str) -> None:
        """Raise ``Refused`` unless this permit covers ``action`` on ``resource``."""
        if not self.change.covers(action, resource):
            raise Refused(
                f"{self.change.tool} was allowed {self.change.action} of {', '.join(self.change.resources) or '-'}, "
                f"not {action} of {resource!r}; nothing was changed.",
                hint="This is a defect in the caller: every change must be described to the gate as what it is.",
            )
