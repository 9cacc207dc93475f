"""Memory benchmark: store throughput, vector_search latency with filters at 10k and 100k records, Recall@5.

    uv run python bench/memory.py                # the full run (about 5-10 minutes on 2 cores)
    uv run python bench/memory.py --big 0        # skip the 100k part

Everything goes through the MCP tools on an in-memory client (the same path an agent uses), on a real embedded
Chroma in a temporary folder, with the real model. The 90 000 extra records of the 100k part are inserted straight
into Chroma with random unit vectors (encoding them would take several minutes), under the same metadata schema.
Peer figures from the same run: the model's raw encode rate (the ceiling for store throughput) and Chroma's own
``where``-filtered query on the same collections (what a filtered search costs without the in-process copy).
After the direct inserts the copy is read again from Chroma, and the time that takes is printed too (it is what a
server pays, in the background, when it opens a store of that size).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anyio

DATA = Path(__file__).parent / "data" / "memory_notes.json"
CLUSTERS = ["prod-eu", "prod-us", "staging", "dev"]
TYPES = [
    "troubleshooting",
    "performance-tuning",
    "incident",
    "runbook",
    "cluster-config",
    "streaming-pattern",
    "connector",
    "schema",
    "benchmark",
]
LAYERS = ["long_term", "long_term", "mid_term", "short_term"]
TAGS = ["lag", "isr", "disk", "latency", "security", "schema", "connect", "streams", "producer", "consumer"]
EVENTS = [
    "consumer lag rose to {n} records",
    "ISR shrank on {n} partitions",
    "disk usage reached {p} percent",
    "produce p99 latency hit {n} ms",
    "rebalance took {n} seconds",
    "connector task restarted {n} times",
    "schema version {n} registered",
    "throughput peaked at {n} msgs/s",
    "GC pause of {n} ms",
    "under-replicated partitions: {n}",
]
SCENARIOS: list[tuple[str, dict[str, Any]]] = [
    ("no filter", {}),
    ("cluster", {"cluster": "prod-eu"}),
    ("cluster + type", {"cluster": "prod-eu", "type": "incident"}),
    ("type + layer", {"type": "runbook", "layer": "long_term"}),
    ("project (1 in 20)", {"project": "proj-07"}),
    ("tag (1 in 10)", {"tags": ["disk"]}),
    ("layer (1 in 2)", {"layer": "long_term"}),
]


def synthetic(i: int) -> tuple[str, dict[str, Any]]:
    """A short record: unique text (no dedup) and metadata drawn independently over clusters, types, layers,
    projects and tags."""
    rnd = random.Random(i)
    event = rnd.choice(EVENTS).format(n=rnd.randint(2, 90_000), p=rnd.randint(50, 99))
    cluster, type_ = rnd.choice(CLUSTERS), rnd.choice(TYPES)
    text = f"Broker {rnd.randint(1, 12)} of {cluster}, topic t{rnd.randint(1, 500)}: {event} (note {i})."
    meta = {
        "key": f"kafka-streaming-agent/{cluster}/{type_}/n{i:06d}",
        "layer": rnd.choice(LAYERS),
        "project": f"proj-{rnd.randrange(20):02d}",
        "tags": [rnd.choice(TAGS)],
        "namespace": "bench",
    }
    return text, meta


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt(ms: list[float]) -> str:
    return f"p50 {pct(ms, 0.5):6.1f} ms  p95 {pct(ms, 0.95):6.1f} ms"


def structured(result: Any) -> Any:
    if result.is_error:
        raise SystemExit("tool failed: " + "".join(getattr(c, "text", "") for c in result.content))
    return result.structured_content


async def latency(client: Any, store: Any, queries: list[str], rounds: int) -> None:
    """Per filter scenario: the vector_search tool end to end (MCP + encoding + search), and the store's search
    given the query's embedding (what the layout and the filters cost, without the model)."""
    from memory.search import Filters

    encode_ms: list[float] = []
    vectors = []
    for q in queries[:rounds]:
        t = time.perf_counter()
        vectors.append(store.embedder.encode([q])[0])
        encode_ms.append((time.perf_counter() - t) * 1000)
    print(f"    {'query encoding alone':<20} {fmt(encode_ms)}")
    for name, flt in SCENARIOS:
        before = dict(store.search_paths)
        tool_ms, search_ms = [], []
        for q in queries[:rounds]:
            t = time.perf_counter()
            data = structured(await client.call_tool("vector_search", {"query": q, "limit": 5, **flt}))
            tool_ms.append((time.perf_counter() - t) * 1000)
            assert data["hits"], (name, q)
        f = Filters(**{k: v for k, v in flt.items() if k != "cluster"})
        for q, v in zip(queries[:rounds], vectors, strict=True):
            t = time.perf_counter()
            store.search(q, limit=5, cluster=flt.get("cluster"), filters=f, query_vector=v)
            search_ms.append((time.perf_counter() - t) * 1000)
        paths = {k: v - before[k] for k, v in store.search_paths.items() if v - before[k]}
        print(f"    {name:<20} tool {fmt(tool_ms)} | search given the vector {fmt(search_ms)} | {paths}")


