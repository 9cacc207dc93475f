"""``kafka-agent approvals list | show ID | approve ID | deny ID``: a person's decisions on the changes waiting for one.

Changes on an ``approve``-mode cluster (production by default), and the pending actions of agent runs, wait here.
A decision is recorded with the person's identity (``--as``, else user@host) in the consent store and the audit
log; the asker (the MCP session or the agent run) can then redeem an approval once, with exactly the arguments
shown. Nothing a model can call reaches this command.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from core.errors import KafkaAgentError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="approvals_command", metavar="SUBCOMMAND", required=True)
    listing = sub.add_parser("list", help="pending approvals (--all: every approval, decided ones too)")
    listing.add_argument("--all", action="store_true", help="include approved, denied, used and expired ones")
    listing.add_argument("--json", action="store_true", help="print JSON")
    show = sub.add_parser("show", help="one approval in full: the effect, the arguments, who asked")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print JSON")
    for name, text in (("approve", "grant a pending approval"), ("deny", "turn a pending approval down")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("id")
        cmd.add_argument("--reason", required=name == "deny", help="why (recorded in the audit log)")
        cmd.add_argument("--as", dest="person", help="who decides (default: your user name and host)")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ") if ts else "-"


def run(args: argparse.Namespace) -> int:
    from core.gate import Gate
    from core.gate.approvals import decide, person
    from core.settings import Settings

    try:
        gate = Gate(Settings(), transport="cli")
        store = gate.store
        if args.approvals_command == "list":
            records = store.list(status=None if args.all else "pending")
            if args.json:
                print(json.dumps([r.model_dump(mode="json") for r in records], indent=2))
                return 0
            if not records:
                print("no pending approvals" if not args.all else "no approvals")
            for r in records:
                print(
                    f"{r.id}  {r.status:8}  {_when(r.created)}  {r.cluster:10}  {r.tool}  asked by {r.requester_label}"
                )
                print(f"    {r.effect[:300]}")
            return 0
        if args.approvals_command == "show":
            record = store.get(args.id)
            if args.json:
                print(json.dumps(record.model_dump(mode="json"), indent=2))
                return 0
            print(f"approval   {record.id} ({record.status})")
            print(f"asked by   {record.requester_label} [{record.requester}] at {_when(record.created)}")
            print(
                f"change     {record.tool} on cluster {record.cluster!r}: {record.action} {', '.join(record.resources)}"
            )
            print(f"effect     {record.effect}")
            print(f"arguments  {json.dumps(record.arguments, default=str)}")
            print(f"expires    {_when(record.expires)}")
            if record.decided_by:
                print(
                    f"decided    by {record.decided_by} at {_when(record.decided_at)} ({record.reason or 'no reason'})"
                )
            return 0
        who = args.person or person()
        approve = args.approvals_command == "approve"
        record = decide(gate, args.id, approve=approve, by=who, reason=args.reason)
        verb = "approved" if approve else "denied"
        print(f"{record.id} {verb} by {who}: {record.effect[:300]}")
        if approve:
            print(f"{record.requester_label} can now make exactly this change, once, before {_when(record.expires)}.")
        return 0
    except KafkaAgentError as exc:
        print(f"kafka-agent approvals: {exc}", file=sys.stderr)
        return 2
