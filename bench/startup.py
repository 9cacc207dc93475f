"""Cold start of `kafka-agent serve` over stdio until the tools/list answer, beside a one-tool MCPServer.

Each run spawns a fresh process the way Claude Desktop does and times spawn -> initialize -> tools/list.
Prints the median of N runs for both, and the ratio (target: at most 1.25x the one-tool server).

    uv run python bench/startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import anyio
from mcp import Client, StdioServerParameters

ROOT = Path(__file__).resolve().parents[1]


async def one_run(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    params = StdioServerParameters(command=sys.executable, args=args, env=env, cwd=str(ROOT))
    start = time.perf_counter()
    async with Client(params) as client:
        tools = (await client.list_tools()).tools
        elapsed = time.perf_counter() - start
    return elapsed, len(tools)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        # No cluster is needed to list tools: the server connects to Kafka on first use.
        env = {**os.environ, "KAFKA_AGENT_DATA_DIR": data, "KAFKA_AGENT_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
        subjects = {
            "kafka-agent serve": ["-m", "cli", "serve"],
            "one-tool MCPServer": [str(ROOT / "bench" / "minimal_server.py")],
        }
        results: dict[str, list[float]] = {name: [] for name in subjects}
        counts: dict[str, int] = {}
        await one_run(subjects["one-tool MCPServer"], env)  # warm the OS file cache once for both
        for _ in range(opts.runs):
            for name, args in subjects.items():  # interleaved, so drift hits both alike
                elapsed, count = await one_run(args, env)
                results[name].append(elapsed)
                counts[name] = count
    ours = statistics.median(results["kafka-agent serve"])
    floor = statistics.median(results["one-tool MCPServer"])
    print(f"cold start to tools/list, median of {opts.runs} runs:")
    for name, times in results.items():
        print(
            f"  {name:<20} {statistics.median(times) * 1000:7.0f} ms  ({counts[name]} tools; runs: "
            + ", ".join(f"{t * 1000:.0f}" for t in times)
            + ")"
        )
    print(f"  ratio                {ours / floor:7.2f}x  (target <= 1.25x)")


if __name__ == "__main__":
    anyio.run(main)
