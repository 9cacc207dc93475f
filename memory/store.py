"""``MemoryStore``: records on Chroma, embedded with a sentence-transformers model, found by key, glob or meaning.

Layout: one Chroma collection per cluster named in the keys (``kam.<cluster>``), cosine space, one entry per chunk
of a record's text (see ``memory.records``); and one small ``kam-index`` collection mapping (namespace, text hash) to
the key holding that text, so identical text in a namespace is found without a scan. A cluster filter picks one
collection; the other filters are applied as ``memory.search`` explains. Searches are hybrid by default: meaning
(the vectors) and the query's exact terms (BM25 over the in-process copy, ``memory.lexical``), fused by
``memory.search.rank``. Writes are in ``memory.writes``.

Every method blocks (Chroma, the model): the MCP tools call them through ``app.run``.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from core.errors import InvalidArgument, KafkaAgentError, NotFound
from memory import records as R
from memory.embeddings import Embedder
from memory.keys import KeyPattern, check_slug, is_pattern, parse_key
from memory.lexical import FILE_NAME, LexicalFile, query_terms
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
    StoreResult,
)
from memory.search import (
    FUSION_DEPTH_FACTOR,
    FUSION_MIN_DEPTH,
    SEARCH_MODES,
    Candidate,
    Filters,
    Hit,
    SearchMode,
    candidates,
    checked_filters,
    copy_candidates,
    fetch_chunks,
    ids_reader,
    nearest,
    rank,
    split_copied,
)
from memory.vectorcache import CopyUpdate, SearchCache
from memory.writes import write_prepared

log = logging.getLogger("kafka_agent.memory")

INDEX_COLLECTION = "kam-index"
PURGE_INTERVAL_S = 300.0


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
        search_cache_rows: int = 0,
    ) -> None:
        self.client = client
        self.embedder = embedder
        self.allow_custom_types = allow_custom_types
        self.clock = clock
        self.location = location
        self._path_lock = lock
        self._write_lock = threading.RLock()
        self._collections: dict[str, Any] = {}
        # Queries to several cluster collections run side by side (Chroma releases the GIL while it searches).
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="memory-search")
        self._purge_interval_s = purge_interval_s
        self._last_purge = float("-inf")
        # How searches were answered: searches without / with filters, collections read again because the first
        # read could not settle the top results (a deeper plain read, then Chroma's where filter, then an exact scan
        # when that came back short), and filtered searches answered by the in-process copies.
        paths = ("unfiltered", "prefiltered", "deeper", "chroma_where", "exact_scan", "copy", "lexical")
        self.search_paths = dict.fromkeys(paths, 0)
        # Filtered searches use in-process copies of the collections (memory.vectorcache), kept only where this
        # process is the only writer: an embedded Chroma, which ``lock`` guards.
        self.search_cache: SearchCache | None = None
        if lock is not None and search_cache_rows > 0:
            terms_file = open_terms_file(Path(location)) if location else None
            self.search_cache = SearchCache(self._write_lock, max_rows=search_cache_rows, terms_file=terms_file)
            self.search_cache.load_later(self.cluster_collections(None))

    @classmethod
    def from_settings(
        cls,
        settings: Any,
        *,
        embedder: Embedder | None = None,
        clock: Callable[[], float] = time.time,
        search_copy: bool = True,
    ) -> MemoryStore:
        """Embedded Chroma at ``resolved_chroma_path()``, or the Chroma server at ``chroma_url`` when set.
        ``search_copy=False`` keeps no in-process copy (a one-shot command would only wait for it to load)."""
        from memory.chroma import open_embedded, open_http

        model = embedder or Embedder(settings.embedding_model, backend=settings.embedding_backend)
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
            search_cache_rows=settings.memory_search_cache_rows if search_copy else 0,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        if self.search_cache is not None:
            self.search_cache.close()
            if self.search_cache.file is not None:
                self.search_cache.file.close()
        closer = getattr(self.client, "close", None)
        try:
            if callable(closer):
                closer()
        finally:
            if self._path_lock is not None:
                self._path_lock.release()
                self._path_lock = None

    # --- collections ----------------------------------------------------------------------------------------------

    def collection(self, name: str, *, create: bool) -> Any | None:
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

    def index_collection(self) -> Any:
        col = self.collection(INDEX_COLLECTION, create=True)
        assert col is not None
        return col

    def clusters(self) -> list[str]:
        """The clusters that have records (one collection each)."""
        names = [getattr(c, "name", c) for c in self.client.list_collections()]
        return sorted(c for n in names if (c := R.cluster_of_collection(str(n))) is not None)

    def cluster_collections(self, cluster: str | None) -> list[tuple[str, Any]]:
        if cluster is not None:
            check_slug(cluster, "Cluster")
            col = self.collection(R.collection_name(cluster), create=False)
            return [(cluster, col)] if col is not None else []
        out = []
        for name in self.clusters():
            col = self.collection(R.collection_name(name), create=False)
            if col is not None:
                out.append((name, col))
        return out

    @contextlib.contextmanager
    def copy_writing(self, cluster: str, col: Any) -> Iterator[CopyUpdate]:
        """Around a write to a cluster's collection: keeps its in-process search copy and the terms file in step
        (see SearchCache)."""
        if self.search_cache is None:
            yield CopyUpdate(None, cluster)
        else:
            with self.search_cache.writing(cluster, col) as update:
                yield update

    def max_batch(self) -> int:
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
            return write_prepared(self, prepared)

    def chunk0_by_key(self, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Chunk-0 metadata of the keys that exist (expired ones included)."""
        by_cluster: dict[str, list[str]] = {}
        for key in keys:
            by_cluster.setdefault(key.split("/")[1], []).append(key)
        out: dict[str, dict[str, Any]] = {}
        for cluster, ks in by_cluster.items():
            col = self.collection(R.collection_name(cluster), create=False)
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
        col = self.collection(R.collection_name(parsed.cluster), create=False)
        meta = self.chunk0_by_key([str(parsed)]).get(str(parsed)) if col is not None else None
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
        for _, col in self.cluster_collections(cluster):
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
        flt = checked_filters(filters or Filters())
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
        query_vector: list[float] | None = None,
        mode: SearchMode = "hybrid",
    ) -> SearchResult:
        """The records that best answer ``query``, best first, each once with its best chunk's cosine score.

        ``mode``: ``hybrid`` fuses the nearest records in meaning with the best BM25 matches of the query's terms
        (cosine plus normalised BM25, ``memory.search.rank``); ``vector`` and ``lexical`` use one side alone. The
        lexical side needs the in-process copy (an embedded store): a collection without a ready copy is searched by
        meaning only, and the result's ``note`` says so. ``query_vector`` is the query's embedding when the caller
        already has it (it is encoded otherwise)."""
        query = R.check_text(query, "The query")
        _check_limit(limit, MAX_SEARCH_LIMIT)
        if mode not in SEARCH_MODES:
            raise InvalidArgument(f"Unknown search mode {mode!r}.", hint=f"Use one of: {', '.join(SEARCH_MODES)}.")
        if min_score is not None and not -1.0 <= min_score <= 1.0:
            raise InvalidArgument(f"min_score {min_score} is outside -1..1.", hint="Use e.g. 0.3.")
        flt = checked_filters(filters or Filters())
        self._maybe_purge()
        collections = self.cluster_collections(cluster)
        searched = len(collections)
        if not collections:
            return SearchResult(query=query, hits=[], searched_collections=0, mode=mode)
        copied, plain = split_copied(self.search_cache, collections) if self.search_cache else ([], collections)
        note = None
        if mode != "vector" and plain:
            why = (
                "a Chroma server keeps no in-process index"
                if self.search_cache is None
                else "their in-process index is loading or over memory_search_cache_rows"
            )
            if mode == "lexical" and not copied:
                raise InvalidArgument(
                    f"Lexical search is not available here: {why}.",
                    hint="Use mode 'vector' (or 'hybrid', which then searches by meaning), or retry once the index "
                    "has loaded.",
                )
            names = ", ".join(sorted(name for name, _ in plain)[:5])
            note = f"searched by meaning only in {len(plain)} of {searched} cluster(s) ({names}): {why}"
        if mode == "lexical":
            plain = []
        vector = query_vector if query_vector is not None else self.embedder.encode([query])[0]
        now = self.clock()
        floor = min_score if min_score is not None else -2.0
        depth = limit if mode == "vector" else max(limit * FUSION_DEPTH_FACTOR, FUSION_MIN_DEPTH)

        def chroma_nearest(cols: list[tuple[str, Any]], want: int, reader: Any = None) -> dict[str, Hit]:
            found, expired = nearest(
                [col for _, col in cols],
                vector,
                limit=want,
                flt=flt,
                floor=floor,
                now=now,
                paths=self.search_paths,
                map_fn=self._pool.map,
                reader=reader,
            )
            self._drop_expired(expired)
            return found

        # The meaning side: (cosine, chunk id, collection) per record; hits read whole from Chroma where there is
        # no copy (their metadata and text come with them).
        read: dict[str, Hit] = {}
        vec: list[Candidate] = []
        if mode != "lexical":
            if self.search_cache is not None and copied:
                if flt.empty:  # Chroma's index finds the nearest; the copy says which are expired
                    near = chroma_nearest(copied, depth, ids_reader(self.search_cache))
                    vec = [(score, meta["id"], col) for score, col, meta, _ in near.values()]
                else:  # the copy filters and scores
                    vec, rest = copy_candidates(
                        self.search_cache, copied, vector, flt=flt, floor=floor, now=now, limit=depth
                    )
                    self.search_paths["copy"] += len(rest) < len(copied)
                    plain += rest  # a copy dropped since (a failed write): Chroma answers for it
            if plain:
                read = chroma_nearest(plain, limit)
                vec += [
                    (score, str(meta.get("id") or R.chunk_id(key, int(meta.get("chunk", 0)))), col)
                    for key, (score, col, meta, _) in read.items()
                ]
        # The lexical side: BM25 over the copies, normalised by what a chunk holding every query term would score.
        lex: list[Candidate] = []
        terms = query_terms(query) if mode != "vector" else []
        if terms and copied and self.search_cache is not None:
            for name, col in copied:
                for score, cid, _ in self.search_cache.lexical(name, terms, flt=flt, now=now, limit=depth) or []:
                    lex.append((score, cid, col))
            self.search_paths["lexical"] += 1
        # Each candidate record with both scores: the side that did not rank it is asked for its chunk's score.
        pool = candidates(vec, lex)
        if self.search_cache is not None:
            cache = self.search_cache
            need_cos: dict[str, list[str]] = {}
            need_lex: dict[str, list[str]] = {}
            for cand in pool.values():
                name = R.cluster_of_collection(str(cand.col.name)) or ""
                if cand.cosine is None:
                    need_cos.setdefault(name, []).append(cand.chunk)
                if cand.lexical is None and terms:
                    need_lex.setdefault(name, []).append(cand.chunk)
            cos_of = {cid: v for name, ids in need_cos.items() for cid, v in cache.scores(name, ids, vector).items()}
            lex_of = {cid: v for name, ids in need_lex.items() for cid, v in cache.lexical_of(name, ids, terms).items()}
            for cand in pool.values():
                if cand.cosine is None:
                    cand.cosine = cos_of.get(cand.chunk)
                if cand.lexical is None:
                    cand.lexical = lex_of.get(cand.chunk)
        ranked = rank(list(pool.values()), mode=mode, floor=floor)[:limit]
        hits_of = fetch_chunks([(c.chunk, c.col) for c in ranked if c.key not in read])
        hits = []
        for cand in ranked:
            got = read.get(cand.key)
            if got is not None:
                _, col, meta, doc = got
            elif cand.chunk in hits_of:
                col = cand.col
                meta, doc = hits_of[cand.chunk]
            else:
                continue  # deleted since the copy was read
            docs = {cand.key: doc} if int(meta.get("chunks", 1)) == 1 else {}
            record = self._full_records(col, [meta], docs)[0]
            hits.append(
                SearchHit(
                    score=round(cand.cosine or 0.0, 4),
                    record=record,
                    found_by=cand.found_by,
                    lexical_score=None if not cand.lexical else round(cand.lexical, 4),
                )
            )
        return SearchResult(query=query, hits=hits, searched_collections=searched, mode=mode, note=note)

    # --- delete and expiry ----------------------------------------------------------------------------------------

    def matching_keys(self, key_or_pattern: str) -> list[str]:
        """Keys a delete of ``key_or_pattern`` would remove (expired ones included)."""
        text = key_or_pattern.strip()
        if not is_pattern(text):
            parsed = parse_key(text, allow_custom=True)
            return [str(parsed)] if str(parsed) in self.chunk0_by_key([str(parsed)]) else []
        pattern = KeyPattern.parse(text)
        keys = []
        for _, col in self.cluster_collections(None):
            got = col.get(where={"chunk": 0}, include=["metadatas"])
            keys += [str(m["key"]) for m in got["metadatas"] or [] if m and pattern.matches(str(m["key"]))]
        return sorted(keys)

    def delete(self, keys: list[str]) -> DeleteResult:
        """Remove records (every chunk, and their dedup index entries)."""
        with self._write_lock:
            return DeleteResult(deleted=self._delete_locked(keys))

    def _delete_locked(self, keys: list[str]) -> list[str]:
        metas = self.chunk0_by_key(keys)
        by_cluster: dict[str, list[str]] = {}
        for key in keys:
            by_cluster.setdefault(key.split("/")[1], []).append(key)
        for cluster, ks in by_cluster.items():
            col = self.collection(R.collection_name(cluster), create=False)
            if col is not None:
                with self.copy_writing(cluster, col) as update:
                    col.delete(where={"key": {"$in": ks}} if len(ks) > 1 else {"key": ks[0]})
                    update.drop_keys(ks)
        idx = [R.index_id(str(m["namespace"]), str(m["text_hash"])) for m in metas.values()]
        if idx:
            index = self.index_collection()
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
            for _, col in self.cluster_collections(None):
                got = col.get(where=cond, include=["metadatas"])
                keys += sorted({str(m["key"]) for m in got["metadatas"] or [] if m})
            if keys:
                self._delete_locked(keys)
            self._last_purge = now
        return keys

    def _maybe_purge(self) -> None:
        if self.clock() - self._last_purge >= self._purge_interval_s:
            self.purge_expired()


