"""Hybrid search: the lexical index (BM25 over the same records) fused with the vector search.

An identifier query finds its note first, even against a near-duplicate about another topic; a deleted record and a
record expired by its layer never come back from either index; a store opened again from disk has both indexes in
step, also after a crash between the Chroma write and the terms file (simulated by writing to one and not the other).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from memory.lexical import FILE_NAME, analyze, fingerprint, query_terms
from tests.helpers import assert_tool_error, structured
from tests.memory.conftest import FakeClock, mem_cluster

pytestmark = pytest.mark.anyio

ROOT = "kafka-streaming-agent"

# Twins: the same kind of event, told apart only by the topic, the config key or the error code.
NOTES = {
    "incident/ner-ledger": (
        "Producers to ledger.entries got NOT_ENOUGH_REPLICAS after broker 2 died: the topic had RF 2 with "
        "min.insync.replicas=2, so one lost broker stopped all writes. We moved ledger.entries to RF 3."
    ),
    "incident/ner-inventory": (
        "Producers to inventory.snapshots got NOT_ENOUGH_REPLICAS during patching: the topic had "
        "min.insync.replicas=3 on RF 3, so any broker restart blocked acks=all writes. We lowered it to 2."
    ),
    "incident/isr-payments": (
        "Followers of payments.transactions dropped out of the ISR for 20 minutes because broker 4's disk was slow "
        "after a RAID rebuild; replica.lag.time.max.ms is 30 s."
    ),
    "incident/isr-orders": (
        "Followers of orders.events dropped out of the ISR every evening because MirrorMaker traffic saturated "
        "broker 7's network; a replication quota for MirrorMaker stopped the shrinks."
    ),
    "troubleshooting/rebalance": (
        "Group orders-enricher rebalanced every few minutes: each poll batch took longer than max.poll.interval.ms "
        "because of slow HTTP lookups. Lowering max.poll.records to 100 stopped the loop."
    ),
    "troubleshooting/too-large": (
        "Producers failed with RecordTooLargeException for 3 MB documents; we raised max.message.bytes on the topic "
        "and max.request.size on the producer."
    ),
    "performance-tuning/batching": (
        "Producer throughput to orders went from 40k to 180k msgs/s with linger.ms=10, batch.size=256 KB and "
        "compression.type=zstd, at a cost of 10 ms extra latency."
    ),
}
# Identifier queries and the note each must find first.
IDENTIFIER_QUERIES = {
    "NOT_ENOUGH_REPLICAS ledger.entries": "incident/ner-ledger",
    "NOT_ENOUGH_REPLICAS inventory.snapshots": "incident/ner-inventory",
    "ISR shrink payments.transactions": "incident/isr-payments",
    "ISR shrink orders.events": "incident/isr-orders",
    "orders-enricher max.poll.interval.ms": "troubleshooting/rebalance",
    "RecordTooLargeException": "troubleshooting/too-large",
    "compression.type=zstd": "performance-tuning/batching",
}


def key(cluster: str, rest: str) -> str:
    return f"{ROOT}/{cluster}/{rest}"


async def store_notes(client: Any, cluster: str, **meta: Any) -> None:
    records = [{"text": text, "metadata": {"key": key(cluster, rest), **meta}} for rest, text in NOTES.items()]
    data = structured(await client.call_tool("memory_store", {"records": records}))
    assert {o["action"] for o in data["stored"]} == {"created"}


async def search(client: Any, query: str, **args: Any) -> list[dict[str, Any]]:
    hits: list[dict[str, Any]] = structured(
        await client.call_tool("vector_search", {"query": query, "limit": 10, **args})
    )["hits"]
    return hits


async def keys_of(client: Any, query: str, **args: Any) -> list[str]:
    return [h["record"]["key"] for h in await search(client, query, **args)]


def terms_rows(folder: Path) -> dict[str, tuple[str, str]]:
    """What the terms file holds, read with sqlite3 itself: chunk id -> (fingerprint, terms)."""
    with sqlite3.connect(folder / FILE_NAME) as db:
        return {cid: (fp, terms) for cid, fp, terms in db.execute("SELECT id, fingerprint, terms FROM chunks")}


def chroma_chunks(store: Any, cluster: str) -> dict[str, dict[str, Any]]:
    got = store.client.get_collection(f"kam.{cluster}").get(include=["metadatas"])
    return {str(cid): dict(m) for cid, m in zip(got["ids"], got["metadatas"], strict=True)}


def test_identifiers_are_terms_whole_and_in_parts() -> None:
    terms = analyze("Set min.insync.replicas=2 on orders-v2; NOT_ENOUGH_REPLICAS from the CooperativeStickyAssignor.")
    for whole in ("min.insync.replicas=2", "min.insync.replicas", "orders-v2", "not_enough_replicas"):
        assert whole in terms, (whole, terms)
    for part in ("min", "insync", "replica", "order", "enough", "cooperativ", "sticki", "assignor"):
        assert part in terms, (part, terms)
    assert "the" not in terms and "on" not in terms
    # A query in words meets the identifier through its parts; the identifier itself matches it whole.
    assert {"insync", "replica"} <= set(query_terms("insync replicas")) <= set(terms)
    assert "min.insync.replicas" in query_terms("what is min.insync.replicas on prod?")


async def test_an_identifier_query_finds_its_note_first(memory_client: Any, memory_app: Any) -> None:
    c = mem_cluster("c")
    await store_notes(memory_client, c)
    store = memory_app.lazy.peek("memory")
    assert store.search_cache.wait(60)
    for query, want in IDENTIFIER_QUERIES.items():
        hits = await search(memory_client, query, cluster=c)
        assert hits[0]["record"]["key"] == key(c, want), (query, [h["record"]["key"] for h in hits])
        assert "lexical" in hits[0]["found_by"] and hits[0]["lexical_score"] > 0
        assert -1.0 <= hits[0]["score"] <= 1.0  # still the cosine similarity
        lexical = await keys_of(memory_client, query, cluster=c, mode="lexical")
        assert lexical[0] == key(c, want), (query, lexical)
    # The twin is told apart by the topic alone, in either order of the words.
    assert (await keys_of(memory_client, "ledger.entries NOT_ENOUGH_REPLICAS", cluster=c))[0] == key(
        c, "incident/ner-ledger"
    )
    # A paraphrase with no shared identifier is still found by meaning.
    para = await search(memory_client, "a message was bigger than the broker accepts", cluster=c, limit=3)
    assert para[0]["record"]["key"] == key(c, "troubleshooting/too-large")
    result = structured(
        await memory_client.call_tool("vector_search", {"query": "zstd", "cluster": c, "mode": "vector"})
    )
    assert result["mode"] == "vector" and all(h["found_by"] == ["vector"] for h in result["hits"])
    assert_tool_error(
        await memory_client.call_tool("vector_search", {"query": "lag", "mode": "fuzzy"}), "mode", "hybrid"
    )


async def test_a_deleted_record_never_returns_from_either_index(
    memory_client: Any, memory_app: Any, memory_settings: Any, embedder: Any, clock: FakeClock
) -> None:
    from memory.store import MemoryStore

    c = mem_cluster("c")
    await store_notes(memory_client, c)
    store = memory_app.lazy.peek("memory")
    assert store.search_cache.wait(60)
    gone = key(c, "incident/ner-ledger")
    query = "NOT_ENOUGH_REPLICAS ledger.entries"
    assert (await keys_of(memory_client, query, cluster=c))[0] == gone

    preview = structured(await memory_client.call_tool("memory_delete", {"key": gone}))
    token = preview["consent"]["confirmation_token"]
    done = structured(await memory_client.call_tool("memory_delete", {"key": gone, "confirm_token": token}))
    assert done["result"]["deleted"] == [gone]
    for mode in ("hybrid", "vector", "lexical"):
        for args in ({"cluster": c}, {}, {"cluster": c, "type": "incident"}):
            assert gone not in await keys_of(memory_client, query, mode=mode, **args), (mode, args)
    folder = Path(store.location)
    assert not [cid for cid in terms_rows(folder) if cid.startswith(gone + "#")]

    store.close()
    again = MemoryStore.from_settings(memory_settings, embedder=embedder, clock=clock)
    try:
        assert again.search_cache is not None and again.search_cache.wait(60)
        for mode in ("hybrid", "vector", "lexical"):
            found = [h.record.key for h in again.search(query, cluster=c, mode=mode, limit=10).hits]
            assert gone not in found and found, (mode, found)
    finally:
        again.close()


async def test_a_record_expired_by_its_layer_never_returns(
    memory_client: Any, memory_app: Any, clock: FakeClock
) -> None:
    c = mem_cluster("c")
    store = memory_app.lazy.peek("memory")
    store._purge_interval_s = float("inf")  # no purge on a timer: the searches alone must keep it out
    await store_notes(memory_client, c)
    brief = key(c, "incident/isr-short")
    text = "Followers of clickstream.raw dropped out of the ISR during the nightly compaction of broker 9."
    stored = structured(
        await memory_client.call_tool(
            "memory_store", {"text": text, "metadata": {"key": brief, "layer": "short_term", "tags": ["isr"]}}
        )
    )
    assert stored["stored"][0]["action"] == "created"
    assert store.search_cache.wait(60)
    query = "clickstream.raw ISR shrink"
    assert (await keys_of(memory_client, query, cluster=c))[0] == brief

    clock.advance(25 * 3600)
    for mode in ("hybrid", "vector", "lexical"):
        for args in ({"cluster": c}, {"cluster": c, "layer": "short_term"}, {"tags": ["isr"]}, {}):
            assert brief not in await keys_of(memory_client, query, mode=mode, **args), (mode, args)
    # Purged (by a search that met it, or by the purge): gone from Chroma and from the terms file too.
    store.purge_expired()
    assert not [cid for cid in chroma_chunks(store, c) if cid.startswith(brief + "#")]
    assert not [cid for cid in terms_rows(Path(store.location)) if cid.startswith(brief + "#")]
    assert brief not in await keys_of(memory_client, query, cluster=c, mode="lexical")


async def test_reload_from_disk_keeps_both_indexes_in_step(
    memory_client: Any, memory_app: Any, memory_settings: Any, embedder: Any, clock: FakeClock
) -> None:
    from memory.store import MemoryStore

    c = mem_cluster("c")
    await store_notes(memory_client, c)
    long_text = " ".join(f"Step {i}: check the lag of group audit-loader on partition {i}." for i in range(90))
    long_key = key(c, "runbook/audit-loader")
    await memory_client.call_tool("memory_store", {"text": long_text, "metadata": {"key": long_key}})
    store = memory_app.lazy.peek("memory")
    assert store.search_cache.wait(60)
    queries = [*IDENTIFIER_QUERIES, "audit-loader lag", "broker disk slow", "MirrorMaker quota"]
    before = {q: [(h.record.key, h.score) for h in store.search(q, cluster=c).hits] for q in queries}
    folder = Path(store.location)
    assert set(terms_rows(folder)) == set(chroma_chunks(store, c))
    store.close()

    # A crash between the two writes, each way: Chroma has a chunk whose terms never reached the file, the file has
    # a chunk Chroma lost, and one chunk's terms are stale (written for another text under the same id).
    missing = f"{key(c, 'incident/isr-orders')}#0"
    stale = f"{key(c, 'incident/ner-ledger')}#0"
    with sqlite3.connect(folder / FILE_NAME) as db:
        db.execute("DELETE FROM chunks WHERE id = ?", (missing,))
        db.execute(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?)",
            (c, f"{key(c, 'incident/ghost')}#0", key(c, "incident/ghost"), "x:0:1:1", "ghost zz_only_here"),
        )
        db.execute("UPDATE chunks SET terms = 'stale words', fingerprint = 'old' WHERE id = ?", (stale,))

    again = MemoryStore.from_settings(memory_settings, embedder=embedder, clock=clock)
    try:
        assert again.search_cache is not None and again.search_cache.wait(60)
        chunks = chroma_chunks(again, c)
        rows = terms_rows(folder)
        assert set(rows) == set(chunks)  # the ghost row is gone, the missing one is back
        assert all(rows[cid][0] == fingerprint(meta) for cid, meta in chunks.items())
        assert rows[stale][1] != "stale words" and "ledger.entries" in rows[stale][1].split()
        assert again.search_cache.rows() == len(chunks)
        after = {q: [(h.record.key, h.score) for h in again.search(q, cluster=c).hits] for q in queries}
        assert after == before
        assert again.search("MirrorMaker orders.events", cluster=c, mode="lexical").hits[0].record.key == key(
            c, "incident/isr-orders"
        )
        assert not again.search("zz_only_here ghost", cluster=c, mode="lexical").hits
        # The long record is found through the terms of a later chunk, and returned whole.
        hits = again.search("partition 85 audit-loader", cluster=c, mode="lexical").hits
        assert hits[0].record.key == long_key and hits[0].record.text == long_text
    finally:
        again.close()


@pytest.mark.chroma_only
async def test_without_the_in_process_index_hybrid_says_it_searched_by_meaning(memory_client: Any) -> None:
    c = mem_cluster("c")
    await store_notes(memory_client, c)
    result = structured(
        await memory_client.call_tool("vector_search", {"query": "NOT_ENOUGH_REPLICAS ledger.entries", "cluster": c})
    )
    assert result["hits"] and "by meaning only" in result["note"]
    assert_tool_error(
        await memory_client.call_tool("vector_search", {"query": "lag", "cluster": c, "mode": "lexical"}),
        "not available",
        "vector",
    )
