"""Shared by the chat, run and worker commands: settings, logging to stderr, the tool hub options."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from core.settings import Settings


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", help="Model id (default: KAFKA_AGENT_MODEL or claude-sonnet-5-5).")
    parser.add_argument("--max-turns", type=int, help="Stop a run after this many model turns.")
    parser.add_argument(
        "--stdio",
        action="store_true",
        help="Reach the tools through a spawned `kafka-agent serve` (default: in process).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="Log to stderr.")


def tool_hub(settings: Settings, *, stdio: bool, extra_servers: bool = True) -> Any:
    """The agent's tool hub on our server: in process (default), or a spawned `kafka-agent serve` over stdio."""
    from agent.host import ToolHub
    from mcp_server.server import build_server

    if stdio:
        return ToolHub(settings, transport="stdio", extra_servers=extra_servers)
    return ToolHub(settings, extra_servers=extra_servers, server=lambda: build_server(settings, transport="agent"))


def settings_from(args: argparse.Namespace) -> Settings:
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    overrides: dict[str, object] = {}
    if args.model:
        overrides["model"] = args.model
    if args.max_turns:
        overrides["max_turns"] = args.max_turns
    if getattr(args, "approval", None):
        overrides["approval"] = args.approval
    return Settings(**overrides)  # type: ignore[arg-type]
