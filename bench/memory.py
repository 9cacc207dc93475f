"""Memory benchmark: store throughput against the model's own rate, recall of vector, lexical and hybrid search on
labelled queries (alone and among 10 000 and 100 000 other records), and vector_search latency with filters.

    uv run python bench/memory.py                # the full run (about 20-30 minutes on 2 idle cores)
    uv run python bench/memory.py --big 0        # skip the 100k part

Everything goes through the MCP tools on an in-memory client (the same path an agent uses), on a real embedded
Chroma in a temporary folder, with the real model. Peers from the same run: the model alone encoding the same texts
(measured between the store calls: the ceiling for store throughput), Chroma's own ``where``-filtered query on the
same collections, and vector-only and lexical-only search on the same queries.

The labelled set (bench/data/memory_notes.json): 93 notes, 208 queries of three kinds: paraphrases, identifier
queries, and near-duplicates (two notes of the same kind told apart only by the topic, group, config key or error code
the query names). The other records are short operational notes drawn at random; a third name the config keys,
error codes and groups of the labelled notes, and some status lines name their topics, but none tells the situation a
labelled note tells (that would make it a right answer too). The 10 000 are stored through memory_store; the
~90 000 more of the 100k part are inserted straight into Chroma: record i takes the text of one of --pool texts
encoded by the model (with its own note number) and that text's vector. After the direct inserts the copy and the
lexical index are read again from Chroma (the time is printed: what a server pays, in the background, when it opens a
store of that size); the new records' terms are analysed then, from the text Chroma holds.
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
    # Events that name the identifiers the labelled notes use (config keys, error codes, group names), so the lexical
    # side meets them among the other records as well; never with the topic or group of a labelled note's situation,
    # so no other record answers a labelled query as well as its note does.
    "producers got {err} for {n} seconds",
    "{config} changed to {n}",
    "clients logged {err} during a restart",
    "group {group} committed offsets for {n} partitions",
    "{config} checked, still {n}",
]
# Status events that may name one of the labelled notes' topics.
STATUS = {"schema version {n} registered", "throughput peaked at {n} msgs/s", "GC pause of {n} ms"}
# Identifiers shared with bench/data/memory_notes.json.
TOPIC_NAMES = [
    "payments.transactions",
    "orders.events",
    "clickstream",
    "inventory.snapshots",
    "ledger.entries",
    "invoices.v2",
    "catalog.products",
    "audit.trail",
    "metrics.raw",
    "customer-profiles",
    "user-sessions",
    "debug-logs",
    "documents.pdf",
    "images.thumbnails",
    "inventory.updates",
    "shipments",
]
GROUPS = [
    "billing-aggregator",
    "search-indexer",
    "fraud-scoring",
    "recommendations",
    "orders-enricher",
    "reporting",
    "ledger-replayer",
    "exporter",
]
CONFIGS = [
    "min.insync.replicas",
    "retention.ms",
    "max.poll.interval.ms",
    "linger.ms",
    "batch.size",
    "session.timeout.ms",
    "fetch.min.bytes",
    "delivery.timeout.ms",
    "max.message.bytes",
    "num.io.threads",
    "replica.lag.time.max.ms",
    "transaction.timeout.ms",
]
ERRORS = [
    "NOT_ENOUGH_REPLICAS",
    "UNKNOWN_TOPIC_OR_PARTITION",
    "LEADER_NOT_AVAILABLE",
    "NOT_LEADER_OR_FOLLOWER",
    "REQUEST_TIMED_OUT",
    "OFFSET_OUT_OF_RANGE",
    "MESSAGE_TOO_LARGE",
    "TOPIC_AUTHORIZATION_FAILED",
    "RecordTooLargeException",
    "TimeoutException",
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
    template = rnd.choice(EVENTS)
    event = template.format(
        n=rnd.randint(2, 90_000),
        p=rnd.randint(50, 99),
        err=rnd.choice(ERRORS),
        group=rnd.choice(GROUPS),
        config=rnd.choice(CONFIGS),
    )
    cluster, type_ = rnd.choice(CLUSTERS), rnd.choice(TYPES)
    topic = rnd.choice(TOPIC_NAMES) if template in STATUS and rnd.random() < 0.5 else f"t{rnd.randint(1, 500)}"
    text = f"Broker {rnd.randint(1, 12)} of {cluster}, topic {topic}: {event} (note {i})."
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
    """Per filter scenario: the vector_search tool end to end (MCP + encoding + search) in the default hybrid mode
    and in vector mode, and the store's hybrid search given the query's embedding (what the layout, the filters and
    the lexical side cost, without the model)."""
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
        tool_ms, vector_ms, search_ms = [], [], []
        for q in queries[:rounds]:
            t = time.perf_counter()
            data = structured(await client.call_tool("vector_search", {"query": q, "limit": 5, **flt}))
            tool_ms.append((time.perf_counter() - t) * 1000)
            assert data["hits"], (name, q)
            t = time.perf_counter()
            structured(await client.call_tool("vector_search", {"query": q, "limit": 5, "mode": "vector", **flt}))
            vector_ms.append((time.perf_counter() - t) * 1000)
        f = Filters(**{k: v for k, v in flt.items() if k != "cluster"})
        for q, v in zip(queries[:rounds], vectors, strict=True):
            t = time.perf_counter()
            store.search(q, limit=5, cluster=flt.get("cluster"), filters=f, query_vector=v)
            search_ms.append((time.perf_counter() - t) * 1000)
        paths = {k: v - before[k] for k, v in store.search_paths.items() if v - before[k]}
        print(
            f"    {name:<20} hybrid tool {fmt(tool_ms)} | vector tool p95 {pct(vector_ms, 0.95):6.1f} ms | "
            f"hybrid search given the vector {fmt(search_ms)} | {paths}"
        )


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


def insert_extra(store: Any, start: int, count: int, pool: list[tuple[str, Any]]) -> float:
    """``count`` more records straight into Chroma (as a store opened on an existing folder finds them). Record i
    takes the text of pool entry i mod len(pool), with its own note number, and that text's vector from the model
    (the note number moves a vector by about 0.01 in cosine)."""
    import numpy as np

    from memory import records as R
    from memory.models import MemoryInput, MemoryMetadata

    t = time.perf_counter()
    now = store.clock()
    size = min(5000, store.max_batch())
    for first in range(start, start + count, size):
        last = min(first + size, start + count)
        by_cluster: dict[str, tuple[list[str], list[Any], list[str], list[dict[str, Any]]]] = {}
        for i in range(first, last):
            _, meta = synthetic(i)
            text, vector = pool[i % len(pool)]
            text = text.rsplit(" (note ", 1)[0] + f" (note {i})."
            p = R.prepare(MemoryInput(text=text, metadata=MemoryMetadata(**meta)))
            base = p.base_metadata(created=now, updated=now, now=now)
            ids, vecs, docs, metas = by_cluster.setdefault(p.key.cluster, ([], [], [], []))
            ids.append(R.chunk_id(p.key_str, 0))
            vecs.append(vector)
            docs.append(p.text)
            metas.append({**base, "chunk": 0, "chunks": 1, "keep": len(p.text)})
        for cluster, (ids, vecs, docs, metas) in by_cluster.items():
            col = store.collection(R.collection_name(cluster), create=True)
            col.add(ids=ids, embeddings=np.asarray(vecs, dtype=np.float32), documents=docs, metadatas=metas)
    return time.perf_counter() - t


KINDS = ("paraphrase", "identifier", "near-duplicate")


async def recall(client: Any, notes: list[dict[str, Any]], cluster: str | None, mode: str) -> dict[str, Any]:
    """Recall@1, Recall@5 and MRR (over the first 5) of the labelled queries, overall and by kind."""
    per: dict[str, list[int]] = {k: [] for k in ("all", *KINDS)}  # rank of the note (0: not in the first 5)
    for note in notes:
        want = f"kafka-streaming-agent/notes/{note['key']}"
        for q in note["queries"]:
            args: dict[str, Any] = {"query": q["query"], "limit": 5, "mode": mode}
            if cluster:
                args["cluster"] = cluster
            keys = [h["record"]["key"] for h in structured(await client.call_tool("vector_search", args))["hits"]]
            rank = keys.index(want) + 1 if want in keys else 0
            per["all"].append(rank)
            per[next(k for k in KINDS if q["kind"].startswith(k))].append(rank)
    out = {}
    for kind, ranks in per.items():
        n = len(ranks)
        out[kind] = {
            "n": n,
            "r1": sum(r == 1 for r in ranks) / n,
            "r5": sum(r > 0 for r in ranks) / n,
            "mrr": sum(1 / r for r in ranks if r) / n,
        }
    return out


async def recall_table(client: Any, notes: list[dict[str, Any]], cluster: str | None, title: str) -> None:
    from memory import search

    print(f"    {title}")
    print(f"      {'mode':<16} {'R@1':>6} {'R@5':>6} {'MRR':>6}   by kind (R@1 / R@5)")
    rows = [("vector", "vector", None), ("lexical", "lexical", None), ("hybrid", "hybrid", "linear")]
    rows.append(("hybrid (RRF)", "hybrid", "rrf"))
    for label, mode, fusion in rows:
        if fusion:
            search.FUSION = fusion  # type: ignore[assignment]
        got = await recall(client, notes, cluster, mode)
        search.FUSION = "linear"
        a = got["all"]
        kinds = "  ".join(f"{k} {got[k]['r1']:.2f}/{got[k]['r5']:.2f} ({got[k]['n']})" for k in KINDS)
        print(f"      {label:<16} {a['r1']:6.3f} {a['r5']:6.3f} {a['mrr']:6.3f}   {kinds}")


async def main(args: argparse.Namespace) -> None:
    from mcp import Client

    from core.app import build_app_context
    from core.settings import Settings
    from mcp_server.server import build_server
    from memory.embeddings import Embedder
    from memory.store import MemoryStore

    notes = json.loads(DATA.read_text())["notes"]
    queries = [q["query"] for n in notes for q in n["queries"]]
    tmp = Path(tempfile.mkdtemp(prefix="kafka-agent-memory-bench-"))
    print(f"{os.cpu_count()} cores, load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the start")
    try:
        # The memory tools take a cluster argument only for a configured cluster: configure the ones used here.
        clusters = tmp / "clusters.yaml"
        names = ["local", "notes", *CLUSTERS]
        body = "".join(f"  {n}:\n    bootstrap_servers: '127.0.0.1:1'\n" for n in names)
        clusters.write_text(f"default: local\nclusters:\n{body}", encoding="utf-8")
        settings = Settings(bootstrap_servers="127.0.0.1:1", data_dir=tmp, clusters_file=clusters, toolsets="all")
        t = time.perf_counter()
        embedder = Embedder(settings.embedding_model, backend=settings.embedding_backend)
        embedder.encode(["warm up"])
        print(
            f"model load: {time.perf_counter() - t:.1f} s ({embedder.path.name} from {embedder.path.parent.name}, "
            f"{embedder.active_backend} backend)"
        )

        records = [synthetic(i) for i in range(args.records)]

        app = build_app_context(settings)
        store = MemoryStore.from_settings(settings, embedder=embedder)
        app.lazy.get("memory", lambda: store)
        async with Client(build_server(settings, shared=app)) as client:
            print(f"\n1. memory_store throughput, {args.records} short records in batches of {args.batch}")
            # The peer: the model alone, on the same texts, measured between the store calls so both see the same
            # machine (it is shared: its load moves both figures).
            store_s, model_s, model_n = 0.0, 0.0, 0
            for first in range(0, args.records, args.batch):
                part = records[first : first + args.batch]
                batch = [{"text": x, "metadata": m} for x, m in part]
                t = time.perf_counter()
                data = structured(await client.call_tool("memory_store", {"records": batch}))
                store_s += time.perf_counter() - t
                assert all(o["action"] == "created" for o in data["stored"])
                if (first // args.batch) % args.peer_every == 0:
                    t = time.perf_counter()
                    embedder.encode([x for x, _ in part])
                    model_s += time.perf_counter() - t
                    model_n += len(part)
            store_rate, model_rate = args.records / store_s, model_n / model_s
            print(f"    memory_store {store_rate:7.0f} records/s ({store_s:.1f} s)")
            print(
                f"    peer: the model alone encodes {model_rate:.0f} of the same texts/s (interleaved with the "
                f"store calls, {model_n} texts)"
            )
            print(f"    ratio {store_rate / model_rate:.2f} (target >= 0.90)")

            meta_of = {"namespace": "notes"}
            batch = [
                {"text": n["text"], "metadata": {"key": f"kafka-streaming-agent/notes/{n['key']}", **meta_of}}
                for n in notes
            ]
            structured(await client.call_tool("memory_store", {"records": batch}))

            total = args.records + len(notes)
            if store.search_cache is not None:
                store.search_cache.wait()
                print(f"\n   in-process search copy (kept in step with the writes): {store.search_cache.rows()} rows")
            kinds = {k: sum(q["kind"].startswith(k) for n in notes for q in n["queries"]) for k in KINDS}
            print(f"\n2. Recall on {len(queries)} labelled queries over {len(notes)} Kafka operations notes {kinds}")
            await recall_table(client, notes, "notes", "the notes alone (cluster filter)")
            await recall_table(client, notes, None, f"among {args.records} other records (no filter)")

            print(f"\n3. vector_search latency at {total} records, limit 5, {args.rounds} queries each")
            await latency(client, store, queries * 4, args.rounds)

            if args.big > total:
                extra = args.big - total
                pool_n = min(args.pool, extra)
                t = time.perf_counter()
                pool_texts = [synthetic(args.records + i)[0] for i in range(pool_n)]
                pool = list(zip(pool_texts, embedder.encode(pool_texts), strict=True))
                print(f"\n4. {extra} more records: {pool_n} texts encoded in {time.perf_counter() - t:.0f} s")
                secs = insert_extra(store, args.records, extra, pool)
                total = args.records + len(notes) + extra
                print(f"    inserted straight into Chroma in {secs:.0f} s; {total} records in all")
                if store.search_cache is not None:
                    # The direct inserts bypassed the store: its copies are read again from Chroma, as when a server
                    # starts on an existing folder; the new records' terms are analysed from Chroma's text then.
                    t = time.perf_counter()
                    store.search_cache.reload(store.cluster_collections(None))
                    store.search_cache.wait(1800)
                    print(
                        f"    in-process copy and lexical index read from Chroma: {store.search_cache.rows()} rows in "
                        f"{time.perf_counter() - t:.1f} s (once per start, in the background)"
                    )
                await recall_table(client, notes, None, f"among {total - len(notes)} other records (no filter)")
                print(f"    latency at {total} records")
                await latency(client, store, queries * 4, args.rounds)
                chroma_where_peer(store, queries * 4, min(args.rounds, 60))
                print(f"    target: p95 under 30 ms at 100 000; search paths so far: {store.search_paths}")
        app.close()
        print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="records stored through memory_store")
    parser.add_argument("--batch", type=int, default=500, help="records per memory_store call")
    parser.add_argument("--peer-every", type=int, default=1, help="measure the model alone after every n-th call")
    parser.add_argument("--big", type=int, default=100_000, help="total for the large search test (0 to skip)")
    parser.add_argument("--pool", type=int, default=20_000, help="distinct encoded texts among the extra records")
    parser.add_argument("--rounds", type=int, default=100, help="queries per latency scenario")
    anyio.run(main, parser.parse_args())
