"""Tools the agent itself offers the model: moving between phases, delegating to a peer, escalating."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio

from agent.phases import ORDER, Phase, ToolSpec, can_advance
from agent.prompts import peers
from agent.record import Delegation, PhaseLog, RunRecord, Verification, now_iso
from core.errors import KafkaAgentError

if TYPE_CHECKING:
    from agent.runner import Agent

ADVANCE = "agent_advance_phase"
DELEGATE = "agent_delegate"
ESCALATE = "agent_escalate"


def specs(*, delegation: bool) -> list[ToolSpec]:
    out = [
        ToolSpec(
            name=ADVANCE,
            local=True,
            read_only=True,
            destructive=False,
            server="agent",
            description=(
                "Move the run to a later phase (PLAN -> VALIDATE -> EXECUTE -> VERIFY -> DOCUMENT; phases may be "
                "skipped, never revisited). summary says what the phase you leave found or did: leaving PLAN it is "
                "the plan. Leaving VERIFY, give verdict 'pass' or 'fail'. A run that changed something must pass "
                "through VERIFY."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "phase": {"type": "string", "enum": [p.value for p in ORDER[1:]], "description": "Next phase."},
                    "summary": {"type": "string", "description": "What the phase you leave established."},
                    "verdict": {"type": "string", "enum": ["pass", "fail"], "description": "Required leaving VERIFY."},
                },
                "required": ["phase", "summary"],
            },
        ),
        ToolSpec(
            name=ESCALATE,
            local=True,
            read_only=True,
            destructive=False,
            server="agent",
            description=(
                "Report a critical failure a human must handle now (data-loss risk, an outage, a change that went "
                "wrong). Publishes to the agents.escalations topic and the audit log. Returns where it was recorded."
            ),
            input_schema={
                "type": "object",
                "properties": {
                    "summary": {"type": "string", "description": "One line: what is wrong."},
                    "severity": {"type": "string", "enum": ["critical", "high"], "description": "How urgent."},
                    "details": {"type": "string", "description": "Evidence and what was tried."},
                },
                "required": ["summary"],
            },
        ),
    ]
    if delegation:
        out.append(
            ToolSpec(
                name=DELEGATE,
                local=True,
                read_only=True,
                destructive=False,
                server="agent",
                description=(
                    "Hand a sub-task to a peer agent and wait for its answer. via='local' runs the peer here with "
                    "read-only tools; via='kafka' sends it to the peer's workers (kafka-agent worker --agent PEER) "
                    f"on agents.<peer>.tasks. Peers: {', '.join(peers())}. Returns the peer's answer."
                ),
                input_schema={
                    "type": "object",
                    "properties": {
                        "peer": {"type": "string", "enum": peers(), "description": "The peer agent."},
                        "task": {"type": "string", "description": "The sub-task, self-contained."},
                        "via": {"type": "string", "enum": ["local", "kafka"], "description": "Where the peer runs."},
                        "timeout_s": {"type": "number", "description": "How long to wait for a Kafka answer."},
                    },
                    "required": ["peer", "task"],
                },
            )
        )
    return out


async def call(agent: Agent, record: RunRecord, name: str, args: dict[str, Any]) -> tuple[bool, str]:
    """(is_error, text) for a local tool call."""
    try:
        if name == ADVANCE:
            return _advance(record, args)
        if name == DELEGATE:
            return await _delegate(agent, record, args)
        if name == ESCALATE:
            return await _escalate(agent, record, args)
    except KafkaAgentError as exc:
        return True, str(exc)
    return True, f"Unknown local tool {name}."


def _advance(record: RunRecord, args: dict[str, Any]) -> tuple[bool, str]:
    try:
        target = Phase(str(args.get("phase", "")).upper())
    except ValueError:
        return True, f"Unknown phase {args.get('phase')!r}; use one of {', '.join(p.value for p in ORDER)}."
    ok, reason = can_advance(record.phase, target)
    if not ok:
        return True, reason
    summary = str(args.get("summary") or "").strip()
    changed = any(c.allowed and c.mutating and not c.is_error for log in record.phases for c in log.calls)
    if record.phase is Phase.VERIFY:
        verdict = args.get("verdict")
        if verdict not in ("pass", "fail"):
            return True, "Leaving VERIFY needs verdict 'pass' or 'fail' (did the change take effect?)."
        record.verification = Verification(verdict=verdict, summary=summary)
    elif changed and ORDER.index(target) > ORDER.index(Phase.VERIFY):
        return True, "This run changed something in EXECUTE: advance to VERIFY and check it first."
    if record.phase is Phase.PLAN and summary:
        record.plan = summary
    record.current_log().summary = summary
    record.phases.append(PhaseLog(phase=target))
    record.phase = target
    return False, f"Now in {target}. " + _PHASE_HINTS[target]


_PHASE_HINTS = {
    Phase.VALIDATE: "Check the plan: kafka_check_policy and validate_only=true calls; nothing changes yet.",
    Phase.EXECUTE: "Make the changes. Mutating calls follow the approval policy.",
    Phase.VERIFY: "Check with read-only tools that each change took effect, then advance with a verdict.",
    Phase.DOCUMENT: "Store the outcome with memory_store, then give the user your final answer.",
    Phase.PLAN: "",
}


async def _delegate(agent: Agent, record: RunRecord, args: dict[str, Any]) -> tuple[bool, str]:
    from agent import delegation

    peer, task = str(args.get("peer", "")), str(args.get("task", "")).strip()
    via = str(args.get("via") or "local")
    if via not in ("local", "kafka"):
        return True, "via must be 'local' or 'kafka'."
    if via == "local":
        sub = await delegation.delegate_local(agent, peer, task, parent_task_id=record.task_id)
        record.usage.absorb(sub.usage)
        entry = Delegation(peer=peer, via="local", task=task, status=sub.status, answer=sub.output)
        record.delegations.append(entry)
        return sub.status != "completed", json.dumps(
            {"peer": peer, "status": sub.status, "answer": sub.output, "error": sub.error, "run": sub.task_id}
        )
    timeout = float(args.get("timeout_s") or 300.0)
    reply = await anyio.to_thread.run_sync(
        lambda: delegation.delegate_kafka(agent.settings, agent.name, peer, task, record.task_id, timeout)
    )
    record.usage.absorb(reply.usage)  # the peer worked for this run: its tokens count here too
    record.delegations.append(
        Delegation(
            peer=peer,
            via="kafka",
            task=task,
            correlation_id=reply.correlation_id,
            status=reply.status,
            answer=reply.answer,
        )
    )
    return reply.status != "completed", reply.model_dump_json()


async def _escalate(agent: Agent, record: RunRecord, args: dict[str, Any]) -> tuple[bool, str]:
    from agent import delegation

    entry = {
        "task_id": record.task_id,
        "agent": agent.name,
        "severity": str(args.get("severity") or "critical"),
        "summary": str(args.get("summary") or "").strip(),
        "details": str(args.get("details") or ""),
        "phase": str(record.phase),
        "at": now_iso(),
    }
    if not entry["summary"]:
        return True, "agent_escalate needs a summary."
    where = await anyio.to_thread.run_sync(lambda: delegation.escalate(agent.settings, entry))
    record.escalations.append(entry)
    return False, f"Escalation recorded: {where}."
