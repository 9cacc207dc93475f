"""The agent as an MCP tool: ``agent_run_task`` runs a task through the five phases, for orchestrators.

The run reaches the Kafka tools through its own in-process session to a server with the same settings; it never
asks a person directly: when a change needs consent it stops with ``input_required`` and the pending actions, and
the orchestrator calls again with ``task_id`` and ``decisions``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from mcp_server.tools._base import Ctx, app_of, kafka_tool
from mcp_server.tools._types import ClusterName


class AgentTaskResult(BaseModel):
    status: Literal["completed", "input_required", "failed"] = Field(description="Where the run stands.")
    task_id: str = Field(description="Pass back with decisions to resume an input_required run.")
    output: str = Field(description="The agent's final answer (or its last words before stopping).")
    pending_actions: list[dict[str, Any]] = Field(
        default_factory=list, description="Changes waiting for a decision: action_id, tool, arguments, effect."
    )
    error: str | None = None
    record: dict[str, Any] = Field(description="The run record: plan, phases and calls, approvals, verdict, usage.")


class ApproveChange(BaseModel):
    """The form a person answers when the agent's run asks for consent through the client."""

    approve: bool = Field(description="Approve this change?")


def _elicit_approver(ctx: Ctx) -> Any:
    """An approver that asks the person through the client's elicitation (protocol versions with mid-call requests)."""
    from mcp.server.elicitation import AcceptedElicitation

    from agent.record import PendingAction

    async def approver(action: PendingAction) -> Literal["approve", "deny"] | None:
        answer = await ctx.elicit(
            f"The Kafka agent asks to run {action.tool}:\n\n{action.effect}\n\nApprove this change?", ApproveChange
        )
        if isinstance(answer, AcceptedElicitation):
            return "approve" if answer.data.approve else "deny"
        return "deny"

    return approver


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="destructive", title="Run an agent task", open_world=True)
    async def agent_run_task(
        ctx: Ctx,
        task: Annotated[str | None, Field(description="In plain words.")] = None,
        task_id: Annotated[
            str | None,
            Field(
                description="Resume this run instead.",
                max_length=101,
                pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            ),
        ] = None,
        decisions: Annotated[
            dict[str, Literal["deny"]] | None,
            Field(description="action_id -> 'deny', on resume."),
        ] = None,
        approval: Annotated[
            Literal["ask", "auto", "never"] | None,
            Field(description="ask: every change waits; auto: destructive ones; never: read-only."),
        ] = None,
        cluster: Annotated[ClusterName | None, Field()] = None,
    ) -> AgentTaskResult:
        """Hand a Kafka task to the kafka-streaming-agent (plan, validate, execute, verify, document). Returns
        completed, failed, or input_required with changes a person approves (elicitation or `kafka-agent approvals`);
        resume with task_id. You may deny, never approve."""
        from agent.host import ToolHub
        from agent.runner import Agent
        from mcp_server.consent import elicitation_mode
        from mcp_server.server import build_server

        app = app_of(ctx)
        if (task is None) == (task_id is None):
            raise InvalidArgument("Give either task (a new run) or task_id (resume a run).")
        if cluster is not None:
            app.settings.cluster(cluster)
        # Finish (and save a failed record) before this tool call's own time limit would cut the run off.
        budget = max(10.0, app.settings.tool_timeout_s - 10.0)
        settings = app.settings.model_copy(update={"max_run_seconds": min(app.settings.max_run_seconds, budget)})
        asks_person = elicitation_mode(ctx) == "inline"
        every_tool = app.settings.model_copy(update={"toolsets": "all"})
        hub = ToolHub(every_tool, server=lambda: build_server(every_tool, transport="agent", shared=app))
        async with hub:
            agent = Agent(
                settings,
                hub,
                approval=approval,
                approver=_elicit_approver(ctx) if asks_person else None,
                approver_name="the person asked through the MCP client",
            )
            if task_id is not None:
                record = await agent.resume(task_id, dict(decisions or {}))
            else:
                assert task is not None
                text = task if cluster is None else f"{task}\n(Cluster: {cluster})"
                record = await agent.run(text)
        status: Literal["completed", "input_required", "failed"] = (
            "failed" if record.status == "running" else record.status
        )
        return AgentTaskResult(
            status=status,
            task_id=record.task_id,
            output=record.output,
            pending_actions=[a.model_dump(exclude={"confirm_token"}) for a in record.pending_actions],
            error=record.error,
            record=record.summary(),
        )
