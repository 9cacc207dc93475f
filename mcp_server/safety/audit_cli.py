"""``kafka-agent audit tail [-n N] [--json]``: the last mutating calls from the audit log."""

from __future__ import annotations

import argparse
import json
import sys
from collections import deque
from pathlib import Path
from typing import Any


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="audit_command", metavar="SUBCOMMAND", required=True)
    tail = sub.add_parser("tail", help="show the last entries of the audit log")
    tail.add_argument("-n", "--lines", type=int, default=20, help="how many entries (default 20)")
    tail.add_argument("--json", action="store_true", help="print the raw JSON lines")
    tail.add_argument("--file", help="audit log to read (default: KAFKA_AGENT_AUDIT_LOG or <data dir>/audit.jsonl)")


def tail_entries(path: Path, count: int) -> list[dict[str, Any]]:
    """The last ``count`` parseable entries (a torn last line from a crash is skipped)."""
    out: deque[dict[str, Any]] = deque(maxlen=max(count, 0))
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict):
                out.append(entry)
    return list(out)


def format_entry(entry: dict[str, Any]) -> str:
    resources = ",".join(str(r) for r in entry.get("resources") or [])
    text = (
        f"{entry.get('time', '?')}  {entry.get('transport', '?'):5}  {entry.get('cluster') or '-':10}  "
        f"{entry.get('tool', '?')}  {entry.get('decision', '?')}"
    )
    if resources:
        text += f"  [{resources}]"
    if entry.get("overridden_rules"):
        text += f"  overrode {','.join(entry['overridden_rules'])} ({entry.get('override_reason')!r})"
    if entry.get("error"):
        text += f"  error: {str(entry['error'])[:200]}"
    return text


def run(args: argparse.Namespace) -> int:
    if args.lines < 0:
        sys.stderr.write("kafka-agent audit tail: -n must be 0 or more\n")
        return 2
    if args.file:
        path = Path(args.file)
    else:
        from mcp_server.settings import Settings

        path = Settings().resolved_audit_log()
    if not path.exists():
        sys.stderr.write(f"kafka-agent audit: no audit log at {path} yet (no mutating call has been made).\n")
        return 1
    for entry in tail_entries(path, args.lines):
        sys.stdout.write((json.dumps(entry) if args.json else format_entry(entry)) + "\n")
    return 0
