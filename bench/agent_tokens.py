"""Input tokens of a scripted five-phase agent run, the old way and the new ways, in the same run (issue 16, item 6).

The model is the tests' fake Messages API (tests/agent/fake_anthropic.py): the real ``anthropic`` SDK streams from
it, the agent calls our server's real tools in process on a real dev cluster, and the fake counts every request's
tokens from what the request carries (compact JSON characters / 4) and caches them the way the API caches (prefix
hashes at the cache breakpoints, 20-block lookback, 1 024-token minimum: tests/agent/fake_accounting.py). The same
script (the model's intentions) runs in every mode; with tool search the fake model first searches for a tool it
has not loaded, as a model must.

Modes:
    old     every tool in every turn; cache breakpoints on the tools and the system prompt only (before issue 16)
    cache   every tool; breakpoints on the conversation too
    phase   the phase's tools (those of every phase first), conversation breakpoints (default: tool_search off)
    search  tool search (bm25): the search tool and a few tools loaded, the phase's other tools deferred

Figures per run:
    sent       every input token the requests carried: plain input + cache writes + cache reads
    uncached   plain input + cache writes (what max_input_tokens_per_run counts)
    cost-eq    plain input + 1.25 x writes + 0.1 x reads: the input's price in plain-input tokens (5-minute cache)
Target: the new way sends at most 40 % of the old way's input tokens.

    uv run python bench/agent_tokens.py                       # starts its own cluster 'bench-agent', purges it after
    uv run python bench/agent_tokens.py --bootstrap HOST:PORT # an existing cluster
    uv run python bench/agent_tokens.py --turns               # and every request of every run
    uv run python bench/agent_tokens.py --long                # and a 30-turn run under the default limits
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MODES: dict[str, dict[str, Any]] = {
    "old": {"phase_tools": False, "cache_conversation": False, "tool_search": "off"},
    "cache": {"phase_tools": False, "cache_conversation": True, "tool_search": "off"},
    "phase": {"phase_tools": True, "cache_conversation": True, "tool_search": "off"},
    "search": {"phase_tools": True, "cache_conversation": True, "tool_search": "bm25"},
}
TARGET = 0.40
OLD_CAP = 400_000  # the old max_tokens_per_run, which counted cache reads at full weight


def log(message: str) -> None:
    sys.stderr.write(f"[bench-agent] {message}\n")
    sys.stderr.flush()


def five_phases(topic: str, seed: str) -> list[Any]:
    """Create a topic through PLAN, VALIDATE, EXECUTE, VERIFY, DOCUMENT: 12 model turns."""
    from tests.agent.fake_anthropic import step, text, tool

    spec = {"topic": topic, "partitions": 3, "replication_factor": 1, "configs": {"retention.ms": "86400000"}}
    key = f"kafka-streaming-agent/local/cluster-config/{topic}"
    return [
        step(text("Memory and the cluster first."), tool("vector_search", {"query": "orders topic sizing"})),
        step(tool("kafka_describe_cluster", {}), tool("kafka_list_topics", {})),
        step(tool("kafka_describe_topic", {"topic": seed})),
        step(tool("agent_advance_phase", {"phase": "VALIDATE", "summary": f"Create {topic}: 3 partitions, RF 1."})),
        step(
            tool(
                "kafka_check_policy",
                {"action": "topic.create", "topic": topic, "partitions": 3, "replication_factor": 1},
            ),
            tool("kafka_create_topic", {**spec, "validate_only": True}),
        ),
        step(tool("agent_advance_phase", {"phase": "EXECUTE", "summary": "Policy and brokers accept it."})),
        step(tool("kafka_create_topic", spec)),
        step(tool("agent_advance_phase", {"phase": "VERIFY", "summary": "Created."})),
        step(tool("kafka_describe_topic", {"topic": topic})),
        step(
            tool("agent_advance_phase", {"phase": "DOCUMENT", "summary": "3 partitions, leaders.", "verdict": "pass"})
        ),
        step(
            tool(
                "memory_store",
                {
                    "text": f"Topic {topic}: 3 partitions, replication factor 1, retention one day; orders stream.",
                    "metadata": {"key": key, "agent": "kafka-streaming-agent", "tags": ["orders"]},
                },
            )
        ),
        step(text(f"Created {topic} with 3 partitions and recorded it in memory.")),
    ]


def thirty_turns(topic: str, seed: str) -> list[Any]:
    """A long look around before the same change: 30 model turns (max_turns' default)."""
    from tests.agent.fake_anthropic import step, tool

    reads = [
        ("kafka_list_topics", {}),
        ("kafka_describe_cluster", {}),
        ("kafka_describe_topic", {"topic": seed}),
        ("kafka_list_consumer_groups", {}),
        ("kafka_cluster_health", {}),
        ("kafka_check_durability", {"topic": seed}),
        ("kafka_topic_offsets", {"topic": seed}),
        ("kafka_consumer_lag", {}),
        ("kafka_consume", {"topic": seed, "start": "earliest", "max_records": 5}),
    ]
    looks = [step(tool(*reads[i % len(reads)])) for i in range(21)]
    return looks + five_phases(topic, seed)[3:]


async def one_run(
    settings: Any, fake: Any, script: Callable[[str, str], list[Any]], seed: str
) -> tuple[Any, list[dict[str, Any]], list[dict[str, int]]]:
    """One agent run on a fresh prompt cache; the scripted steps it did not reach are dropped."""
    from agent.runner import Agent
    from cli.common import tool_hub
    from tests.agent.fake_accounting import PromptCache

    fake.cache = PromptCache()
    start = len(fake.requests)
    topic = f"bench-agent-{uuid.uuid4().hex[:8]}"
    fake.script(*script(topic, seed))
    async with tool_hub(settings, stdio=False) as hub:
        record = await Agent(settings, hub).run(f"Create a topic {topic} for the orders stream")
    if fake.unexpected:
        log(f"the fake saw what the API would refuse: {fake.unexpected}")
        fake.unexpected.clear()
    fake.steps.clear()
    usages = [u for u in fake.usages[start:] if u is not None]
    return record, fake.requests[start:], usages


def tool_tokens(body: dict[str, Any]) -> int:
    from tests.agent.fake_accounting import count

    return sum(
        count({k: t.get(k) for k in ("name", "description", "input_schema")})
        for t in body.get("tools") or []
        if not t.get("defer_loading")
    )


def figures(usages: list[dict[str, int]]) -> dict[str, float]:
    inp = sum(u["input_tokens"] for u in usages)
    cw = sum(u["cache_creation_input_tokens"] for u in usages)
    cr = sum(u["cache_read_input_tokens"] for u in usages)
    return {
        "sent": inp + cw + cr,
        "uncached": inp + cw,
        "read": cr,
        "written": cw,
        "cost": inp + 1.25 * cw + 0.1 * cr,
        "output": sum(u["output_tokens"] for u in usages),
    }


async def measure(bootstrap: str, args: argparse.Namespace) -> int:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    from core.settings import Settings
    from tests.agent.fake_anthropic import FakeAnthropic

    seed = f"bench-agent-orders-{uuid.uuid4().hex[:6]}"
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for fut in admin.create_topics([NewTopic(seed, 3, 1)]).values():
        fut.result(30)
    prod = Producer({"bootstrap.servers": bootstrap})
    for i in range(50):
        prod.produce(seed, key=str(i).encode(), value=f'{{"order": {i}, "amount": {i * 3}}}'.encode())
    prod.flush(30)

    fake = FakeAnthropic()
    fake.start()
    results: dict[str, dict[str, float]] = {}
    failures = 0
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for mode, overrides in MODES.items():
                settings = Settings(
                    bootstrap_servers=bootstrap,
                    data_dir=Path(tmp) / mode,
                    toolsets="all",
                    anthropic_base_url=fake.url,
                    anthropic_api_key="bench-not-real",
                    approval="auto",
                    **overrides,
                )
                record, bodies, usages = await one_run(settings, fake, five_phases, seed)
                if record.status != "completed":
                    log(f"{mode}: the run ended {record.status}: {record.error}")
                    failures += 1
                results[mode] = figures(usages) | {
                    "turns": len(usages),
                    "tools": sum(tool_tokens(b) for b in bodies) / max(1, len(bodies)),
                    "searches": sum(t.tool_searches for t in record.turn_usage),
                }
                log(f"{mode}: {record.status} in {len(usages)} turns")
                if args.turns:
                    print(f"\n{mode}: per request")
                    print(
                        f"  {'turn':>4} {'phase':<9} {'tools':>5} {'deferred':>8} {'input':>7} {'write':>7} "
                        f"{'read':>7} {'out':>5}"
                    )
                    for t in record.turn_usage:
                        print(
                            f"  {t.turn:>4} {t.phase:<9} {t.tools_sent:>5} {t.tools_deferred:>8} {t.input_tokens:>7} "
                            f"{t.cache_creation_input_tokens:>7} {t.cache_read_input_tokens:>7} {t.output_tokens:>5}"
                        )
            old = results["old"]
            print("\nfive-phase run (create a topic), tokens counted by the fake from what each request carried")
            print(
                f"{'mode':<7} {'turns':>5} {'tools/req':>9} {'sent':>8} {'uncached':>9} {'written':>8} {'read':>8} "
                f"{'cost-eq':>8} {'output':>6}  sent vs old  uncached vs old  cost vs old"
            )
            for mode, r in results.items():
                print(
                    f"{mode:<7} {r['turns']:>5.0f} {r['tools']:>9.0f} {r['sent']:>8.0f} {r['uncached']:>9.0f} "
                    f"{r['written']:>8.0f} {r['read']:>8.0f} {r['cost']:>8.0f} {r['output']:>6.0f}  "
                    f"{r['sent'] / old['sent']:>10.0%}  {r['uncached'] / old['uncached']:>15.0%}  "
                    f"{r['cost'] / old['cost']:>10.0%}"
                )
            default = "phase" if Settings().tool_search == "off" else "search"
            for mode in ("phase", "search"):
                ratio = results[mode]["sent"] / old["sent"]
                verdict = "met" if ratio <= TARGET else "NOT met"
                tag = " (the default)" if mode == default else ""
                print(
                    f"target: {mode}{tag} sends <= {TARGET:.0%} of the old way's input tokens: {ratio:.0%}, {verdict}"
                )
                failures += mode == default and ratio > TARGET
            if args.long:
                failures += await long_runs(bootstrap, Path(tmp), fake, seed)
    finally:
        fake.stop()
        admin.delete_topics([seed])
    return failures


async def long_runs(bootstrap: str, tmp: Path, fake: Any, seed: str) -> int:
    """30 turns under the default limits, in each mode; and where the old cap (all tokens, 400 000) would stop."""
    from core.settings import Settings

    defaults = Settings()
    print(
        f"\n30-turn run, default limits: max_turns {defaults.max_turns}, max_input_tokens_per_run "
        f"{defaults.max_input_tokens_per_run}, max_output_tokens_per_run {defaults.max_output_tokens_per_run}"
    )
    failures = 0
    for mode, overrides in MODES.items():
        settings = Settings(
            bootstrap_servers=bootstrap,
            data_dir=tmp / f"long-{mode}",
            toolsets="all",
            anthropic_base_url=fake.url,
            anthropic_api_key="bench-not-real",
            approval="auto",
            **overrides,
        )
        record, _bodies, usages = await one_run(settings, fake, thirty_turns, seed)
        f = figures(usages)
        running, stop = 0, None
        for t in record.turn_usage:
            running += t.input_tokens + t.output_tokens + t.cache_creation_input_tokens + t.cache_read_input_tokens
            if stop is None and running >= OLD_CAP:
                stop = t.turn
        old_cap = f"the old cap would stop it after turn {stop}" if stop else "under the old cap too"
        print(
            f"{mode:<7} {record.status:<9} {record.usage.turns:>2} turns, uncached {f['uncached']:.0f}, read "
            f"{f['read']:.0f}, output {f['output']:.0f}; {old_cap}" + (f"; {record.error}" if record.error else "")
        )
        if mode != "old" and record.status != "completed":
            failures += 1
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bootstrap", help="an existing cluster (default: start 'bench-agent')")
    parser.add_argument("--cluster", default="bench-agent")
    parser.add_argument("--keep", action="store_true", help="leave the bench cluster running")
    parser.add_argument("--turns", action="store_true", help="print every request of every run")
    parser.add_argument("--long", action="store_true", help="also run 30 turns under the default limits")
    args = parser.parse_args()
    if args.bootstrap:
        return 1 if anyio.run(measure, args.bootstrap, args) else 0

    from core.settings import Settings
    from devcluster.cluster import down, up

    home = Settings().resolved_devcluster_home()
    state = up(home, name=args.cluster, brokers=1, base_port=0, heap="384m")
    try:
        return 1 if anyio.run(measure, state.bootstrap_servers, args) else 0
    finally:
        if not args.keep:
            down(home, name=args.cluster, purge=True)


if __name__ == "__main__":
    raise SystemExit(main())
