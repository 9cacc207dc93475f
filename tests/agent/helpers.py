"""Running the agent in tests: a tool hub on the test settings, and a separate admin view of the cluster."""

from __future__ import annotations

from typing import Any

from agent.record import RunRecord
from agent.runner import Agent
from cli.common import tool_hub


async def run_agent(settings: Any, task: str, **kwargs: Any) -> RunRecord:
    async with tool_hub(settings, stdio=False) as hub:
        return await Agent(settings, hub, **kwargs).run(task)


async def resume_agent(settings: Any, task_id: str, decisions: dict[str, Any], **kwargs: Any) -> RunRecord:
    async with tool_hub(settings, stdio=False) as hub:
        return await Agent(settings, hub, **kwargs).resume(task_id, decisions)


def topic_exists(admin: Any, name: str) -> bool:
    return name in admin.list_topics(timeout=10).topics


def calls(record: RunRecord) -> list[tuple[str, str, bool]]:
    """(phase, tool, allowed) for every tool call of the run, in order."""
    return [(str(c.phase), c.tool, c.allowed) for log in record.phases for c in log.calls]
