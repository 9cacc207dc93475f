"""``kafka-agent serve``: the MCP server over stdio (Claude Desktop, IDEs) or streamable HTTP (orchestrators)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--transport",
        choices=["stdio", "http"],
        default="stdio",
        help="stdio (default) or streamable HTTP on --host/--port",
    )
    parser.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="HTTP port (default 8765)")
    parser.add_argument("--read-only", action="store_true", help="hide and refuse every tool that changes anything")
    parser.add_argument(
        "--toolsets",
        help="which tools to offer: default (the daily operator's), all, toolset names, +NAME/-NAME "
        "(e.g. default,+security); see README 'Choosing tools'",
    )
    parser.add_argument(
        "--dynamic-toolsets",
        action="store_true",
        help="sessions start with the selection plus discovery tools and may enable more toolsets",
    )
    parser.add_argument("--clusters-file", help="YAML file of named clusters (see README)")
    parser.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
    parser.add_argument(
        "--dev-cluster",
        action="store_true",
        help="start the local dev cluster first (kafka-agent dev-cluster up) and serve against it",
    )
    parser.add_argument("--log-level", default="WARNING", help="log level on stderr (default WARNING)")
    # Internal: the agent's own stdio tool hub starts the server with this, so it binds consent to the run named in
    # each request's _meta (a stdio server has exactly one client: the process that started it).
    parser.add_argument("--agent-hub", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    # stdout belongs to the protocol in stdio mode: every log line goes to stderr.
    logging.basicConfig(
        stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from core.errors import KafkaAgentError
    from core.settings import Settings

    overrides: dict[str, object] = {}
    if args.read_only:
        overrides["read_only"] = True
    if args.toolsets:
        overrides["toolsets"] = args.toolsets
    if args.dynamic_toolsets:
        overrides["dynamic_toolsets"] = True
    if args.clusters_file:
        overrides["clusters_file"] = args.clusters_file
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    if args.host:
        overrides["http_host"] = args.host
    if args.port:
        overrides["http_port"] = args.port
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        if args.dev_cluster:
            from devcluster.cluster import up

            state = up(settings.resolved_devcluster_home())
            if not args.bootstrap_servers and not args.clusters_file:
                settings = Settings(**{**overrides, "bootstrap_servers": state.bootstrap_servers})  # type: ignore[arg-type]
        settings.clusters()  # fail fast on a bad clusters file
        from mcp_server.toolsets import check_selection

        check_selection(settings.toolsets)  # and on a toolset selection that names no toolset
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent serve: {exc}\n")
        return 2
    except Exception as exc:
        sys.stderr.write(f"kafka-agent serve: {type(exc).__name__}: {exc}\n")
        return 2
    if args.transport == "http":
        from mcp_server.http import serve_http

        serve_http(settings)
        return 0
    from mcp_server.server import build_server

    build_server(settings, transport="agent" if args.agent_hub else "stdio").run("stdio")
    return 0
