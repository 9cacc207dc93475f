"""The write path of ``MemoryStore.store``: decide per record (created, updated, unchanged, duplicate), embed what
changed in one batch, and write chunks and dedup index entries to Chroma.

Order matters for a crash between two writes: chunks are written before the index entry naming them, and chunk 0
(which says how many chunks the record has) is rewritten with the others, so a reader never sees a half record.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from memory import records as R
from memory.models import StoreOutcome, StoreResult

if TYPE_CHECKING:
    from memory.store import MemoryStore


def _batches(n: int, size: int) -> Iterable[slice]:
    for start in range(0, n, size):
        yield slice(start, min(start + size, n))


def write_prepared(store: MemoryStore, prepared: list[R.Prepared]) -> StoreResult:
    """Store validated records with distinct keys (the caller holds the store's write lock)."""
    now = store.clock()
    existing = store.chunk0_by_key([p.key_str for p in prepared])
    index = store.index_collection()
    idx_ids = sorted({R.index_id(p.namespace, p.text_hash) for p in prepared})
    found = index.get(ids=idx_ids, include=["metadatas"])
    holders = {i: str(m["key"]) for i, m in zip(found["ids"], found["metadatas"] or [], strict=False) if m}
    holder_meta = store.chunk0_by_key([k for k in holders.values() if k not in existing])

    outcomes: list[StoreOutcome] = []
    to_embed: list[R.Prepared] = []
    meta_only: list[R.Prepared] = []
    claimed: dict[str, str] = {}  # index id -> key, within this call
    in_call = {p.key_str for p in prepared}
    for p in prepared:
        iid = R.index_id(p.namespace, p.text_hash)
        old = existing.get(p.key_str)
        holder = claimed.get(iid) or holders.get(iid)
        if holder and holder != p.key_str:
            hmeta = existing.get(holder) or holder_meta.get(holder)
            live = claimed.get(iid) == holder or (
                holder not in in_call  # a key of this call may be changing its text
                and hmeta is not None
                and hmeta.get("text_hash") == p.text_hash
                and hmeta.get("namespace") == p.namespace
                and not R.is_expired(hmeta, now)
            )
            if live:
                outcomes.append(StoreOutcome(key=p.key_str, action="duplicate", duplicate_of=holder))
                continue
        claimed[iid] = p.key_str
        if old is not None and not R.is_expired(old, now) and p.same_as(old):
            outcomes.append(
                StoreOutcome(
                    key=p.key_str,
                    action="unchanged",
                    chunks=int(old.get("chunks", 1)),
                    expires_at=R.iso(float(old.get("expires_at", 0.0))),
                )
            )
            continue
        if old is not None and old.get("text_hash") == p.text_hash and not R.is_expired(old, now):
            meta_only.append(p)
        else:
            to_embed.append(p)
        outcomes.append(StoreOutcome(key=p.key_str, action="updated" if old is not None else "created"))

    chunks_of = _write_embedded(store, to_embed, existing, now)
    chunks_of.update(_write_metadata_only(store, meta_only, existing, now))
    _write_index(store, to_embed + meta_only, existing)
    for out in outcomes:
        if out.key in chunks_of:
            n, expires = chunks_of[out.key]
            out.chunks, out.expires_at = n, R.iso(expires)
    return StoreResult(stored=outcomes)


def _write_embedded(
    store: MemoryStore, items: list[R.Prepared], existing: dict[str, dict[str, Any]], now: float
) -> dict[str, tuple[int, float]]:
    if not items:
        return {}
    spans = [store.embedder.chunk(p.text) for p in items]
    texts = [p.text[s.start : s.end] for p, ss in zip(items, spans, strict=True) for s in ss]
    vectors = store.embedder.encode(texts)
    by_cluster: dict[str, tuple[list[str], list[list[float]], list[str], list[dict[str, Any]]]] = {}
    result: dict[str, tuple[int, float]] = {}
    stale: dict[str, list[str]] = {}
    pos = 0
    for p, ss in zip(items, spans, strict=True):
        old = existing.get(p.key_str)
        created = float(old["created_at"]) if old is not None and not R.is_expired(old, now) else now
        base = p.base_metadata(created=created, updated=now, now=now)
        ids, vecs, docs, metas = by_cluster.setdefault(p.key.cluster, ([], [], [], []))
        for n, span in enumerate(ss):
            keep = (ss[n + 1].start - span.start) if n + 1 < len(ss) else span.end - span.start
            ids.append(R.chunk_id(p.key_str, n))
            vecs.append(vectors[pos])
            docs.append(texts[pos])
            metas.append({**base, "chunk": n, "chunks": len(ss), "keep": keep})
            pos += 1
        if old is not None and int(old.get("chunks", 1)) > len(ss):
            stale.setdefault(p.key.cluster, []).extend(
                R.chunk_id(p.key_str, n) for n in range(len(ss), int(old["chunks"]))
            )
        result[p.key_str] = (len(ss), float(base["expires_at"]))
    size = store.max_batch()
    for cluster, (ids, vecs, docs, metas) in by_cluster.items():
        col = store.collection(R.collection_name(cluster), create=True)
        assert col is not None
        with store.copy_writing(cluster, col) as update:
            for part in _batches(len(ids), size):
                col.upsert(ids=ids[part], embeddings=vecs[part], documents=docs[part], metadatas=metas[part])
            update.put(ids, vecs, docs, metas)
            if stale.get(cluster):
                col.delete(ids=stale[cluster])
                update.drop_ids(stale[cluster])
    return result


def _write_metadata_only(
    store: MemoryStore, items: list[R.Prepared], existing: dict[str, dict[str, Any]], now: float
) -> dict[str, tuple[int, float]]:
    """Same text, new metadata: rewrite the metadata of every chunk, keep the embeddings."""
    result: dict[str, tuple[int, float]] = {}
    for p in items:
        old = existing[p.key_str]
        col = store.collection(R.collection_name(p.key.cluster), create=True)
        assert col is not None
        n = int(old.get("chunks", 1))
        got = col.get(ids=[R.chunk_id(p.key_str, i) for i in range(n)], include=["metadatas"])
        base = p.base_metadata(created=float(old["created_at"]), updated=now, now=now)
        metas = [{**base, "chunk": m["chunk"], "chunks": m["chunks"], "keep": m["keep"]} for m in got["metadatas"]]
        with store.copy_writing(p.key.cluster, col) as update:
            col.update(ids=got["ids"], metadatas=metas)
            update.set_meta(list(got["ids"]), metas)
        result[p.key_str] = (n, float(base["expires_at"]))
    return result


def _write_index(store: MemoryStore, items: list[R.Prepared], existing: dict[str, dict[str, Any]]) -> None:
    if not items:
        return
    index = store.index_collection()
    old_ids = []
    for p in items:
        old = existing.get(p.key_str)
        if old is not None:
            old_iid = R.index_id(str(old["namespace"]), str(old["text_hash"]))
            if old_iid != R.index_id(p.namespace, p.text_hash):
                old_ids.append(old_iid)
    if old_ids:
        got = index.get(ids=old_ids, include=["metadatas"])
        mine = {p.key_str for p in items}
        drop = [i for i, m in zip(got["ids"], got["metadatas"] or [], strict=False) if m and m["key"] in mine]
        if drop:
            index.delete(ids=drop)
    ids = [R.index_id(p.namespace, p.text_hash) for p in items]
    size = store.max_batch()
    for part in _batches(len(ids), size):
        index.upsert(
            ids=ids[part],
            embeddings=[[1.0]] * len(ids[part]),
            metadatas=[{"key": p.key_str} for p in items[part]],
        )
