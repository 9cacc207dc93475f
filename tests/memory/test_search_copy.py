"""Filtered vector_search on the in-process copy of the collections (memory.vectorcache), checked against an exact
search computed here from what Chroma itself holds: every entry's stored embedding and metadata, filtered in
Python, scored by cosine, best chunk per record. Also: the copy follows updates, deletes and expiry, a copy loaded
from disk answers like one kept in step, and a write that fails half-way leaves no stale copy behind.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import pytest

from memory.search import Filters
from memory.vectorcache import CollectionCache
from tests.helpers import structured
from tests.memory.conftest import FakeClock, mem_cluster

pytestmark = pytest.mark.anyio

ROOT = "kafka-streaming-agent"
TYPES = ["troubleshooting", "performance-tuning", "incident", "runbook"]
LAYERS = ["long_term", "mid_term", "short_term"]
TAGS = ["lag", "isr", "disk", "latency"]
SUBJECTS = [
    "consumer lag on {t} grew to {n} records after a slow deploy",
    "ISR of {t} shrank to one replica while broker {n} was restarting",
    "log volume of broker {n} reached 90 percent because {t} keeps 30 days",
    "produce latency p99 on {t} rose to {n} ms with acks=all",
    "rebalance storm in the group reading {t}, {n} rebalances an hour",
    "schema change on {t} broke the JDBC sink, version {n}",
]
QUERIES = [
    "consumers falling behind",
    "replicas out of sync",
    "disk filling up",
    "slow producer acknowledgements",
    "group keeps rebalancing",
    "sink connector broke after a schema change",
]
SCENARIOS: list[dict[str, Any]] = [
    {},  # no filter: Chroma's index finds the nearest, the copy says which are expired
    {"type": "incident"},
    {"type": "runbook", "layer": "long_term"},
    {"project": "p3"},
    {"tags": ["disk"]},
    {"tags": ["lag", "isr"]},
    {"category": "troubleshooting", "project": "p1"},
    {"namespace": "ops"},
    {"project": "nobody"},
]


def records(cluster: str, count: int, seed: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(count):
        text = rnd.choice(SUBJECTS).format(t=f"topic-{rnd.randint(1, 40)}", n=rnd.randint(2, 9000)) + f" ({i})"
        out.append(
            {
                "text": text,
                "metadata": {
                    "key": f"{ROOT}/{cluster}/{rnd.choice(TYPES)}/r{i}",
                    "layer": rnd.choice(LAYERS),
                    "project": f"p{rnd.randint(0, 4)}",
                    "tags": rnd.sample(TAGS, rnd.randint(0, 2)),
                    "namespace": rnd.choice(["ops", "kafka-streaming-agent"]),
                },
            }
        )
    return out


def exact_search(store: Any, query: str, clusters: list[str], flt: dict[str, Any], limit: int) -> list[str]:
    """The top keys by reading every entry from Chroma (no copy, no index): the reference answer."""
    vector = np.asarray(store.embedder.encode([query])[0], dtype=np.float32)
    now = store.clock()
    best: dict[str, float] = {}
    for cluster in clusters:
        got = store.client.get_collection(f"kam.{cluster}").get(include=["embeddings", "metadatas"])
        for emb, meta in zip(got["embeddings"], got["metadatas"], strict=True):
            expires = float(meta.get("expires_at") or 0.0)
            if 0.0 < expires <= now:
                continue
            if any(meta.get(f) != v for f, v in flt.items() if f != "tags"):
                continue
            if not all(meta.get(f"tag:{t}") for t in flt.get("tags", [])):
                continue
            score = float(np.asarray(emb, dtype=np.float32) @ vector)
            best[meta["key"]] = max(score, best.get(meta["key"], -2.0))
    return [k for k, _ in sorted(best.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]]


async def search_keys(client: Any, query: str, **args: Any) -> list[str]:
    """Keys found by meaning alone (what these tests compare with an exact vector search)."""
    data = structured(await client.call_tool("vector_search", {"query": query, "mode": "vector", **args}))
    return [h["record"]["key"] for h in data["hits"]]


async def store_records(client: Any, recs: list[dict[str, Any]]) -> None:
    data = structured(await client.call_tool("memory_store", {"records": recs}))
    assert {o["action"] for o in data["stored"]} == {"created"}


async def test_filtered_search_on_the_copy_equals_an_exact_search(memory_client: Any, memory_app: Any) -> None:
    a, b = mem_cluster("ca"), mem_cluster("cb")
    await store_records(memory_client, records(a, 90, seed=1))
    await store_records(memory_client, records(b, 60, seed=2))
    store = memory_app.lazy.peek("memory")
    assert store.search_cache is not None and store.search_cache.wait(60)
    assert store.search_cache.rows() == 150
    before = store.search_paths["copy"]
    checked = 0
    for query in QUERIES:
        for flt in SCENARIOS:
            for cluster in (a, None):
                clusters = [a] if cluster else [a, b]
                want = exact_search(store, query, clusters, flt, limit=5)
                args = {**flt, **({"cluster": cluster} if cluster else {})}
                got = await search_keys(memory_client, query, limit=5, **args)
                assert got == want, (query, args)
                checked += bool(want)
    assert checked >= len(QUERIES) * (len(SCENARIOS) - 1) * 2 - 4  # nearly every scenario has results
    assert store.search_paths["copy"] > before
    assert store.search_paths["chroma_where"] == 0 and store.search_paths["prefiltered"] == 0


async def test_the_copy_follows_updates_deletes_and_expiry(
    memory_client: Any, memory_app: Any, clock: FakeClock
) -> None:
    c = mem_cluster("c")
    store = memory_app.lazy.peek("memory")
    k1, k2 = f"{ROOT}/{c}/incident/disk", f"{ROOT}/{c}/runbook/disk"
    text1 = "Broker 3 ran out of disk space on its log volume."
    await store_records(memory_client, [{"text": text1, "metadata": {"key": k1, "project": "alpha", "tags": ["disk"]}}])
    assert store.search_cache.wait(30)
    query = "storage is full on a broker"
    assert await search_keys(memory_client, query, cluster=c, project="alpha") == [k1]

    # Metadata-only update: the project and tags move, the vector stays.
    data = structured(
        await memory_client.call_tool(
            "memory_store", {"text": text1, "metadata": {"key": k1, "project": "beta", "tags": ["ops"]}}
        )
    )
    assert data["stored"][0]["action"] == "updated"
    assert await search_keys(memory_client, query, cluster=c, project="alpha") == []
    assert await search_keys(memory_client, query, cluster=c, project="beta", tags=["ops"]) == [k1]
    assert await search_keys(memory_client, query, cluster=c, tags=["disk"]) == []

    # New text under the same key: the new vector is searched.
    await memory_client.call_tool(
        "memory_store",
        {"text": "Schema registry rejected an incompatible Avro change.", "metadata": {"key": k1, "project": "beta"}},
    )
    hits = structured(
        await memory_client.call_tool(
            "vector_search",
            {"query": "incompatible schema evolution", "cluster": c, "project": "beta", "mode": "vector"},
        )
    )["hits"]
    assert [h["record"]["key"] for h in hits] == [k1] and "Avro" in hits[0]["record"]["text"]

    # A long record, chunked: found by a filter through any chunk, returned whole.
    long_text = " ".join(f"Step {i}: check the consumer group offsets of partition {i}." for i in range(120))
    await memory_client.call_tool(
        "memory_store", {"text": long_text, "metadata": {"key": k2, "project": "beta", "layer": "short_term"}}
    )
    hits = structured(
        await memory_client.call_tool(
            "vector_search",
            {"query": "check consumer group offsets", "cluster": c, "type": "runbook", "mode": "vector"},
        )
    )["hits"]
    assert [h["record"]["key"] for h in hits] == [k2]
    assert hits[0]["record"]["text"] == long_text and hits[0]["record"]["chunks"] > 1

    # Expiry: a short-term record is gone from filtered searches once its day has passed.
    # (No purge on a timer here: the searches alone must keep it out.)
    store._purge_interval_s = float("inf")
    clock.advance(25 * 3600)
    assert await search_keys(memory_client, "check consumer group offsets", cluster=c, type="runbook") == []
    assert k2 not in await search_keys(memory_client, "check consumer group offsets", cluster=c)
    # The unfiltered search met it (its expiry read from the copy) and purged it from Chroma.
    assert store.client.get_collection(f"kam.{c}").get(where={"key": k2})["ids"] == []

    # Delete: gone from the copy too.
    store.delete([k1])
    assert await search_keys(memory_client, "incompatible schema evolution", cluster=c, project="beta") == []


async def test_a_copy_loaded_from_disk_answers_like_the_one_kept_in_step(
    memory_client: Any, memory_app: Any, memory_settings: Any, embedder: Any, clock: FakeClock
) -> None:
    from memory.store import MemoryStore

    c = mem_cluster("c")
    await store_records(memory_client, records(c, 80, seed=3))
    structured(
        await memory_client.call_tool(
            "memory_store",
            {"text": "ISR of topic-7 shrank to one replica again (0)", "metadata": {"key": f"{ROOT}/{c}/incident/r0"}},
        )
    )
    store = memory_app.lazy.peek("memory")
    assert store.search_cache.wait(30)
    flt = Filters(type="incident", layer="long_term")
    before = [
        [(h.record.key, h.score) for h in store.search(q, cluster=c, filters=flt, mode="vector").hits] for q in QUERIES
    ]
    rows = store.search_cache.rows()
    store.close()

    again = MemoryStore.from_settings(memory_settings, embedder=embedder, clock=clock)
    try:
        assert again.search_cache is not None and again.search_cache.wait(30)
        assert again.search_cache.rows() == rows == again.client.get_collection(f"kam.{c}").count()
        after = [
            [(h.record.key, h.score) for h in again.search(q, cluster=c, filters=flt, mode="vector").hits]
            for q in QUERIES
        ]
        assert after == before and any(before)
        assert again.search_paths["copy"] == len(QUERIES)
    finally:
        again.close()


async def test_a_write_that_fails_half_way_leaves_no_stale_copy(
    memory_client: Any, memory_app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = mem_cluster("c")
    store = memory_app.lazy.peek("memory")
    await store_records(memory_client, records(c, 20, seed=4))
    assert store.search_cache.wait(30)
    calls = {"n": 0}
    real_put = CollectionCache.put

    def failing_put(self: CollectionCache, *args: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 1:  # the update after the write; the reload that follows works
            raise MemoryError("simulated failure while updating the copy")
        real_put(self, *args)

    monkeypatch.setattr(CollectionCache, "put", failing_put)
    key = f"{ROOT}/{c}/incident/fresh"
    result = await memory_client.call_tool(
        "memory_store", {"text": "Controller failover took 40 seconds.", "metadata": {"key": key, "project": "zeta"}}
    )
    assert result.is_error
    # Chroma has the record (its write came first); the copy was dropped and read again, so it has it too.
    assert store.client.get_collection(f"kam.{c}").get(ids=[f"{key}#0"])["ids"] == [f"{key}#0"]
    assert store.search_cache.wait(30) and calls["n"] >= 2
    assert await search_keys(memory_client, "controller failover", cluster=c, project="zeta") == [key]


async def test_collections_over_the_size_bound_are_searched_in_chroma(
    memory_settings: Any, embedder: Any, clock: FakeClock
) -> None:
    from memory.models import MemoryInput, MemoryMetadata
    from memory.store import MemoryStore

    settings = memory_settings.model_copy(update={"memory_search_cache_rows": 10})
    store = MemoryStore.from_settings(settings, embedder=embedder, clock=clock)
    try:
        c, small = mem_cluster("big"), mem_cluster("small")
        items = [MemoryInput(text=r["text"], metadata=MemoryMetadata(**r["metadata"])) for r in records(c, 30, 5)]
        store.store(items)
        store.store(
            [MemoryInput(text="Broker 2 disk is full.", metadata=MemoryMetadata(key=f"{ROOT}/{small}/incident"))]
        )
        assert store.search_cache is not None and store.search_cache.wait(30)
        assert store.search_cache.rows() == 1  # only the small collection is copied
        for flt in ({"type": "incident"}, {"project": "p2"}):
            got = [h.record.key for h in store.search("disk filling up", filters=Filters(**flt), mode="vector").hits]
            assert got == exact_search(store, "disk filling up", [c, small], flt, limit=5)
        assert store.search_paths["copy"] == 2  # the small one
        assert store.search_paths["prefiltered"] == 2  # the big one, through Chroma
    finally:
        store.close()
