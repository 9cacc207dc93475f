"""``kafka-agent audit``: ``tail [-n N] [--json]`` shows the last mutating calls from the audit log;
``cluster [--profile P] [--cluster NAME]`` prints the production-readiness report of a cluster."""

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
    cluster = sub.add_parser("cluster", help="production-readiness report of a cluster (score, findings, fixes)")
    cluster.add_argument("--cluster", help="configured cluster name (default: the default cluster)")
    cluster.add_argument("--profile", choices=["production", "staging", "dev"], help="judge as this profile")
    cluster.add_argument("--topic-pattern", help="regular expression: audit only the matching topics")
    cluster.add_argument("--no-groups", action="store_true", help="skip the consumer-lag checks")
    cluster.add_argument("--json", action="store_true", help="print the report as JSON")


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
    if args.audit_command == "cluster":
        return _run_cluster(args)
    if args.lines < 0:
        sys.stderr.write("kafka-agent audit tail: -n must be 0 or more\n")
        return 2
    if args.file:
        path = Path(args.file)
    else:
        from core.settings import Settings

        path = Settings().resolved_audit_log()
    if not path.exists():
        sys.stderr.write(f"kafka-agent audit: no audit log at {path} yet (no mutating call has been made).\n")
        return 1
    for entry in tail_entries(path, args.lines):
        sys.stdout.write((json.dumps(entry) if args.json else format_entry(entry)) + "\n")
    return 0


def _run_cluster(args: argparse.Namespace) -> int:
    from core.errors import KafkaAgentError
    from core.kafka.clients import KafkaClients
    from core.kafka.readiness import audit_cluster
    from core.settings import Settings

    settings = Settings()
    clients = KafkaClients(settings)
    try:
        cfg = settings.cluster(args.cluster)
        report = audit_cluster(
            clients.admin(cfg.name),
            cluster_name=cfg.name,
            profile=args.profile or cfg.profile,
            timeout=settings.request_timeout_s,
            topic_pattern=args.topic_pattern,
            include_groups=not args.no_groups,
            schema_registry_url=cfg.schema_registry_url,
        )
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent audit cluster: {exc}\n")
        return 2
    finally:
        clients.close()
    if args.json:
        sys.stdout.write(report.model_dump_json(indent=2) + "\n")
        return 0
    out = [
        f"cluster {report.cluster} judged as {report.profile}: score {report.score}/100 "
        f"({report.checks_passed}/{report.checks_total} checks passed; {report.brokers} broker(s), "
        f"{report.topics_checked} topic(s), {report.groups_checked} group(s))",
        "",
    ]
    for f in report.findings:
        out.append(f"[{f.severity}] {f.rule} {f.resource_type} {f.resource}: {f.message}")
        out.append(f"    fix: {f.fix}")
    out.append("")
    out.extend(f"{c.status:>13}  {c.criterion}: {c.detail}" for c in report.criteria)
    out.extend(f"note: {n}" for n in report.notes)
    sys.stdout.write("\n".join(out) + "\n")
    return 0 if not any(f.severity == "critical" for f in report.findings) else 1
