"""What a client hands its model for our tools: per tool, per toolset, the default selection and the whole server.

A tool's model-facing definition is its name, description and input schema as JSON; tokens are estimated as
characters / 4 (the estimate the budgets were set with). Budgets (issue 16): every tool <= 1 500 characters; the
default selection <= 25 tools and <= 6 000 tokens; every tool together <= 15 000 tokens.

    uv run python bench/tool_budget.py [--all-tools]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PER_TOOL_CHARS = 1500
DEFAULT_TOOLS = 25
DEFAULT_TOKENS = 6000
ALL_TOKENS = 15000


def model_facing(tool: object) -> str:
    return json.dumps(
        {
            "name": getattr(tool, "name", ""),
            "description": getattr(tool, "description", "") or "",
            "input_schema": getattr(tool, "input_schema", {}) or {},
        },
        separators=(",", ":"),
    )


async def measure(show_all: bool) -> int:
    from core.settings import Settings
    from mcp_server.server import build_server
    from mcp_server.tools._base import TOOL_TOOLSETS

    with tempfile.TemporaryDirectory() as data:
        server = build_server(Settings(data_dir=Path(data), toolsets="default"))
        every = await server.all_tools()
        default = await server.list_tools()
    sizes = {t.name: len(model_facing(t)) for t in every}
    by_set: dict[str, list[str]] = defaultdict(list)
    for name in sizes:
        by_set[TOOL_TOOLSETS.get(name, "?")].append(name)
    failures = 0
    over = sorted((n for n, c in sizes.items() if c > PER_TOOL_CHARS), key=lambda n: -sizes[n])
    print(f"{'toolset':<12} {'tools':>5} {'chars':>7} {'~tokens':>8}  largest")
    for name, members in sorted(by_set.items()):
        chars = sum(sizes[m] for m in members)
        biggest = max(members, key=lambda m: sizes[m])
        print(f"{name:<12} {len(members):>5} {chars:>7} {chars // 4:>8}  {biggest} ({sizes[biggest]})")
    all_chars = sum(sizes.values())
    default_chars = sum(sizes[t.name] for t in default)
    print(f"{'ALL':<12} {len(sizes):>5} {all_chars:>7} {all_chars // 4:>8}  budget {ALL_TOKENS} tokens")
    print(
        f"{'DEFAULT':<12} {len(default):>5} {default_chars:>7} {default_chars // 4:>8}  budget {DEFAULT_TOOLS} tools, "
        f"{DEFAULT_TOKENS} tokens"
    )
    if show_all:
        print()
        for name, chars in sorted(sizes.items(), key=lambda kv: -kv[1]):
            print(f"  {chars:>5}  {name}")
    if over:
        failures += 1
        print(f"over {PER_TOOL_CHARS} characters: " + ", ".join(f"{n} ({sizes[n]})" for n in over))
    if all_chars // 4 > ALL_TOKENS:
        failures += 1
        print(f"every tool together is over {ALL_TOKENS} tokens")
    if len(default) > DEFAULT_TOOLS or default_chars // 4 > DEFAULT_TOKENS:
        failures += 1
        print("the default selection is over its budget")
    print("budgets: " + ("met" if not failures else f"{failures} not met"))
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--all-tools", action="store_true", help="also list every tool's size")
    opts = parser.parse_args()
    sys.exit(1 if anyio.run(measure, opts.all_tools) else 0)


if __name__ == "__main__":
    main()