def chroma_where_peer(store: Any, queries: list[str], rounds: int) -> None:
    """Chroma's own where filter on the same collections, for comparison (fan-out over the cluster collections)."""
    vectors = store.embedder.encode(queries[:rounds])
    for name, where in [
        ("type + layer", {"$and": [{"type": "runbook"}, {"layer": "long_term"}]}),
        ("project (1 in 20)", {"project": "proj-07"}),
    ]:
        ms = []
        cols = [c for _, c in store.cluster_collections(None)]
        for v in vectors:
            t = time.perf_counter()
            for col in cols:
                col.query(query_embeddings=[v], n_results=5, where=where, include=["metadatas", "distances"])
            ms.append((time.perf_counter() - t) * 1000)
        print(f"    peer: Chroma where, {name:<18} {fmt(ms)} (no query encoding)")


def insert_random(store: Any, start: int, count: int) -> float:
    import numpy as np

    from memory import records as R
    from memory.models import MemoryInput, MemoryMetadata

    rng = np.random.default_rng(7)
    t = time.perf_counter()
    now = store.clock()
    size = min(5000, store.max_batch())
    for first in range(start, start + count, size):
        last = min(first + size, start + count)
        by_cluster: dict[str, tuple[list[str], list[str], list[dict[str, Any]]]] = {}
        for i in range(first, last):
            text, meta = synthetic(i)
            p = R.prepare(MemoryInput(text=text, metadata=MemoryMetadata(**meta)))
            base = p.base_metadata(created=now, updated=now, now=now)
            ids, docs, metas = by_cluster.setdefault(p.key.cluster, ([], [], []))
            ids.append(R.chunk_id(p.key_str, 0))
            docs.append(p.text)
            metas.append({**base, "chunk": 0, "chunks": 1, "keep": len(p.text)})
        for cluster, (ids, docs, metas) in by_cluster.items():
            vecs = rng.normal(size=(len(ids), store.embedder.dimension)).astype("float32")
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
            col = store.collection(R.collection_name(cluster), create=True)
            col.add(ids=ids, embeddings=vecs, documents=docs, metadatas=metas)
    return time.perf_counter() - t


async def recall(client: Any, notes: list[dict[str, Any]], cluster: str | None) -> tuple[float, float, int]:
    found, rr, total = 0, 0.0, 0
    for note in notes:
        want = f"kafka-streaming-agent/notes/{note['key']}"
        for q in note["queries"]:
            args: dict[str, Any] = {"query": q, "limit": 5}
            if cluster:
                args["cluster"] = cluster
            keys = [h["record"]["key"] for h in structured(await client.call_tool("vector_search", args))["hits"]]
            total += 1
            if want in keys:
                found += 1
                rr += 1 / (keys.index(want) + 1)
    return found / total, rr / total, total


