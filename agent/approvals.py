"""A run's pending actions in the consent store, so a person can decide them from anywhere (`kafka-agent approvals`,
the terminal of `kafka-agent chat`, `kafka-agent run --resume --approve`, an MCP client's elicitation) and a resumed
run, in any process, finds the decision.

Two kinds of pending action:
- ``runtime``: a change the run's approval policy holds back (``ask``), or a destructive change the server previewed
  with a token (dev clusters). The run registers an approval for it, bound to the run.
- ``approval``: the server's own gate holds an approval for the call (production clusters); the run points at it.
Either way the model never holds what confirms the change: it cannot approve, and it never sees a token.
"""

from __future__ import annotations

from typing import Any

from core.gate import Change, Gate, Requester
from core.gate.approvals import decide
from core.gate.store import ConsentRecord
from core.settings import Settings


def run_requester(task_id: str) -> Requester:
    return Requester(f"run:{task_id}", f"agent run {task_id}")


class RunApprovals:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._gate: Gate | None = None

    @property
    def gate(self) -> Gate:
        if self._gate is None:
            self._gate = Gate(self.settings, transport="agent")
        return self._gate

    def _call(self, tool: str, arguments: dict[str, Any], action: str) -> Change:
        return Change(
            tool=tool,
            cluster=self.settings.cluster(None).name,
            action=action,
            resource_type="tool",
            resources=[tool],
            arguments=arguments,
        )

    def register(self, task_id: str, tool: str, arguments: dict[str, Any], effect: str) -> str:
        """A pending approval for this run's call (an identical pending one is reused)."""
        change = self._call(tool, arguments, "agent.tool_call")
        record = self.gate.store.request_approval(
            change, requester=run_requester(task_id), effect=effect, ttl=self.settings.approval_ttl_s
        )
        self.gate.record(
            change,
            decision="approval_requested",
            result={"approval_id": record.id, "effect": effect},
            requester=run_requester(task_id),
        )
        return record.id

    def audit_refusal(self, task_id: str, tool: str, arguments: dict[str, Any], reason: str) -> None:
        """A call the runtime refused (phase, approval policy, a confirm_token the model made up)."""
        self.gate.record(
            self._call(tool, arguments, "tool.call"),
            decision="refused",
            error=f"refused by the agent runtime: {reason}",
            requester=run_requester(task_id),
        )

    def get(self, approval_id: str) -> ConsentRecord | None:
        try:
            return self.gate.store.get(approval_id)
        except Exception:  # unknown or unreadable: treated as not decided
            return None

    def status(self, approval_id: str) -> str:
        record = self.get(approval_id)
        if record is None:
            return "unknown"
        return record.live_status(self.gate.clock())

    def decide(self, approval_id: str, *, approve: bool, by: str, reason: str | None = None) -> None:
        """A person's decision (the caller vouches that a person made it: a terminal, the CLI, elicitation)."""
        decide(self.gate, approval_id, approve=approve, by=by, reason=reason)

    def close(self) -> None:
        if self._gate is not None:
            self._gate.close()
