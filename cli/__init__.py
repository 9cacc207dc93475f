"""The ``kafka-agent`` command: wires each subcommand to the package that does the work, with no logic of its own.

Each subcommand lives in a module with ``configure(parser)`` and ``run(args) -> int``; only the chosen one is
imported, so ``kafka-agent serve`` starts without loading anything another command needs.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "serve": ("cli.serve", "run the MCP server (stdio by default, --transport http for streamable HTTP)"),
    "dev-cluster": ("cli.devcluster", "start, stop or inspect a local Apache Kafka cluster (KRaft, no Docker)"),
    "lag": ("cli.lag", "show consumer lag per group and partition in a table (--watch refreshes it)"),
    "chat": ("cli.chat", "talk with the agent in the terminal: tool calls shown as panels, approvals inline"),
    "run": ("cli.run", "run one agent task and print its run record (--json); --resume to continue one"),
    "worker": ("cli.worker", "serve a peer agent's tasks from Kafka as a consumer-group member"),
    "audit": ("cli.audit", "tail -n N: the log of mutating calls; cluster: a readiness report"),
    "exporter": ("cli.exporter", "serve Prometheus metrics: consumer lag, replication health, broker count"),
    "streams": ("cli.streams", "list stream applications, show one's status, or print its runner log"),
    "memory": ("cli.memory", "store, search, get, list or delete memory records (Chroma) in readable tables"),
    "approvals": ("cli.approvals", "list, show, approve or deny the changes waiting for a person's approval"),
    "reassign": ("cli.reassign", "plan, execute (progress bar), watch, finish or cancel a partition reassignment"),
    "export": ("cli.platform", "write the platform file (YAML) of a live cluster, or Strimzi manifests; --commit"),
    "plan": ("cli.platform", "show what applying a platform file would change, with policy verdicts (exit 0/2/1)"),
    "apply": ("cli.platform", "execute exactly a saved plan through the gate, step by step, verified"),
    "drift": ("cli.platform", "compare the clusters with a platform file (exit 2 on drift)"),
    "console": ("cli.console", "the web console alone: overview, topics, lag charts, runs, approvals, audit, memory"),
    "watch": ("cli.watch", "watch clusters (health, lag, broker metrics), open and resolve incidents; --diagnose"),
}


def _top_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kafka-agent",
        description="Operate Apache Kafka through an MCP tool server and an LLM agent.",
        epilog="Run `kafka-agent COMMAND --help` for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser = _top_parser()
        if not argv or argv[0] in ("-h", "--help"):
            parser.print_help()
            return 0 if argv else 2
        parser.error(f"unknown command {argv[0]!r}; choose from {', '.join(COMMANDS)}")
    name = argv[0]
    module_name, help_text = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"kafka-agent {name}", description=help_text)
    module.configure(parser)
    args = parser.parse_args(argv[1:])
    try:
        code: int = module.run(args)
    except KeyboardInterrupt:
        return 130
    return code
