"""The run record: what a run planned, called, was allowed, verified and cost; saved as JSON and resumable."""

from __future__ import annotations

import json
import os
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent.phases import Phase
from core.errors import InvalidArgument, NotFound

Status = Literal["running", "completed", "input_required", "failed"]
Decision = Literal["approve", "deny"]

# USD per million tokens: (input, output, cache write, cache read). An estimate for the record, not a bill.
_PRICES: dict[str, tuple[float, float, float, float]] = {
    "opus": (15.0, 75.0, 18.75, 1.5),
    "sonnet": (3.0, 15.0, 3.75, 0.3),
    "haiku": (1.0, 5.0, 1.25, 0.1),
}


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def new_task_id() -> str:
    return f"run-{datetime.now(UTC):%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:8]}"


class Usage(BaseModel):
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def uncached_input_tokens(self) -> int:
        """Input the model processed afresh: plain input plus cache writes (cache reads are counted apart)."""
        return self.input_tokens + self.cache_creation_input_tokens

    def add_message_usage(self, model: str, usage: Any) -> None:
        """Add one model response's usage (an ``anthropic.types.Usage``) and its estimated cost."""
        inp = int(getattr(usage, "input_tokens", 0) or 0)
        out = int(getattr(usage, "output_tokens", 0) or 0)
        cw = int(getattr(usage, "cache_creation_input_tokens", 0) or 0)
        cr = int(getattr(usage, "cache_read_input_tokens", 0) or 0)
        self.turns += 1
        self.input_tokens += inp
        self.output_tokens += out
        self.cache_creation_input_tokens += cw
        self.cache_read_input_tokens += cr
        family = next((f for f in _PRICES if f in model), "sonnet")
        p_in, p_out, p_cw, p_cr = _PRICES[family]
        self.cost_usd = round(self.cost_usd + (inp * p_in + out * p_out + cw * p_cw + cr * p_cr) / 1e6, 6)

    def absorb(self, other: Usage) -> None:
        """Count a sub-agent's usage toward this run."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cache_creation_input_tokens += other.cache_creation_input_tokens
        self.cache_read_input_tokens += other.cache_read_input_tokens
        self.cost_usd = round(self.cost_usd + other.cost_usd, 6)


class TurnUsage(BaseModel):
    """One model request of the run: what it sent and what it cost, as the API reported it."""

    turn: int
    phase: Phase
    input_tokens: int = Field(0, description="Uncached input (after the last cache breakpoint).")
    output_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_creation_input_tokens: int = 0
    tools_sent: int = Field(0, description="Tool definitions loaded in the request (the tool search tool included).")
    tools_deferred: int = Field(0, description="Tools sent with defer_loading: found by tool search, else unseen.")
    tool_searches: int = Field(0, description="Tool searches the model ran in this reply.")
    estimated_uncached: int = Field(0, description="The runtime's estimate before sending (characters / 4).")
    max_tokens: int = Field(0, description="The output limit of this request.")
    stop_reason: str | None = None


class ToolCall(BaseModel):
    tool_use_id: str
    tool: str
    arguments: dict[str, Any]
    phase: Phase
    allowed: bool
    mutating: bool = Field(default=False, description="The call, as made, could change a cluster or service.")
    refused_reason: str | None = None
    approval: str | None = Field(default=None, description="approved/denied by whom, when consent was needed.")
    is_error: bool = False
    result: str | None = Field(default=None, description="The result as the model saw it (shortened).")
    at: str = Field(default_factory=now_iso)


class PhaseLog(BaseModel):
    phase: Phase
    entered_at: str = Field(default_factory=now_iso)
    summary: str | None = Field(default=None, description="What the model reported when leaving the phase.")
    calls: list[ToolCall] = Field(default_factory=list)


class PendingAction(BaseModel):
    """A call waiting for a human's decision."""

    action_id: str
    tool_use_id: str
    tool: str
    arguments: dict[str, Any]
    destructive: bool
    effect: str = Field(description="What the call would change, as the server or the agent describes it.")
    approval_id: str = Field(
        "", description="The approval a person decides (`kafka-agent approvals approve|deny ID`, or the terminal)."
    )
    consent: Literal["runtime", "token", "approval"] = Field(
        "runtime",
        description="runtime: the run asks before calling; token: the server previewed and the run confirms with its "
        "token once a person approves; approval: the server holds the approval the person grants.",
    )
    confirm_token: str | None = Field(
        None, description="The server's token (token mode): kept in the record on disk, never shown to the model."
    )


class ApprovalLog(BaseModel):
    action_id: str
    tool: str
    arguments: dict[str, Any]
    effect: str
    decision: Decision
    decided_by: str
    at: str = Field(default_factory=now_iso)


class Verification(BaseModel):
    verdict: Literal["pass", "fail"]
    summary: str


class Delegation(BaseModel):
    peer: str
    via: Literal["local", "kafka"]
    task: str
    correlation_id: str | None = None
    status: str
    answer: str | None = None


class RunRecord(BaseModel):
    task_id: str = Field(default_factory=new_task_id)
    task: str
    agent: str = "kafka-streaming-agent"
    model: str
    approval_policy: str
    status: Status = "running"
    phase: Phase = Phase.PLAN
    started_at: str = Field(default_factory=now_iso)
    ended_at: str | None = None
    plan: str | None = None
    phases: list[PhaseLog] = Field(default_factory=lambda: [PhaseLog(phase=Phase.PLAN)])
    approvals: list[ApprovalLog] = Field(default_factory=list)
    pending_actions: list[PendingAction] = Field(default_factory=list)
    verification: Verification | None = None
    delegations: list[Delegation] = Field(default_factory=list)
    escalations: list[dict[str, Any]] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    turn_usage: list[TurnUsage] = Field(default_factory=list, description="Tokens per model request.")
    output: str = ""
    error: str | None = None
    notes: list[str] = Field(default_factory=list, description="What the runtime wants the reader to know.")
    # Saved state for resuming: the conversation so far, and the results already computed for the paused turn.
    messages: list[dict[str, Any]] = Field(default_factory=list)
    partial_results: list[dict[str, Any]] = Field(default_factory=list)
    verify_reminded: bool = False
    cut_replies: int = Field(0, description="Replies in a row cut off at the output limit (continued, bounded).")

    def current_log(self) -> PhaseLog:
        return self.phases[-1]

    def summary(self) -> dict[str, Any]:
        """The record without the transcript, for printing and for orchestrators."""
        return self.model_dump(
            mode="json",
            exclude={
                "messages": True,
                "partial_results": True,
                "verify_reminded": True,
                "cut_replies": True,
                "pending_actions": {"__all__": {"confirm_token"}},
            },
        )


_TASK_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}$")


class RunStore:
    """Run records as JSON files under ``<data_dir>/runs``."""

    def __init__(self, data_dir: Path) -> None:
        self.root = data_dir / "runs"

    def path(self, task_id: str) -> Path:
        if not _TASK_ID.match(task_id):
            raise InvalidArgument(f"{task_id!r} is not a valid task id.", hint="Use the task_id a run returned.")
        return self.root / f"{task_id}.json"

    def save(self, record: RunRecord) -> Path:
        path = self.path(record.task_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        # The transcript holds tool arguments as the model wrote them: readable by the owner only.
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(record.model_dump_json(indent=2))
        tmp.replace(path)
        return path

    def load(self, task_id: str) -> RunRecord:
        path = self.path(task_id)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFound(f"No saved run {task_id!r} under {self.root}.", hint="Check the task_id.") from None
        return RunRecord.model_validate(data)
