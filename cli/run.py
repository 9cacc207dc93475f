"""``kafka-agent run "TASK" [--json]``: one run; prints the run record. Exit code 0 completed, 1 failed, 3 input needed.

Resume a run that stopped for consent: ``kafka-agent run --resume TASK_ID --approve [ID ...]`` (every pending action
when no id is given) or ``--deny ID``; the decision is the person's at this terminal, recorded in the consent store
and the audit log. ``kafka-agent approvals`` decides the same approvals without resuming.
"""

from __future__ import annotations

import argparse
import json
import sys

import anyio

from agent.record import Decision, RunRecord
from cli.common import add_common, settings_from
from core.errors import KafkaAgentError

EXIT = {"completed": 0, "failed": 1, "input_required": 3, "running": 1}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("task", nargs="?", help="What the agent should do.")
    parser.add_argument("--json", action="store_true", help="Print the full run record as JSON.")
    parser.add_argument("--approval", choices=["ask", "auto", "never"], help="Approval policy for this run.")
    parser.add_argument("--resume", metavar="TASK_ID", help="Resume a run that stopped with input_required.")
    parser.add_argument(
        "--approve",
        nargs="*",
        metavar="ID",
        help="With --resume: approve these pending actions (action or approval ids); no id approves every one.",
    )
    parser.add_argument("--deny", action="append", default=[], metavar="ID", help="Deny a pending action.")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    if bool(args.task) == bool(args.resume):
        print("give either a TASK or --resume TASK_ID", file=sys.stderr)
        return 2
    settings = settings_from(args)
    approve = args.approve if args.approve is not None else []
    decisions: dict[str, Decision] = {a: "approve" for a in approve}
    decisions.update({a: "deny" for a in args.deny})

    async def main() -> RunRecord:
        from agent.record import RunStore
        from agent.runner import Agent
        from cli.common import tool_hub
        from core.gate.approvals import person

        if args.resume and args.approve is not None and not args.approve:
            pending = RunStore(settings.data_dir).load(args.resume).pending_actions
            decisions.update({a.action_id: "approve" for a in pending if a.action_id not in decisions})
        async with tool_hub(settings, stdio=args.stdio) as hub:
            # no approver: consent needed -> input_required, resumable; decisions typed here are a person's
            agent = Agent(settings, hub, decided_by=f"{person()} (kafka-agent run)")
            if args.resume:
                return await agent.resume(args.resume, decisions)
            return await agent.run(args.task)

    try:
        record = anyio.run(main)
    except KafkaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(record.summary(), indent=2))
    else:
        _print_human(record)
    return EXIT[record.status]


def _print_human(record: RunRecord) -> None:
    print(f"run {record.task_id}: {record.status}  (phase {record.phase})")
    if record.plan:
        print(f"plan: {record.plan}")
    for log in record.phases:
        for call in log.calls:
            mark = "refused" if not call.allowed else ("error" if call.is_error else "ok")
            print(f"  [{log.phase}] {call.tool} {json.dumps(call.arguments)} -> {mark}")
    if record.verification:
        print(f"verification: {record.verification.verdict}: {record.verification.summary}")
    for action in record.pending_actions:
        print(f"PENDING {action.action_id}: {action.effect}")
        print(
            f"  resume with: kafka-agent run --resume {record.task_id} --approve {action.action_id}  (or --deny); "
            f"or decide it with kafka-agent approvals approve {action.approval_id}"
        )
    for note in record.notes:
        print(f"note: {note}")
    u = record.usage
    print(f"usage: {u.turns} turns, {u.input_tokens} in / {u.output_tokens} out tokens, ~${u.cost_usd:.4f}")
    if record.error:
        print(f"error: {record.error}")
    if record.output:
        print()
        print(record.output)
