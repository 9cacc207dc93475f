"""``kafka-agent worker --agent PEER``: serve a peer agent's tasks from Kafka as a consumer-group member."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

import anyio

from cli.common import add_common, settings_from
from core.errors import KafkaAgentError


def configure(parser: argparse.ArgumentParser) -> None:
    from agent.prompts import peers

    parser.add_argument("--agent", required=True, choices=peers(), help="The peer agent this worker runs.")
    parser.add_argument("--max-tasks", type=int, default=0, help="Exit after answering this many tasks (0: never).")
    add_common(parser)


def run(args: argparse.Namespace) -> int:
    from agent.worker import run_worker
    from cli.common import tool_hub

    settings = settings_from(args)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        anyio.run(
            lambda: run_worker(
                settings,
                args.agent,
                lambda: tool_hub(settings, stdio=args.stdio, extra_servers=False),
                stop=stop,
                max_tasks=args.max_tasks,
            )
        )
    except KafkaAgentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
