"""``kafka-agent chat``: a terminal conversation; each message is a run, tool calls and results shown as panels,
approvals asked inline."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import anyio
import anyio.to_thread

from agent.record import Decision, PendingAction
from cli.common import add_common, settings_from
from core.errors import KafkaAgentError


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--approval", choices=["ask", "auto", "never"], help="Approval policy (default: ask).")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    settings = settings_from(args)
    console = Console()
    try:
        anyio.run(_chat, settings, console, args.stdio)
    except (EOFError, KeyboardInterrupt):
        console.print()
    except KafkaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


async def _chat(settings: Any, console: Any, stdio: bool) -> None:
    from rich.panel import Panel

    from agent.runner import Agent
    from cli.common import tool_hub
    from core.gate.approvals import person

    async def approver(action: PendingAction) -> Decision:
        style = "red" if action.destructive else "yellow"
        console.print(Panel(action.effect, title=f"approve {action.tool}?", border_style=style))
        answer = await anyio.to_thread.run_sync(lambda: console.input("[bold]approve? [y/N] [/bold]"))
        return "approve" if answer.strip().lower() in ("y", "yes") else "deny"

    async def on_event(kind: str, data: dict[str, Any]) -> None:
        if kind == "text":
            console.print(data["text"], end="", markup=False, highlight=False)
        elif kind == "tool_call":
            args = json.dumps(data["arguments"], indent=1)
            console.print()
            console.print(Panel(args, title=f"{data['tool']}  [{data['phase']}]", border_style="cyan"))
        elif kind == "tool_result":
            text = data["text"] if len(data["text"]) < 1500 else data["text"][:1500] + " ..."
            console.print(
                Panel(
                    text,
                    title="error" if data["is_error"] else "result",
                    border_style="red" if data["is_error"] else "green",
                )
            )

    async with tool_hub(settings, stdio=stdio) as hub:
        console.print(f"[bold]kafka-streaming-agent[/bold] ({settings.model}, {len(hub.tools)} tools). Ctrl-D quits.")
        history: list[tuple[str, str]] = []  # earlier turns of this chat, so follow-up questions have context
        while True:
            task = await anyio.to_thread.run_sync(lambda: console.input("[bold green]you> [/bold green]"))
            if not task.strip():
                continue
            agent = Agent(
                settings, hub, approver=approver, on_event=on_event, approver_name=f"{person()} at the terminal"
            )
            record = await agent.run(task, history=history[-10:])
            history.append((task, record.output))
            console.print()
            u = record.usage
            console.print(
                f"[dim]{record.status} · phase {record.phase} · {u.turns} turns · ~${u.cost_usd:.4f} · "
                f"record {record.task_id}[/dim]"
            )
            if record.error:
                console.print(f"[red]{record.error}[/red]")
