"""``kafka-agent console``: the web console alone (``kafka-agent serve --transport http`` serves it at /ui too)."""

from __future__ import annotations

import argparse
import logging
import os
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="bind address (default KAFKA_AGENT_HTTP_HOST, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default KAFKA_AGENT_HTTP_PORT, 8765)")
    parser.add_argument("--read-only", action="store_true", help="show everything, decide nothing")
    parser.add_argument("--clusters-file", help="YAML file of named clusters (see README)")
    parser.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
    parser.add_argument("--log-level", default="WARNING", help="log level on stderr (default WARNING)")


def run(args: argparse.Namespace) -> int:
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
        settings.clusters()  # fail fast on a bad clusters file
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent console: {exc}\n")
        return 2
    except Exception as exc:
        sys.stderr.write(f"kafka-agent console: {type(exc).__name__}: {exc}\n")
        return 2
    from console.app import serve_console

    serve_console(settings)
    return 0
