"""``kafka-agent streams list|status|logs``: the stream applications deployed from this machine's data folder."""

from __future__ import annotations

import argparse
import json
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    sub.add_parser("list", help="list deployed stream applications and their state")
    status = sub.add_parser("status", help="state, metrics and recent errors of one application")
    status.add_argument("name")
    status.add_argument("--json", action="store_true", help="print JSON")
    logs = sub.add_parser("logs", help="the runner log of one application")
    logs.add_argument("name")
    logs.add_argument("-n", "--lines", type=int, default=50, help="how many lines from the end (default 50)")
    logs.add_argument("--instance", type=int, default=0, help="which runner instance (default 0)")
    srv = sub.add_parser("sql-server", help="serve the ksqlDB-compatible REST facade over the built-in SQL engine")
    srv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    srv.add_argument("--port", type=int, default=8088, help="port (default 8088, ksqlDB's)")
    srv.add_argument("--cluster", default=None, help="configured cluster the engine runs on (default: the default)")
    srv.add_argument(
        "--allow-drop",
        action="store_true",
        help="allow DROP and TERMINATE through the facade: your standing consent on dev (token-mode) clusters; "
        "approve-mode clusters still need a person's approval of each (kafka-agent approvals approve)",
    )


def run(args: argparse.Namespace) -> int:
    from core.errors import KafkaAgentError
    from core.settings import Settings
    from streams.manager import StreamsManager

    if args.action == "sql-server":
        return _serve(args)
    mgr = StreamsManager(Settings())
    try:
        if args.action == "list":
            records = mgr.list_apps()
            if not records:
                print("no stream applications deployed")
                return 0
            print(
                f"{'NAME':<24} {'STATUS':<10} {'STATE':<12} {'CLUSTER':<12} {'PID':<8} {'RESTARTS':<8} APPLICATION ID"
            )
            for rec in records:
                state = "-"
                if rec.status == "running":
                    try:
                        state = mgr.call(rec.name, "/health", timeout=3.0).get("state", "?")
                    except KafkaAgentError:
                        state = "UNREACHABLE"
                pid = str(rec.pid or "-")
                print(
                    f"{rec.name:<24} {rec.status:<10} {state:<12} {rec.cluster:<12} {pid:<8} {rec.restarts:<8} "
                    f"{rec.application_id}"
                )
            return 0
        if args.action == "status":
            rec = mgr.get(args.name)
            out: dict[str, object] = {"application": rec.model_dump(mode="json")}
            if rec.status == "running":
                out["health"] = mgr.call(rec.name, "/health")
                out["metrics"] = mgr.call(rec.name, "/metrics")
            if args.json:
                print(json.dumps(out, indent=2))
                return 0
            print(f"{rec.name}: {rec.status} (cluster {rec.cluster}, application.id {rec.application_id})")
            if rec.exit_note:
                print(f"  note: {rec.exit_note}")
            for section in ("health", "metrics"):
                data = out.get(section)
                if isinstance(data, dict):
                    print(f"  {section}:")
                    for key, value in data.items():
                        print(f"    {key}: {value}")
            return 0
        if args.action == "logs":
            mgr.get(args.name)
            for line in mgr.log_tail(args.name, args.lines, args.instance):
                print(line)
            return 0
    except KafkaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 2


def _serve(args: argparse.Namespace) -> int:
    import asyncio

    from core.app import build_app_context
    from core.gate.approvals import person
    from core.settings import Settings
    from streams.ksql_facade import build_facade, serve

    app = build_app_context(Settings(), transport="ksql-facade")
    try:
        operator = f"{person()} (started the facade with --allow-drop)" if args.allow_drop else None
        facade = build_facade(app, args.cluster, allow_drop=args.allow_drop, operator=operator)
        print(
            f"ksqlDB-compatible facade on http://{args.host}:{args.port} (HTTP/1.1 and HTTP/2 cleartext; Ctrl-C stops "
            "it)",
            file=sys.stderr,
        )
        asyncio.run(serve(facade, host=args.host, port=args.port))
    except KeyboardInterrupt:
        pass
    finally:
        app.close()
    return 0
