"""``kafka-agent exporter``: serve Prometheus metrics (consumer lag, replication health, broker count)."""

from __future__ import annotations

import argparse
import logging
import sys
import time

from monitoring.exporter import start


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=9308, help="HTTP port for /metrics (default 9308)")
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--cluster", action="append", help="cluster to export (repeatable; default: all configured)")
    parser.add_argument("--clusters-file", help="YAML file of named clusters")
    parser.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
    parser.add_argument("--platform-file", help="also export drift from this platform file (kafka_platform_drift_*)")
    parser.add_argument(
        "--incidents",
        action="store_true",
        help="also export the open incidents of the incidents topic (kafka_incident_*)",
    )
    parser.add_argument("--log-level", default="WARNING")


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(message)s")
    from core.errors import KafkaAgentError
    from core.settings import Settings

    overrides: dict[str, object] = {}
    if args.clusters_file:
        overrides["clusters_file"] = args.clusters_file
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
        drift = None
        if args.platform_file:
            from pathlib import Path

            from core.app import build_app_context
            from gitops.drift import drift_check

            drift = drift_check(build_app_context(settings, transport="exporter"), Path(args.platform_file))
        incidents = None
        if args.incidents:
            from core.kafka.clients import KafkaClients
            from core.kafka.incidents import Incident, read_all

            reader = KafkaClients(settings)
            home = reader.cluster(settings.watch_cluster).name

            def incidents() -> list[Incident]:
                conf = reader.consumer_config(home)
                return list(read_all(conf, settings.incidents_topic, timeout=settings.request_timeout_s).values())

        server, _, clients = start(
            settings, host=args.host, port=args.port, clusters=args.cluster, drift=drift, incidents=incidents
        )
    except KafkaAgentError as exc:
        sys.stderr.write(f"kafka-agent exporter: {exc}\n")
        return 2
    except OSError as exc:
        sys.stderr.write(f"kafka-agent exporter: cannot listen on {args.host}:{args.port}: {exc.strerror}\n")
        return 2
    sys.stderr.write(f"kafka-agent exporter: serving http://{args.host}:{args.port}/metrics\n")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return 0
    finally:
        server.shutdown()
        clients.close()