def open_terms_file(folder: Path) -> LexicalFile | None:
    """The lexical terms file of an embedded store; a damaged one is set aside and started again (it is rebuilt from
    Chroma as the copies load)."""
    try:
        return LexicalFile(folder)
    except sqlite3.DatabaseError:
        broken = folder / FILE_NAME
        log.warning("the lexical terms file %s is damaged: starting a new one", broken)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{broken}{suffix}").unlink(missing_ok=True)
        try:
            return LexicalFile(folder)
        except (sqlite3.Error, OSError):
            log.warning("cannot open the lexical terms file %s: terms are kept in memory only", broken, exc_info=True)
            return None
    except (sqlite3.Error, OSError):
        log.warning("cannot open the lexical terms file in %s: terms are kept in memory only", folder, exc_info=True)
        return None


def _check_limit(limit: int, maximum: int) -> None:
    if not 1 <= limit <= maximum:
        raise InvalidArgument(f"limit {limit} is outside 1..{maximum}.", hint=f"Ask for between 1 and {maximum}.")


def _prepare_numbered(
    i: int, item: MemoryInput, cluster: str | None, default_cluster: str | None, allow_custom: bool, total: int
) -> R.Prepared:
    try:
        return R.prepare(item, cluster=cluster, default_cluster=default_cluster, allow_custom=allow_custom)
    except InvalidArgument as exc:
        if total == 1:
            raise
        raise InvalidArgument(f"Record {i + 1} of {total}: {exc.message}", hint=exc.hint) from None