async def main(args: argparse.Namespace) -> None:
    from mcp import Client

    from core.app import build_app_context
    from core.settings import Settings
    from mcp_server.server import build_server
    from memory.embeddings import Embedder
    from memory.store import MemoryStore

    notes = json.loads(DATA.read_text())["notes"]
    queries = [q for n in notes for q in n["queries"]]
    tmp = Path(tempfile.mkdtemp(prefix="kafka-agent-memory-bench-"))
    try:
        settings = Settings(bootstrap_servers="127.0.0.1:1", data_dir=tmp)
        t = time.perf_counter()
        embedder = Embedder(settings.embedding_model, backend=settings.embedding_backend)
        embedder.encode(["warm up"])
        print(
            f"model load: {time.perf_counter() - t:.1f} s ({embedder.path.name} from {embedder.path.parent.name}, "
            f"{embedder.active_backend} backend)"
        )

        records = [synthetic(i) for i in range(args.records)]
        sample = [text for text, _ in records[: min(1000, args.records)]]

        def raw_rate() -> float:
            t = time.perf_counter()
            embedder.encode(sample)
            return len(sample) / (time.perf_counter() - t)

        raw_before = raw_rate()

        app = build_app_context(settings)
        store = MemoryStore.from_settings(settings, embedder=embedder)
        app.lazy.get("memory", lambda: store)
        async with Client(build_server(settings, shared=app)) as client:
            print(f"\n1. memory_store throughput, {args.records} short records in batches of {args.batch}")
            t = time.perf_counter()
            for first in range(0, args.records, args.batch):
                batch = [{"text": x, "metadata": m} for x, m in records[first : first + args.batch]]
                data = structured(await client.call_tool("memory_store", {"records": batch}))
                assert all(o["action"] == "created" for o in data["stored"])
            elapsed = time.perf_counter() - t
            print(f"    {args.records / elapsed:7.0f} records/s ({elapsed:.1f} s; target >= 200/s)")
            raw_after = raw_rate()
            print(
                f"    peer: the model alone encodes {raw_before:.0f} sentences/s just before and {raw_after:.0f} just "
                f"after (the same texts, in this run)"
            )

            for note in notes:
                meta = {"key": f"kafka-streaming-agent/notes/{note['key']}", "namespace": "notes"}
                structured(await client.call_tool("memory_store", {"text": note["text"], "metadata": meta}))

            total = args.records + len(notes)
            if store.search_cache is not None:
                store.search_cache.wait()
                print(
                    f"\n   in-process search copy (kept in step with the writes): {store.search_cache.rows()} entries"
                )
            print(f"\n2. vector_search latency at {total} records, limit 5, {args.rounds} queries each")
            await latency(client, store, queries * 4, args.rounds)

            print(f"\n3. Recall@5 on {len(queries)} labelled queries over {len(notes)} Kafka operations notes")
            r5, mrr, n = await recall(client, notes, "notes")
            print(f"    notes only (cluster filter)      Recall@5 {r5:.3f}  MRR {mrr:.3f}  ({n} queries)")
            r5, mrr, n = await recall(client, notes, None)
            print(f"    among {args.records} other records   Recall@5 {r5:.3f}  MRR {mrr:.3f}  ({n} queries)")

            if args.big > total:
                extra = args.big - total
                secs = insert_random(store, args.records, extra)
                total = args.records + len(notes) + extra
                print(f"\n4. vector_search latency at {total} records ({extra} inserted directly in {secs:.0f} s)")
                if store.search_cache is not None:
                    # The direct inserts bypassed the store: its copies are read again from Chroma, as when a server
                    # starts on an existing folder.
                    t = time.perf_counter()
                    store.search_cache.reload(store.cluster_collections(None))
                    store.search_cache.wait(600)
                    print(
                        f"    in-process search copy read from Chroma: {store.search_cache.rows()} entries in "
                        f"{time.perf_counter() - t:.1f} s (once per start, in the background)"
                    )
                await latency(client, store, queries * 4, args.rounds)
                chroma_where_peer(store, queries * 4, min(args.rounds, 60))
                print(f"    target: p95 under 30 ms at 100 000; search paths so far: {store.search_paths}")
        app.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="records stored through memory_store")
    parser.add_argument("--batch", type=int, default=500, help="records per memory_store call")
    parser.add_argument("--big", type=int, default=100_000, help="total for the large search test (0 to skip)")
    parser.add_argument("--rounds", type=int, default=100, help="queries per latency scenario")
    anyio.run(main, parser.parse_args())
