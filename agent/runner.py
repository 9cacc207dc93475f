"""The run loop: the model proposes tool calls, the phase machine and the approval policy decide, the hub calls.

A run is a ``RunRecord`` that is saved after every turn, so a run that stops for a human decision
(``input_required``) resumes later, in another process if need be, from the record alone.

Approval policy (``settings.approval``, or per run):
    never  read-only run: every call that may change something is refused back to the model
    auto   non-destructive changes go ahead; destructive ones need a person's approval
    ask    every change needs a person's approval
Destructive tools keep the server's two-step flow, driven by the runtime, never by the model: the first call only
previews (the server returns the effect and a token, or holds an approval); a person decides (the terminal, or
`kafka-agent approvals`, or `run --resume --approve`); the runtime then confirms with the token, or redeems the
approval, itself. The model never sees a token and cannot approve anything (see agent.approvals).

Each turn sends the phase's tools (or defers them behind tool search) with cache breakpoints on the conversation
(agent.request), after the run's limits said the turn fits (agent.budget). A reply cut off at max_tokens never has
its unfinished tool call made; the model is asked to continue, a bounded number of times, else the run fails.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import anyio

from agent import local_tools
from agent.approvals import RunApprovals
from agent.budget import limit_reached, turn_max_tokens, turn_usage
from agent.host import ToolHub
from agent.model import ModelError, Turn, build_client, stream_turn
from agent.phases import Phase, ToolSpec, dry_run_flag, is_mutating_call, phase_allows, result_says_unchanged
from agent.prompts import MAIN_AGENT, main_prompt
from agent.record import ApprovalLog, Decision, PendingAction, RunRecord, RunStore, ToolCall, now_iso
from agent.request import (
    SEARCH_HINT,
    Request,
    SentLog,
    ToolSearch,
    choose_tools,
    referenced_tools,
    system_params,
    tokens,
    tool_param,
    with_cache_markers,
)
from core.errors import InvalidArgument, KafkaAgentError
from core.gate import redact
from core.settings import Settings

log = logging.getLogger("kafka_agent.agent")

Approver = Callable[[PendingAction], Awaitable[Decision | None]]
EventSink = Callable[[str, dict[str, Any]], Awaitable[None]]
Policy = Literal["ask", "never", "auto"]
RESULT_LOG_CHARS = 2000
VERIFY_REMINDER = (
    "Runtime: this run changed the cluster but has no verification verdict yet. Advance to VERIFY, check with "
    "read-only tools that each change took effect, and leave VERIFY with verdict pass or fail (then DOCUMENT). "
    "If you cannot verify, say why in your final answer."
)
CONTINUE_NOTE = (
    "Runtime: your last reply was cut off at the output limit (max_tokens). A tool call it had not finished was "
    "dropped, not made. Continue where you stopped, with shorter replies and tool inputs (split a big change into "
    "several calls)."
)


class Agent:
    """One agent (ours or a peer) bound to a tool hub, a prompt, and an approval policy."""

    def __init__(
        self,
        settings: Settings,
        hub: ToolHub,
        *,
        name: str = MAIN_AGENT,
        prompt: str | None = None,
        approval: Policy | None = None,
        approver: Approver | None = None,
        on_event: EventSink | None = None,
        tool_filter: Callable[[ToolSpec], bool] | None = None,
        delegation: bool = True,
        client: Any = None,
        store: RunStore | None = None,
        approver_name: str = "the person at the terminal",
        decided_by: str | None = None,
    ) -> None:
        self.settings = settings
        self.hub = hub
        self.name = name
        self.prompt = prompt if prompt is not None else main_prompt()
        self.approval: Policy = approval or settings.approval
        self.approver = approver
        self.on_event = on_event
        self.delegation = delegation
        self.client = client
        self.store = store or RunStore(settings.data_dir)
        self.approver_name = approver_name
        # Who typed the decisions given to resume(); None when they come from a calling model (deny only).
        self.decided_by = decided_by
        self._approvals = RunApprovals(settings)
        remote = [t for t in hub.tools.values() if tool_filter is None or tool_filter(t)]
        local = local_tools.specs(delegation=delegation)
        self.tools: dict[str, ToolSpec] = {t.name: t for t in [*remote, *local]}
        self._sent = SentLog()  # what the previous request sent, to estimate what the cache will not cover
        self._definitions: dict[str, int] = {}
        self._tool_search: ToolSearch = settings.tool_search

    # --- ways in ------------------------------------------------------------------------------------------------

    async def run(
        self, task: str, *, task_id: str | None = None, history: list[tuple[str, str]] | None = None
    ) -> RunRecord:
        """Run one task from PLAN; ``history`` holds earlier (task, answer) pairs of a chat, as context."""
        if not task.strip():
            raise InvalidArgument("The task is empty.", hint="Say what the agent should do.")
        record = RunRecord(task=task, agent=self.name, model=self.settings.model, approval_policy=self.approval)
        if task_id:
            record.task_id = task_id
        for earlier, answer in history or []:
            if earlier.strip() and answer.strip():
                record.messages.append({"role": "user", "content": earlier})
                record.messages.append({"role": "assistant", "content": answer})
        record.messages.append({"role": "user", "content": task})
        self.store.save(record)
        return await self._drive(record, decisions={})

    async def resume(self, task_id: str, decisions: dict[str, Decision] | None = None) -> RunRecord:
        """Continue a run that stopped with ``input_required``. Decisions a person made elsewhere (`kafka-agent
        approvals`) are found in the consent store; ``decisions`` (action or approval id -> approve/deny) count as a
        person's only when this agent was built with ``decided_by``. Without a decision the run stops again."""
        record = self.store.load(task_id)
        if record.status != "input_required":
            raise InvalidArgument(f"Run {task_id} is {record.status}, not waiting for input; nothing to resume.")
        record.status = "running"
        self.approval = record.approval_policy  # type: ignore[assignment]
        return await self._drive(record, decisions=dict(decisions or {}))

    # --- the loop -----------------------------------------------------------------------------------------------

    async def _drive(self, record: RunRecord, decisions: dict[str, Decision]) -> RunRecord:
        owned = self.client is None
        try:
            with anyio.move_on_after(self.settings.max_run_seconds) as scope:
                try:
                    if owned:
                        self.client = build_client(self.settings)
                    await self._loop(record, decisions)
                except KafkaAgentError as exc:
                    self._fail(record, str(exc))
                except Exception as exc:  # the run ends with a failed record, never a traceback to the user
                    log.exception("run %s failed unexpectedly", record.task_id)
                    self._fail(record, f"The run failed unexpectedly: {type(exc).__name__}: {exc}")
        finally:
            if owned and self.client is not None:
                await self.client.close()
                self.client = None
            self._approvals.close()
        if scope.cancelled_caught:
            self._fail(record, f"Time limit: the run exceeded max_run_seconds={self.settings.max_run_seconds:g}.")
        if record.status != "input_required":
            record.ended_at = now_iso()
        self.store.save(record)
        await self._emit("end", {"status": record.status, "task_id": record.task_id})
        return record

    def _fail(self, record: RunRecord, error: str) -> None:
        record.status = "failed"
        record.error = error
        record.pending_actions = []

    async def _loop(self, record: RunRecord, decisions: dict[str, Decision]) -> None:
        # Resuming a turn whose tool calls were interrupted by a pending decision.
        resuming = bool(record.messages) and record.messages[-1]["role"] == "assistant"
        if resuming and not await self._run_tool_uses(record, decisions):
            return
        paused = False
        while True:
            turn = await self._turn(record)
            if turn is None:
                return
            content = turn.content
            was_cut = record.cut_replies > 0
            if turn.stop_reason == "max_tokens":
                # A reply cut off at the output limit: a tool call it had not finished is dropped (its input may be
                # partial), the rest stands, and the model is asked to continue, a bounded number of times.
                record.cut_replies += 1
                if content and content[-1].get("type") in ("tool_use", "server_tool_use"):
                    content = content[:-1]
                content = content or [{"type": "text", "text": "[reply cut off at the output limit]"}]
            else:
                record.cut_replies = 0
            if paused:  # the continuation of a paused reply is the same assistant turn
                record.messages[-1] = {"role": "assistant", "content": [*record.messages[-1]["content"], *content]}
            else:
                record.messages.append({"role": "assistant", "content": content})
            text = "".join(b.get("text", "") for b in content if b.get("type") == "text").strip()
            if text:
                record.output = f"{record.output}{text}" if was_cut or paused else text
            if turn.stop_reason == "refusal":
                self._fail(record, "The model declined to go on with this task (stop_reason: refusal).")
                return
            paused = turn.stop_reason == "pause_turn"
            if paused:
                continue  # the API paused its own (server) tool loop: sending the reply back lets it go on
            if record.cut_replies > self.settings.max_continuations:
                self._fail(
                    record,
                    f"Output limit: the model's reply was cut off at max_tokens {record.cut_replies} times in a row "
                    f"(max_continuations={self.settings.max_continuations}); the answer is incomplete. Raise "
                    "max_output_tokens_per_turn, or ask for less at a time.",
                )
                return
            if not any(b.get("type") == "tool_use" for b in content):
                if record.cut_replies:
                    record.messages.append({"role": "user", "content": CONTINUE_NOTE})
                    continue
                if self._unverified(record) and not record.verify_reminded:
                    # One reminder: a run that changed something owes a verification verdict.
                    record.verify_reminded = True
                    record.messages.append({"role": "user", "content": VERIFY_REMINDER})
                    continue
                self._finish(record)
                return
            if not await self._run_tool_uses(record, decisions):
                return
            self.store.save(record)

    def _request(self, record: RunRecord) -> Request:
        s = self.settings
        note = f"Run {record.task_id}. You are {self.name}. Approval policy: {self.approval}. The run began in PLAN; "
        note += "the result of agent_advance_phase names the phase you are in"
        note += ", and each phase offers only the tools it allows." if s.phase_tools else "."
        if self._tool_search != "off":
            note += " " + SEARCH_HINT[self._tool_search]
        if not self._definitions:
            self._definitions = {t.name: tokens(tool_param(t)) for t in self.tools.values()}
        choice = choose_tools(
            list(self.tools.values()),
            record.phase,
            phase_tools=s.phase_tools,
            tool_search=self._tool_search,
            referenced=referenced_tools(record.messages),
        )
        messages = with_cache_markers(record.messages) if s.cache_conversation else record.messages
        return Request(choice, system_params(self.prompt, note), messages, self._definitions)

    async def _turn(self, record: RunRecord) -> Turn | None:
        """One model request, or None when a limit says the run must stop first (the record says which)."""
        request = self._request(record)
        estimate = self._sent.uncached_estimate(request, cache_conversation=self.settings.cache_conversation)
        max_tokens = turn_max_tokens(self.settings, record)
        limit = limit_reached(self.settings, record, estimate=estimate, max_tokens=max_tokens)
        if limit:
            self._fail(record, limit)
            return None

        async def on_text(chunk: str) -> None:
            await self._emit("text", {"text": chunk})

        try:
            turn = await stream_turn(
                self.client,
                model=self.settings.model,
                system=request.system,
                tools=request.tools.params,
                messages=request.messages,
                max_tokens=max_tokens,
                on_text=on_text if self.on_event else None,
            )
        except ModelError as exc:
            if not (self._tool_search != "off" and exc.code == "400" and _about_tool_search(exc.message)):
                raise
            # A model (or endpoint) without tool search: this run goes on with the phase's tool lists.
            record.notes.append(f"Tool search refused by the API ({exc.message}); the run sent the tools instead.")
            log.warning("tool search refused for run %s; sending the phase's tools instead", record.task_id)
            self._tool_search = "off"
            return await self._turn(record)
        self._sent.sent(request)
        record.usage.add_message_usage(self.settings.model, turn.usage)
        record.turn_usage.append(turn_usage(record, request, turn, estimate=estimate, max_tokens=max_tokens))
        return turn

    @staticmethod
    def _unverified(record: RunRecord) -> bool:
        changed = any(c.allowed and c.mutating and not c.is_error for log in record.phases for c in log.calls)
        return changed and record.verification is None

    def _finish(self, record: RunRecord) -> None:
        if record.verification is not None and record.verification.verdict == "fail":
            record.status = "failed"
            record.error = f"Verification failed: {record.verification.summary}"
        else:
            record.status = "completed"

    # --- tool calls ---------------------------------------------------------------------------------------------

    async def _run_tool_uses(self, record: RunRecord, decisions: dict[str, Decision]) -> bool:
        """Answer every tool_use of the last assistant message; False when the run paused for a decision."""
        done = {r["tool_use_id"] for r in record.partial_results}
        for block in record.messages[-1]["content"]:
            if block.get("type") != "tool_use" or block["id"] in done:
                continue
            result = await self._one_call(record, block, decisions)
            if result is None:
                record.status = "input_required"
                return False
            record.partial_results.append(result)
        answer = list(record.partial_results)
        if record.cut_replies:
            answer.append({"type": "text", "text": CONTINUE_NOTE})
        record.messages.append({"role": "user", "content": answer})
        record.partial_results = []
        return True

    async def _one_call(
        self, record: RunRecord, block: dict[str, Any], decisions: dict[str, Decision]
    ) -> dict[str, Any] | None:
        name, args, use_id = block["name"], dict(block.get("input") or {}), block["id"]
        call = ToolCall(tool_use_id=use_id, tool=name, arguments=redact(args), phase=record.phase, allowed=True)
        phase_log = record.current_log()  # the call belongs to the phase it was made in, even if it moves on
        spec = self.tools.get(name)
        await self._emit("tool_call", {"tool": name, "arguments": redact(args), "phase": str(record.phase)})
        if spec is None:
            return self._refuse(record, call, f"There is no tool named {name!r} in this run.")
        allowed, reason = phase_allows(record.phase, spec, args)
        if not allowed:
            return self._refuse(record, call, reason)
        two_step = spec.destructive and spec.has_confirm_flow and not spec.local
        if two_step and "confirm_token" in args:
            return self._refuse(
                record,
                call,
                f"confirm_token is not yours to give: this runtime confirms {name} itself, once a person approved "
                "the effect the server described. Call it again without confirm_token.",
            )
        if (two_step or is_mutating_call(spec, args)) and self.approval == "never":
            return self._refuse(
                record,
                call,
                f"Refused: this run is read-only (approval policy 'never'), and {name} may change "
                "the cluster. Report what you would change instead.",
            )
        if two_step:
            result = await self._two_step(record, spec, use_id, args, decisions, call)
            if result is None:
                return None
            is_error, text, structured = result
        else:
            call.mutating = is_mutating_call(spec, args)
            if call.mutating and self.approval == "ask":
                effect = f"{name} with {json.dumps(redact(args), default=str)}"
                verdict = await self._decision(record, spec, use_id, args, decisions, effect=effect)
                if verdict is None:
                    return None
                call.approval = verdict
                if not verdict.startswith("approved"):
                    return self._refuse(record, call, self._denied(name))
            is_error, text, structured = await self._call(record, spec, args)
            flag = dry_run_flag(spec, args)
            if flag and not is_error and not result_says_unchanged(structured):
                # The tool defines the flag but its result does not say nothing changed: count it as a change.
                log.warning("%s with %s=true did not report an unchanged result; counted as a change", name, flag)
                call.mutating = True
        call.is_error = is_error
        call.result = text[:RESULT_LOG_CHARS]
        phase_log.calls.append(call)
        await self._emit("tool_result", {"tool": name, "is_error": is_error, "text": text})
        return {"type": "tool_result", "tool_use_id": use_id, "content": text, "is_error": is_error}

    async def _call(self, record: RunRecord, spec: ToolSpec, args: dict[str, Any]) -> tuple[bool, str, Any]:
        if spec.local:
            is_error, text = await local_tools.call(self, record, spec.name, args)
            return is_error, text, None
        outcome = await self.hub.call(spec.name, args, run=record.task_id)
        return outcome.is_error, outcome.text, outcome.structured

    async def _two_step(
        self,
        record: RunRecord,
        spec: ToolSpec,
        use_id: str,
        args: dict[str, Any],
        decisions: dict[str, Decision],
        call: ToolCall,
    ) -> tuple[bool, str, Any] | None:
        """A destructive tool: the server previews; a person decides; the runtime confirms. Outside EXECUTE only the
        preview is shown. None when the run must wait for a decision."""
        pending = next((a for a in record.pending_actions if a.tool_use_id == use_id), None)
        if pending is None:
            is_error, text, structured = await self._call(record, spec, args)
            consent = structured.get("consent") if isinstance(structured, dict) else None
            if is_error or not isinstance(consent, dict):
                # Refused, or the server needed no consent (e.g. a person already confirmed through the client).
                call.mutating = not is_error and not result_says_unchanged(structured)
                return is_error, text, structured
            effect = str(consent.get("effect") or spec.name)
            if record.phase is not Phase.EXECUTE:
                return False, f"Preview only (phase {record.phase}); nothing was changed. {effect}", None
            if consent.get("mode") == "approval" and consent.get("approval_id"):
                pending = self._pending(spec, use_id, args, effect, "approval", str(consent["approval_id"]))
            else:
                approval_id = self._approvals.register(record.task_id, spec.name, redact(args), effect)
                pending = self._pending(spec, use_id, args, effect, "token", approval_id)
                pending.confirm_token = consent.get("confirmation_token")
        call.mutating = True
        verdict = await self._decision(record, spec, use_id, args, decisions, pending=pending)
        if verdict is None:
            return None
        call.approval = verdict
        if not verdict.startswith("approved"):
            return True, self._denied(spec.name), None
        confirm = pending.confirm_token if pending.consent == "token" else pending.approval_id
        is_error, text, structured = await self._call(record, spec, {**args, "confirm_token": confirm})
        if is_error and pending.consent == "token" and ("expired" in text or "unknown" in text):
            # The person approved this exact call; a token that lapsed while waiting is renewed once.
            _e, _t, fresh = await self._call(record, spec, args)
            token = (fresh.get("consent") or {}).get("confirmation_token") if isinstance(fresh, dict) else None
            if token:
                is_error, text, structured = await self._call(record, spec, {**args, "confirm_token": token})
        return is_error, text, structured

    @staticmethod
    def _pending(
        spec: ToolSpec, use_id: str, args: dict[str, Any], effect: str, consent: str, approval_id: str
    ) -> PendingAction:
        return PendingAction(
            action_id=f"act-{uuid.uuid4().hex[:8]}",
            tool_use_id=use_id,
            tool=spec.name,
            arguments=redact(args),
            destructive=spec.destructive,
            effect=effect,
            approval_id=approval_id,
            consent=consent,  # type: ignore[arg-type]
        )

    @staticmethod
    def _denied(name: str) -> str:
        return (
            f"The user denied this action ({name}); nothing was changed. Do not retry it; tell the user what was "
            "not done."
        )

    def _refuse(self, record: RunRecord, call: ToolCall, reason: str) -> dict[str, Any]:
        call.allowed = False
        call.refused_reason = reason
        record.current_log().calls.append(call)
        log.info("refused %s in %s: %s", call.tool, record.phase, reason)
        spec = self.tools.get(call.tool)
        if spec is None or not (spec.read_only or spec.local):
            # A refused call that could have changed something is audited like the server's own refusals.
            self._approvals.audit_refusal(record.task_id, call.tool, call.arguments, reason)
        return {"type": "tool_result", "tool_use_id": call.tool_use_id, "content": reason, "is_error": True}

    async def _decision(
        self,
        record: RunRecord,
        spec: ToolSpec,
        use_id: str,
        args: dict[str, Any],
        decisions: dict[str, Decision],
        *,
        effect: str = "",
        pending: PendingAction | None = None,
    ) -> str | None:
        """'approved by X' / 'denied by X', or None when a person must decide first (input_required).

        Only a person decides: the store (a decision made with `kafka-agent approvals`, the console or elicitation),
        this run's approver (the terminal), or ``decisions`` given with ``decided_by`` (the run command, typed by a
        person). Decisions passed without ``decided_by`` (an orchestrator's model) can deny, never approve.
        """
        pending = pending or next((a for a in record.pending_actions if a.tool_use_id == use_id), None)
        if pending is None:
            approval_id = self._approvals.register(record.task_id, spec.name, redact(args), effect)
            pending = self._pending(spec, use_id, args, effect, "runtime", approval_id)
        decision, decided_by = self._stored_decision(pending)
        given = decisions.get(pending.action_id) or decisions.get(pending.approval_id)
        if decision is None and given == "deny":
            decision, decided_by = "deny", self.decided_by or "the orchestrator"
            self._approvals.decide(pending.approval_id, approve=False, by=decided_by, reason="denied on resume")
        elif decision is None and given == "approve" and self.decided_by:
            decision, decided_by = "approve", self.decided_by
            self._approvals.decide(pending.approval_id, approve=True, by=decided_by, reason="approved on resume")
        elif decision is None and given == "approve":
            record.notes.append(
                f"{pending.action_id}: an approval passed with the resume call does not count as a person's; "
                f"approve with `kafka-agent approvals approve {pending.approval_id}`."
            )
        if decision is None and self.approver is not None:
            decision = await self.approver(pending)
            if decision is not None:
                decided_by = self.approver_name
                self._approvals.decide(
                    pending.approval_id, approve=decision == "approve", by=decided_by, reason="decided at the terminal"
                )
        if decision is None:
            record.pending_actions = [pending]
            await self._emit("input_required", pending.model_dump(exclude={"confirm_token"}))
            return None
        record.pending_actions = [a for a in record.pending_actions if a.action_id != pending.action_id]
        record.approvals.append(
            ApprovalLog(
                action_id=pending.action_id,
                tool=pending.tool,
                arguments=pending.arguments,
                effect=pending.effect,
                decision=decision,
                decided_by=decided_by,
            )
        )
        return f"{'approved' if decision == 'approve' else 'denied'} by {decided_by}"

    def _stored_decision(self, pending: PendingAction) -> tuple[Decision | None, str]:
        record = self._approvals.get(pending.approval_id)
        if record is None:
            return None, ""
        status = record.live_status(self._approvals.gate.clock())
        if status == "approved":
            return "approve", record.decided_by or "a person"
        if status in ("denied", "expired", "used"):
            return "deny", record.decided_by or f"the approval store ({status})"
        return None, ""

    async def _emit(self, kind: str, data: dict[str, Any]) -> None:
        if self.on_event is not None:
            await self.on_event(kind, data)


def _about_tool_search(message: str) -> bool:
    text = message.lower()
    return "tool_search" in text or "defer_loading" in text or "tool search" in text
