"""``MemoryStore``: records on Chroma, embedded with a sentence-transformers model, found by key, glob or meaning.

Layout: one Chroma collection per cluster named in the keys (``kam.<cluster>``), cosine space, one entry per chunk
of a record's text; and one small ``kam-index`` collection mapping (namespace, text hash) to the key holding that
text, so identical text in a namespace is found without a scan. A ``where`` filter costs Chroma a metadata scan
(about 75 ms at 100 000 entries, against 3 ms for a plain nearest-neighbour query), so a search first asks for the
nearest few hundred chunks without a filter and applies the filters itself; only when too few of them pass does it
fall back to Chroma's exact filtered query.

Every method blocks (Chroma, the model): the MCP tools call them through ``app.run``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from mcp_server.errors import InvalidArgument, KafkaAgentError, NotFound
from memory import records as R
from memory.embeddings import Embedder
from memory.keys import KeyPattern, check_slug, is_pattern, parse_key
from memory.models import (
    MAX_BATCH,
    MAX_LIST_LIMIT,
    MAX_SEARCH_LIMIT,
    DeleteResult,
    MemoryInput,
    MemoryRecord,
    RecordList,
    SearchHit,
    SearchResult,
    StoreOutcome,
    StoreResult,
)

log = logging.getLogger("kafka_agent.memory")

INDEX_COLLECTION = "kam-index"
PURGE_INTERVAL_S = 300.0
PREFILTER_MIN = 100  # chunks asked for before filtering in Python
PREFILTER_MAX = 1000
_INCLUDE = ["metadatas", "documents", "distances"]


@dataclass
class Filters:
    """Conditions on a record's metadata (the cluster is handled by choosing collections)."""

    type: str | None = None
    layer: str | None = None
    category: str | None = None
    project: str | None = None
    namespace: str | None = None
    tags: list[str] = field(default_factory=list)

    def conditions(self) -> list[dict[str, Any]]:
        conds: list[dict[str, Any]] = [
            {name: value}
            for name in ("type", "layer", "category", "project", "namespace")
            if (value := getattr(self, name)) is not None
        ]
        conds += [{R.TAG_PREFIX + tag: True} for tag in self.tags]
        return conds

    def accepts(self, meta: dict[str, Any]) -> bool:
        return all(meta.get(k) == v for cond in self.conditions() for k, v in cond.items())

    @property
    def empty(self) -> bool:
        return not self.conditions()


class MemoryStore:
    """One per server (built lazily by the memory tools); thread-safe; ``close()`` releases Chroma and the lock."""

    def __init__(
        self,
        client: Any,
        embedder: Embedder,
        *,
        allow_custom_types: bool = True,
        clock: Callable[[], float] = time.time,
        lock: Any = None,
        location: str = "",
        purge_interval_s: float = PURGE_INTERVAL_S,
    ) -> None:
        self.client = client
        self.embedder = embedder
        self.allow_custom_types = allow_custom_types
        self.clock = clock
        self.location = location
        self._path_lock = lock
        self._write_lock = threading.RLock()
        self._collections: dict[str, Any] = {}
        self._purge_interval_s = purge_interval_s
        self._last_purge = float("-inf")
        # How searches were answered: searches without / with filters, and collections read again because the
        # first read could not settle the top results (by Chroma's where filter, or a deeper plain query).
        self.search_paths = {"unfiltered": 0, "prefiltered": 0, "chroma_where": 0, "requery": 0}

    @classmethod
    def from_settings(
        cls, settings: Any, *, embedder: Embedder | None = None, clock: Callable[[], float] = time.time
    ) -> MemoryStore:
        """Embedded Chroma at ``resolved_chroma_path()``, or the Chroma server at ``chroma_url`` when set."""
        from memory.chroma import open_embedded, open_http

        model = embedder or Embedder(settings.embedding_model)
        if settings.chroma_url:
            return cls(
                open_http(settings.chroma_url),
                model,
                allow_custom_types=settings.memory_allow_custom_types,
                clock=clock,
                location=settings.chroma_url,
            )
        path = settings.resolved_chroma_path()
        client, lock = open_embedded(path)
        return cls(
            client,
            model,
            allow_custom_types=settings.memory_allow_custom_types,
            clock=clock,
            lock=lock,
            location=str(path),
        )

    def close(self) -> None:
        closer = getattr(self.client, "close", None)
        try:
            if callable(closer):
                closer()
        finally:
            if self._path_lock is not None:
                self._path_lock.release()
                self._path_lock = None

    # --- collections ----------------------------------------------------------------------------------------------

    def _collection(self, name: str, *, create: bool) -> Any | None:
        col = self._collections.get(name)
        if col is not None:
            return col
        if create:
            col = self.client.get_or_create_collection(name, metadata={"hnsw:space": "cosine"}, embedding_function=None)
        else:
            try:
                col = self.client.get_collection(name, embedding_function=None)
            except Exception:  # chromadb raises NotFoundError/ValueError depending on version
                return None
        self._collections[name] = col
        return col

    def _index(self) -> Any:
        col = self._collection(INDEX_COLLECTION, create=True)
        assert col is not None
        return col

    def clusters(self) -> list[str]:
        """The clusters that have records (one collection each)."""
        names = [getattr(c, "name", c) for c in self.client.list_collections()]
        return sorted(c for n in names if (c := R.cluster_of_collection(str(n))) is not None)

    def _cluster_collections(self, cluster: str | None) -> list[tuple[str, Any]]:
        if cluster is not None:
            check_slug(cluster, "Cluster")
            col = self._collection(R.collection_name(cluster), create=False)
            return [(cluster, col)] if col is not None else []
        out = []
        for name in self.clusters():
            col = self._collection(R.collection_name(name), create=False)
            if col is not None:
                out.append((name, col))
        return out

    @staticmethod
    def _batches(n: int, size: int) -> Iterable[slice]:
        for start in range(0, n, size):
            yield slice(start, min(start + size, n))

    def _max_batch(self) -> int:
        try:
            return max(1, int(self.client.get_max_batch_size()))
        except Exception:
            return 1000

    # --- store ----------------------------------------------------------------------------------------------------

    def store(
        self, items: list[MemoryInput], *, cluster: str | None = None, default_cluster: str | None = None
    ) -> StoreResult:
        """Store records (all validated first: a bad one stores nothing). Same key updates; same text in the same
        namespace under another key is reported as a duplicate and not stored again."""
        if not items:
            raise InvalidArgument("Nothing to store.", hint="Give text and metadata, or a non-empty records list.")
        if len(items) > MAX_BATCH:
            raise InvalidArgument(f"{len(items)} records in one call; at most {MAX_BATCH}.", hint="Split the batch.")
        prepared = [
            _prepare_numbered(i, item, cluster, default_cluster, self.allow_custom_types, len(items))
            for i, item in enumerate(items)
        ]
        seen: set[str] = set()
        for p in prepared:
            if p.key_str in seen:
                raise InvalidArgument(f"Key {p.key_str!r} appears twice in this call.", hint="Give each record once.")
            seen.add(p.key_str)
        with self._write_lock:
            self._maybe_purge()
            return self._store_locked(prepared)

    def _store_locked(self, prepared: list[R.Prepared]) -> StoreResult:
        now = self.clock()
        existing = self._chunk0_by_key([p.key_str for p in prepared])
        index = self._index()
        idx_ids = sorted({R.index_id(p.namespace, p.text_hash) for p in prepared})
        found = index.get(ids=idx_ids, include=["metadatas"])
        holders = {i: str(m["key"]) for i, m in zip(found["ids"], found["metadatas"] or [], strict=False) if m}
        holder_meta = self._chunk0_by_key([k for k in holders.values() if k not in existing])

        outcomes: list[StoreOutcome] = []
        to_embed: list[R.Prepared] = []
        meta_only: list[R.Prepared] = []
        claimed: dict[str, str] = {}  # index id -> key, within this call
        for p in prepared:
            iid = R.index_id(p.namespace, p.text_hash)
            old = existing.get(p.key_str)
            holder = claimed.get(iid) or holders.get(iid)
            if holder and holder != p.key_str:
                hmeta = existing.get(holder) or holder_meta.get(holder)
                live = holder in claimed.values() or (
                    hmeta is not None
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

        chunks_of = self._write_embedded(to_embed, existing, now)
        chunks_of.update(self._write_metadata_only(meta_only, existing, now))
        self._write_index(to_embed + meta_only, existing)
        for out in outcomes:
            if out.key in chunks_of:
                n, expires = chunks_of[out.key]
                out.chunks, out.expires_at = n, R.iso(expires)
        return StoreResult(stored=outcomes)

    def _write_embedded(
        self, items: list[R.Prepared], existing: dict[str, dict[str, Any]], now: float
    ) -> dict[str, tuple[int, float]]:
        if not items:
            return {}
        spans = [self.embedder.chunk(p.text) for p in items]
        texts = [p.text[s.start : s.end] for p, ss in zip(items, spans, strict=True) for s in ss]
        vectors = self.embedder.encode(texts)
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
        size = self._max_batch()
        for cluster, (ids, vecs, docs, metas) in by_cluster.items():
            col = self._collection(R.collection_name(cluster), create=True)
            assert col is not None
            for part in self._batches(len(ids), size):
                col.upsert(ids=ids[part], embeddings=vecs[part], documents=docs[part], metadatas=metas[part])
            if stale.get(cluster):
                col.delete(ids=stale[cluster])
        return result

    def _write_metadata_only(
        self, items: list[R.Prepared], existing: dict[str, dict[str, Any]], now: float
    ) -> dict[str, tuple[int, float]]:
        """Same text, new metadata: rewrite the metadata of every chunk, keep the embeddings."""
        result: dict[str, tuple[int, float]] = {}
        for p in items:
            old = existing[p.key_str]
            col = self._collection(R.collection_name(p.key.cluster), create=True)
            assert col is not None
            n = int(old.get("chunks", 1))
            got = col.get(ids=[R.chunk_id(p.key_str, i) for i in range(n)], include=["metadatas"])
            base = p.base_metadata(created=float(old["created_at"]), updated=now, now=now)
            metas = [{**base, "chunk": m["chunk"], "chunks": m["chunks"], "keep": m["keep"]} for m in got["metadatas"]]
            col.update(ids=got["ids"], metadatas=metas)
            result[p.key_str] = (n, float(base["expires_at"]))
        return result

    def _write_index(self, items: list[R.Prepared], existing: dict[str, dict[str, Any]]) -> None:
        if not items:
            return
        index = self._index()
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
        size = self._max_batch()
        for part in self._batches(len(ids), size):
            index.upsert(
                ids=ids[part],
                embeddings=[[1.0]] * len(ids[part]),
                metadatas=[{"key": p.key_str} for p in items[part]],
            )

    def _chunk0_by_key(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Chunk-0 metadata of the keys that exist (expired ones included)."""
        by_cluster: dict[str, list[str]] = {}
        for key in keys:
            by_cluster.setdefault(key.split("/")[1], []).append(key)
        out: dict[str, dict[str, Any]] = {}
        for cluster, ks in by_cluster.items():
            col = self._collection(R.collection_name(cluster), create=False)
            if col is None:
                continue
            got = col.get(ids=[R.chunk_id(k, 0) for k in ks], include=["metadatas"])
            for meta in got["metadatas"] or []:
                if meta:
                    out[str(meta["key"])] = dict(meta)
        return out

    # --- read -----------------------------------------------------------------------------------------------------

    def _full_records(self, col: Any, metas: list[dict[str, Any]], docs: dict[str, str]) -> list[MemoryRecord]:
        """Records from chunk metadata; ``docs`` holds the text of single-chunk records already at hand."""
        need = [m for m in metas if int(m.get("chunks", 1)) > 1 or str(m["key"]) not in docs]
        texts = dict(docs)
        if need:
            ids = [R.chunk_id(str(m["key"]), n) for m in need for n in range(int(m.get("chunks", 1)))]
            got = col.get(ids=ids, include=["metadatas", "documents"])
            parts: dict[str, tuple[list[str], list[dict[str, Any]]]] = {}
            for meta, doc in zip(got["metadatas"] or [], got["documents"] or [], strict=True):
                d, m = parts.setdefault(str(meta["key"]), ([], []))
                d.append(doc)
                m.append(meta)
            for key, (d, m) in parts.items():
                texts[key] = R.rebuild_text(d, m)
        return [R.record_from(m, texts.get(str(m["key"]), "")) for m in metas]

    def get(self, key: str) -> MemoryRecord:
        """The record under an exact key."""
        parsed = parse_key(key.strip(), allow_custom=True)
        col = self._collection(R.collection_name(parsed.cluster), create=False)
        meta = self._chunk0_by_key([str(parsed)]).get(str(parsed)) if col is not None else None
        if meta is None or R.is_expired(meta, self.clock()):
            raise NotFound(
                f"No memory record under key {key!r}.",
                hint="See memory_list, or retrieve a pattern such as 'kafka-streaming-agent/*/<type>'.",
            )
        return self._full_records(col, [meta], {})[0]

    def _scan(self, cluster: str | None, filters: Filters) -> list[tuple[Any, dict[str, Any]]]:
        """(collection, chunk-0 metadata) of every live record of the selected clusters that passes the filters."""
        now = self.clock()
        out: list[tuple[Any, dict[str, Any]]] = []
        expired: list[tuple[Any, str]] = []
        for _, col in self._cluster_collections(cluster):
            got = col.get(where=R.where_all([{"chunk": 0}, *filters.conditions()]), include=["metadatas"])
            for meta in got["metadatas"] or []:
                if R.is_expired(meta, now):
                    expired.append((col, str(meta["key"])))
                else:
                    out.append((col, dict(meta)))
        self._drop_expired(expired)
        return out

    def retrieve(self, key_or_pattern: str, *, limit: int = 50, cluster: str | None = None) -> RecordList:
        """An exact key's record, or every record whose key matches a glob pattern (sorted by key)."""
        _check_limit(limit, MAX_LIST_LIMIT)
        text = key_or_pattern.strip()
        if not is_pattern(text):
            record = self.get(text)
            if cluster is not None and record.cluster != cluster:
                raise NotFound(f"The record {text!r} is about cluster {record.cluster!r}, not {cluster!r}.")
            return RecordList(records=[record], total=1, truncated=False)
        pattern = KeyPattern.parse(text)
        if cluster is None and len(pattern.parts) > 1 and not is_pattern(pattern.parts[1]):
            cluster = pattern.parts[1]
        hits = [(col, m) for col, m in self._scan(cluster, Filters()) if pattern.matches(str(m["key"]))]
        hits.sort(key=lambda cm: str(cm[1]["key"]))
        return self._record_list(hits, limit)

    def list_records(
        self,
        *,
        cluster: str | None = None,
        filters: Filters | None = None,
        limit: int = 50,
    ) -> RecordList:
        """Records, newest update first, optionally narrowed by cluster and metadata."""
        _check_limit(limit, MAX_LIST_LIMIT)
        flt = _checked_filters(filters or Filters())
        hits = self._scan(cluster, flt)
        hits.sort(key=lambda cm: (-float(cm[1]["updated_at"]), str(cm[1]["key"])))
        return self._record_list(hits, limit)

    def _record_list(self, hits: list[tuple[Any, dict[str, Any]]], limit: int) -> RecordList:
        page = hits[:limit]
        by_col: dict[int, tuple[Any, list[dict[str, Any]]]] = {}
        for col, meta in page:
            by_col.setdefault(id(col), (col, []))[1].append(meta)
        records: dict[str, MemoryRecord] = {}
        for col, metas in by_col.values():
            for rec in self._full_records(col, metas, {}):
                records[rec.key] = rec
        ordered = [records[str(m["key"])] for _, m in page]
        return RecordList(records=ordered, total=len(hits), truncated=len(hits) > limit)

    # --- search ---------------------------------------------------------------------------------------------------

    def search(
        self,
        query: str,
        *,
        limit: int = 5,
        cluster: str | None = None,
        filters: Filters | None = None,
        min_score: float | None = None,
    ) -> SearchResult:
        """The records nearest in meaning to ``query``, best first, each once with its best chunk's score."""
        query = R.check_text(query, "The query")
        _check_limit(limit, MAX_SEARCH_LIMIT)
        if min_score is not None and not -1.0 <= min_score <= 1.0:
            raise InvalidArgument(f"min_score {min_score} is outside -1..1.", hint="Use e.g. 0.3.")
        flt = _checked_filters(filters or Filters())
        self._maybe_purge()
        collections = self._cluster_collections(cluster)
        if not collections:
            return SearchResult(query=query, hits=[], searched_collections=0)
        vector = self.embedder.encode([query])[0]
        now = self.clock()
        floor = min_score if min_score is not None else -2.0
        best: dict[str, tuple[float, Any, dict[str, Any], str]] = {}
        expired: list[tuple[Any, str]] = []

        def take(col: Any, rows: list[tuple[float, dict[str, Any], str]]) -> None:
            for score, meta, doc in rows:
                key = str(meta["key"])
                if R.is_expired(meta, now):
                    expired.append((col, key))
                elif score >= floor and flt.accepts(meta) and (key not in best or score > best[key][0]):
                    best[key] = (score, col, meta, doc)

        # First read: the nearest chunks of each collection, without a where filter (cheap), filtered here.
        want = min(PREFILTER_MAX, limit * 3 if flt.empty else max(PREFILTER_MIN, limit * 20))
        partial: list[tuple[Any, float]] = []  # collections with unread entries, and the lowest score read
        for _, col in collections:
            rows = _rows(col.query(query_embeddings=[vector], n_results=want, include=_INCLUDE))
            take(col, rows)
            if len(rows) >= want:
                partial.append((col, rows[-1][0]))
        # An unread entry scores at most the lowest score read from its collection: only when that could still
        # rank in the top ``limit`` is the collection read again, by Chroma's exact where-filtered query.
        top_scores = sorted((h[0] for h in best.values()), reverse=True)
        threshold = top_scores[limit - 1] if len(top_scores) >= limit else floor
        for col, lowest in partial:
            if lowest <= threshold:
                continue
            if flt.empty:  # many chunks of few records: read further
                self.search_paths["requery"] += 1
                rows = _rows(col.query(query_embeddings=[vector], n_results=want * 4, include=_INCLUDE))
            else:
                self.search_paths["chroma_where"] += 1
                where = R.where_all(flt.conditions())
                rows = _rows(col.query(query_embeddings=[vector], n_results=limit * 3, where=where, include=_INCLUDE))
            take(col, rows)
        self.search_paths["unfiltered" if flt.empty else "prefiltered"] += 1
        self._drop_expired(expired)
        top = sorted(best.values(), key=lambda h: -h[0])[:limit]
        hits = []
        for score, col, meta, doc in top:
            docs = {str(meta["key"]): doc} if int(meta.get("chunks", 1)) == 1 else {}
            record = self._full_records(col, [meta], docs)[0]
            hits.append(SearchHit(score=round(score, 4), record=record))
        return SearchResult(query=query, hits=hits, searched_collections=len(collections))

    # --- delete and expiry ----------------------------------------------------------------------------------------

    def matching_keys(self, key_or_pattern: str) -> list[str]:
        """Keys a delete of ``key_or_pattern`` would remove (expired ones included)."""
        text = key_or_pattern.strip()
        if not is_pattern(text):
            parsed = parse_key(text, allow_custom=True)
            return [str(parsed)] if str(parsed) in self._chunk0_by_key([str(parsed)]) else []
        pattern = KeyPattern.parse(text)
        keys = []
        for _, col in self._cluster_collections(None):
            got = col.get(where={"chunk": 0}, include=["metadatas"])
            keys += [str(m["key"]) for m in got["metadatas"] or [] if m and pattern.matches(str(m["key"]))]
        return sorted(keys)

    def delete(self, keys: list[str]) -> DeleteResult:
        """Remove records (every chunk, and their dedup index entries)."""
        with self._write_lock:
            return DeleteResult(deleted=self._delete_locked(keys))

    def _delete_locked(self, keys: list[str]) -> list[str]:
        metas = self._chunk0_by_key(keys)
        by_cluster: dict[str, list[str]] = {}
        for key in keys:
            by_cluster.setdefault(key.split("/")[1], []).append(key)
        for cluster, ks in by_cluster.items():
            col = self._collection(R.collection_name(cluster), create=False)
            if col is not None:
                col.delete(where={"key": {"$in": ks}} if len(ks) > 1 else {"key": ks[0]})
        idx = [R.index_id(str(m["namespace"]), str(m["text_hash"])) for m in metas.values()]
        if idx:
            index = self._index()
            got = index.get(ids=idx, include=["metadatas"])
            drop = [i for i, m in zip(got["ids"], got["metadatas"] or [], strict=False) if m and m["key"] in metas]
            if drop:
                index.delete(ids=drop)
        return sorted(metas)

    def _drop_expired(self, expired: list[tuple[Any, str]]) -> None:
        if not expired:
            return
        try:
            with self._write_lock:
                self._delete_locked(sorted({key for _, key in expired}))
        except KafkaAgentError:
            raise
        except Exception:  # a failed clean-up must not fail the read that found it
            log.warning("could not purge expired memory records", exc_info=True)

    def purge_expired(self) -> list[str]:
        """Delete every record whose layer's lifetime has passed; returns their keys."""
        now = self.clock()
        keys: list[str] = []
        cond = {"$and": [{"expires_at": {"$gt": 0.0}}, {"expires_at": {"$lte": now}}]}
        with self._write_lock:
            for _, col in self._cluster_collections(None):
                got = col.get(where=cond, include=["metadatas"])
                keys += sorted({str(m["key"]) for m in got["metadatas"] or [] if m})
            if keys:
                self._delete_locked(keys)
            self._last_purge = now
        return keys

    def _maybe_purge(self) -> None:
        if self.clock() - self._last_purge >= self._purge_interval_s:
            self.purge_expired()


def _rows(res: dict[str, Any]) -> list[tuple[float, dict[str, Any], str]]:
    metas = (res.get("metadatas") or [[]])[0] or []
    docs = (res.get("documents") or [[]])[0] or []
    dists = (res.get("distances") or [[]])[0] or []
    return [(1.0 - float(d), dict(m), str(doc)) for m, doc, d in zip(metas, docs, dists, strict=True) if m]


def _check_limit(limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise InvalidArgument(f"limit {limit} is outside 1..{maximum}.", hint=f"Ask for between 1 and {maximum}.")


def _checked_filters(flt: Filters) -> Filters:
    if flt.type is not None:
        check_slug(flt.type, "Type")
    if flt.layer is not None:
        R.check_layer(flt.layer)
    if flt.namespace is not None:
        check_slug(flt.namespace, "Namespace")
    return Filters(
        type=flt.type,
        layer=flt.layer,
        category=flt.category,
        project=flt.project,
        namespace=flt.namespace,
        tags=R.check_tags(flt.tags),
    )


def _prepare_numbered(
    i: int, item: MemoryInput, cluster: str | None, default_cluster: str | None, allow_custom: bool, total: int
) -> R.Prepared:
    try:
        return R.prepare(item, cluster=cluster, default_cluster=default_cluster, allow_custom=allow_custom)
    except InvalidArgument as exc:
        if total == 1:
            raise
        raise InvalidArgument(f"Record {i + 1} of {total}: {exc.message}", hint=exc.hint) from None
