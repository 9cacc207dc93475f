"""An in-process copy of each cluster collection's vectors, terms (BM25 postings) and filterable metadata, for
filtered searches and for the lexical side of hybrid search (``memory.lexical``).

Chroma answers a plain nearest-neighbour query in about 3 ms at 100 000 entries, but a query with a ``where`` filter
scans metadata first (about 75 ms), and reading deeper without a filter then filtering here costs a metadata fetch
per row read. With an embedded Chroma this process is the only writer (``memory.chroma.PathLock``), so a copy kept in
step with its own writes is exact: a filtered search becomes a mask over small integer columns and one dot product
over the rows that pass (exact, a few ms at 100 000 entries), and Chroma is read only for the winners' documents.
A Chroma server has other writers: no copy is kept there and searches take ``memory.search.nearest``.

A collection's copy is loaded in the background (under the store's write lock, so no write slips between the read and
the copy); until it is ready, searches of that collection take the Chroma path (by meaning only). Any write that fails
half-way drops the copy, which is then loaded again. The terms of each chunk are also kept on disk
(``memory.lexical.LexicalFile``); a load takes them from there when their fingerprint still matches Chroma's metadata
and analyses the others again from Chroma's text, so the two indexes agree after a restart or a crash.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

from memory import lexical as L
from memory import records as R
from memory.lexical import bm25_weights
from memory.search import FILTER_FIELDS, Filters

log = logging.getLogger("kafka_agent.memory")

LOAD_PAGE = 5000
MISSING = -1  # the code of a field a row does not have

Floats = npt.NDArray[np.float32]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.signedinteger[Any]]


class CollectionCache:
    """The vectors, terms and filter columns of one collection's chunks, one row per chunk (not thread-safe by itself).

    A chunk written again gets a new row (its old one dies), so the postings of a row never change. Dead rows stay
    in the arrays and postings until they are most of the copy, then everything is rebuilt without them."""

    def __init__(self, capacity: int = 1024) -> None:
        capacity = max(capacity, 16)
        self.dim = 0  # known from the first vectors put
        self._n = 0
        self._dead = 0
        self._vectors: Floats = np.zeros((capacity, 0), np.float32)
        self._alive: Bools = np.zeros(capacity, np.bool_)
        self._expires = np.zeros(capacity, np.float64)
        self._lengths: Floats = np.zeros(capacity, np.float32)  # terms in each chunk
        self._live_length = 0.0  # sum of the live chunks' lengths (for BM25's average)
        self._codes = {f: np.full(capacity, MISSING, np.int32) for f in FILTER_FIELDS}
        self._vocab: dict[str, dict[str, int]] = {f: {} for f in FILTER_FIELDS}
        self._tags: dict[str, Bools] = {}
        self._ids: list[str] = []
        self._keys: list[str] = []
        self._row: dict[str, int] = {}
        self._rows_of_key: dict[str, set[int]] = {}
        # Postings: term -> (rows, term frequencies), as arrays; new rows wait in _pending until the next search.
        self._postings: dict[str, tuple[Ints, Floats]] = {}
        self._pending: dict[str, tuple[list[int], list[float]]] = {}
        self._df: dict[str, int] = {}  # live chunks holding a term, as last counted (cleared by any write)

    def __len__(self) -> int:
        return self._n - self._dead

    # --- writes ---------------------------------------------------------------------------------------------------

    def put(self, ids: list[str], vectors: Any, metas: list[dict[str, Any]], terms: list[list[str]]) -> None:
        """Insert or replace chunks, with their analysed terms (``memory.lexical.analyze``)."""
        if not ids:
            return
        vecs = np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1)
        if self.dim == 0:
            self.dim = vecs.shape[1]
            self._vectors = np.zeros((len(self._alive), self.dim), np.float32)
        elif vecs.shape[1] != self.dim:
            raise ValueError(f"vectors of width {vecs.shape[1]} in a collection of width {self.dim}")
        for i, (cid, meta, words) in enumerate(zip(ids, metas, terms, strict=True)):
            old = self._row.get(cid)
            if old is not None:
                self._kill(old)
            row = self._append(cid, str(meta["key"]))
            self._df.clear()
            self._vectors[row] = vecs[i]
            self._set_meta(row, meta)
            self._lengths[row] = len(words)
            self._live_length += len(words)
            for term, count in Counter(words).items():
                rows, tfs = self._pending.setdefault(term, ([], []))
                rows.append(row)
                tfs.append(float(count))

    def set_meta(self, ids: list[str], metas: list[dict[str, Any]]) -> None:
        """New metadata for chunks already here (their vectors and terms stay)."""
        for cid, meta in zip(ids, metas, strict=True):
            row = self._row.get(cid)
            if row is not None:
                self._set_meta(row, meta)

    def drop_ids(self, ids: list[str]) -> None:
        for cid in ids:
            row = self._row.get(cid)
            if row is not None:
                self._kill(row)
        self._maybe_compact()

    def drop_keys(self, keys: list[str]) -> None:
        """Every chunk of these records."""
        for key in keys:
            for row in list(self._rows_of_key.get(key, ())):
                self._kill(row)
        self._maybe_compact()

    def _append(self, cid: str, key: str) -> int:
        if self._n == len(self._alive):
            self._grow(max(1024, 2 * self._n))
        row = self._n
        self._n += 1
        self._ids.append(cid)
        self._keys.append(key)
        self._row[cid] = row
        self._rows_of_key.setdefault(key, set()).add(row)
        self._alive[row] = True
        return row

    def _set_meta(self, row: int, meta: dict[str, Any]) -> None:
        self._expires[row] = float(meta.get("expires_at", 0.0) or 0.0)
        for field in FILTER_FIELDS:
            value = meta.get(field)
            self._codes[field][row] = MISSING if value is None else self._code(field, str(value))
        for tag, column in self._tags.items():
            column[row] = bool(meta.get(R.TAG_PREFIX + tag))
        for name, value in meta.items():
            if name.startswith(R.TAG_PREFIX) and name[len(R.TAG_PREFIX) :] not in self._tags:
                column = np.zeros(len(self._alive), np.bool_)
                column[row] = bool(value)
                self._tags[name[len(R.TAG_PREFIX) :]] = column

    def _code(self, field: str, value: str) -> int:
        vocab = self._vocab[field]
        code = vocab.get(value)
        if code is None:
            code = vocab[value] = len(vocab)
        return code

    def _kill(self, row: int) -> None:
        if not self._alive[row]:
            return
        self._alive[row] = False
        self._dead += 1
        self._df.clear()
        self._live_length -= float(self._lengths[row])
        cid, key = self._ids[row], self._keys[row]
        if self._row.get(cid) == row:
            del self._row[cid]
        rows = self._rows_of_key.get(key)
        if rows is not None:
            rows.discard(row)
            if not rows:
                del self._rows_of_key[key]

    def _grow(self, capacity: int) -> None:
        def grown(array: Any, fill: Any) -> Any:
            out = np.full((capacity, *array.shape[1:]), fill, array.dtype)
            out[: len(array)] = array
            return out

        self._vectors = grown(self._vectors, 0.0)
        self._alive = grown(self._alive, False)
        self._expires = grown(self._expires, 0.0)
        self._lengths = grown(self._lengths, 0.0)
        self._codes = {f: grown(c, MISSING) for f, c in self._codes.items()}
        self._tags = {t: grown(c, False) for t, c in self._tags.items()}

    def settle(self) -> None:
        """Move the postings of rows added since the last search into the arrays."""
        if not self._pending:
            return
        for term, (rows, tfs) in self._pending.items():
            new_rows, new_tfs = np.asarray(rows, np.int32), np.asarray(tfs, np.float32)
            old = self._postings.get(term)
            if old is not None:
                new_rows, new_tfs = np.concatenate((old[0], new_rows)), np.concatenate((old[1], new_tfs))
            self._postings[term] = (new_rows, new_tfs)
        self._pending = {}

    def _maybe_compact(self) -> None:
        """Rebuild without dead rows once they are most of the copy."""
        if self._dead < 1024 or self._dead * 2 < self._n:
            return
        self.settle()
        live = np.flatnonzero(self._alive[: self._n])
        remap = np.full(self._n, -1, np.int32)
        remap[live] = np.arange(len(live), dtype=np.int32)
        ids = [self._ids[r] for r in live]
        keys = [self._keys[r] for r in live]
        self._vectors = self._vectors[live].copy()
        self._alive = np.ones(len(live), np.bool_)
        self._expires = self._expires[live].copy()
        self._lengths = self._lengths[live].copy()
        self._codes = {f: c[live].copy() for f, c in self._codes.items()}
        self._tags = {t: c[live].copy() for t, c in self._tags.items()}
        postings: dict[str, tuple[Ints, Floats]] = {}
        for term, (rows, tfs) in self._postings.items():
            new = remap[rows]
            keep = new >= 0
            if keep.any():
                postings[term] = (new[keep], tfs[keep])
        self._postings = postings
        self._ids, self._keys, self._n, self._dead = ids, keys, len(live), 0
        self._row = {cid: r for r, cid in enumerate(ids)}
        self._rows_of_key = {}
        for r, key in enumerate(keys):
            self._rows_of_key.setdefault(key, set()).add(r)

    # --- search ---------------------------------------------------------------------------------------------------

    def expiry(self, ids: list[str]) -> list[float]:
        rows = [self._row.get(cid) for cid in ids]
        return [0.0 if r is None else float(self._expires[r]) for r in rows]

    def scores(self, ids: list[str], vector: Any) -> dict[str, float]:
        """Cosine of the query with each of these chunks (those still here)."""
        rows = [(cid, r) for cid in ids if (r := self._row.get(cid)) is not None]
        if not rows:
            return {}
        values = self._vectors[[r for _, r in rows]] @ np.asarray(vector, dtype=np.float32)
        return {cid: float(v) for (cid, _), v in zip(rows, values, strict=True)}

    def mask(self, conditions: dict[str, str], tags: list[str], now: float) -> Bools | None:
        """Rows that are alive, not expired and pass the filters (None: no row can pass)."""
        n = self._n
        expires = self._expires[:n]
        mask: Bools = self._alive[:n] & ((expires == 0.0) | (expires > now))
        for field, value in conditions.items():
            code = self._vocab[field].get(value)
            if code is None:
                return None
            mask &= self._codes[field][:n] == code
        for tag in tags:
            column = self._tags.get(tag)
            if column is None:
                return None
            mask &= column[:n]
        return mask

    def _best_per_record(self, rows: Ints, scores: Floats, limit: int) -> list[tuple[float, str, str]]:
        """(score, chunk id, key) of the best row of each of the ``limit`` best records among ``rows``."""
        # Records have few chunks: the best few times ``limit`` rows nearly always hold ``limit`` records.
        depth = min(len(rows), limit * 4)
        while True:
            if depth < len(rows):
                top = np.argpartition(-scores, depth - 1)[:depth]
                order = top[np.argsort(-scores[top], kind="stable")]
            else:
                order = np.argsort(-scores, kind="stable")
            out: list[tuple[float, str, str]] = []
            seen: set[str] = set()
            for i in order:
                key = self._keys[rows[i]]
                if key not in seen:
                    seen.add(key)
                    out.append((float(scores[i]), self._ids[rows[i]], key))
                    if len(out) == limit:
                        return out
            if depth >= len(rows):
                return out
            depth = len(rows)

    def nearest(
        self, vector: Any, *, conditions: dict[str, str], tags: list[str], now: float, floor: float, limit: int
    ) -> list[tuple[float, str, str]]:
        """(score, chunk id, key) of the best chunk of each of the ``limit`` best records passing the filters."""
        mask = self.mask(conditions, tags, now)
        if mask is None:
            return []
        rows = np.flatnonzero(mask)
        if not len(rows):
            return []
        query = np.asarray(vector, dtype=np.float32)
        # A loose filter: one product over every row costs less than copying most of them first.
        loose = len(rows) * 4 > self._n
        scores = (self._vectors[: self._n] @ query)[rows] if loose else self._vectors[rows] @ query
        keep = scores >= floor
        if not keep.all():
            rows, scores = rows[keep], scores[keep]
        return self._best_per_record(rows, scores, limit)

    def _weights(self, terms: list[str]) -> tuple[list[tuple[str, float]], float]:
        """Each query term present here with its idf, and the normaliser: the sum of every query term's idf (a term
        absent from the collection counts as the rarest), which a chunk holding each term once at the average
        length scores. BM25 divided by it is about 1 for a chunk that has every term of the query."""
        live = len(self)
        weighted: list[tuple[str, float]] = []
        total = 0.0
        for term in terms:
            df = self._df.get(term)
            if df is None:
                posting = self._postings.get(term)
                df = self._df[term] = int(self._alive[posting[0]].sum()) if posting is not None else 0
            idf = L.idf(df, live)
            total += idf
            if df:
                weighted.append((term, idf))
        return weighted, total

    def _bm25(self, terms: list[str], rows: Ints | None) -> tuple[Floats, float]:
        """Normalised BM25 of the query for every row (``rows`` None) or for the given sorted rows."""
        self.settle()
        live = len(self)
        size = self._n if rows is None else len(rows)
        scores = np.zeros(size, np.float32)
        if not live or not terms:
            return scores, 1.0
        weighted, norm = self._weights(terms)
        avg = self._live_length / live
        for term, idf in weighted:
            posting_rows, tfs = self._postings[term]
            if rows is None:
                scores[posting_rows] += bm25_weights(tfs, self._lengths[posting_rows], idf, avg)
                continue
            at = np.searchsorted(posting_rows, rows)
            at[at >= len(posting_rows)] = 0
            hit = posting_rows[at] == rows
            if hit.any():
                found = rows[hit]
                scores[hit] += bm25_weights(tfs[at[hit]], self._lengths[found], idf, avg)
        return scores / max(norm, 1e-9), norm

    def lexical(
        self, terms: list[str], *, conditions: dict[str, str], tags: list[str], now: float, limit: int
    ) -> list[tuple[float, str, str]]:
        """(normalised BM25 score, chunk id, key) of the best chunk of each of the ``limit`` best records passing the
        filters that share a term with the query. Document frequencies and lengths count the live chunks of the
        collection (whatever the filters), as a search engine's index would."""
        scores, _ = self._bm25(terms, None)
        mask = self.mask(conditions, tags, now)
        if mask is None:
            return []
        rows = np.flatnonzero((scores > 0.0) & mask)
        if not len(rows):
            return []
        return self._best_per_record(rows, scores[rows], limit)

    def lexical_of(self, ids: list[str], terms: list[str]) -> dict[str, float]:
        """Normalised BM25 of the query for these chunks (those still here)."""
        known = sorted((r, cid) for cid in ids if (r := self._row.get(cid)) is not None)
        if not known:
            return {}
        rows = np.asarray([r for r, _ in known], dtype=np.int64)
        scores, _ = self._bm25(terms, rows)
        return {cid: float(v) for (_, cid), v in zip(known, scores, strict=True)}


class SearchCache:
    """The copies of a store's cluster collections, their background loading, and their upkeep on writes.

    ``write_lock`` is the store's write lock: a load holds it, and the store holds it around each write it reports
    here, so a copy never misses a write nor sees one twice."""

    def __init__(self, write_lock: Any, *, max_rows: int, terms_file: L.LexicalFile | None = None) -> None:
        self._write_lock = write_lock
        self._max_rows = max_rows
        self.file = terms_file
        self._lock = threading.Condition()  # guards the maps below and every CollectionCache
        self._ready: dict[str, CollectionCache] = {}
        self._pending: dict[str, Any] = {}  # collection name -> collection, waiting to be loaded
        self._loading: str | None = None
        self._too_big: set[str] = set()
        self._closed = False
        self._thread: threading.Thread | None = None

    # --- loading --------------------------------------------------------------------------------------------------

    def load_later(self, collections: list[tuple[str, Any]]) -> None:
        """Queue collections (name, collection) for loading in the background thread."""
        with self._lock:
            for name, col in collections:
                if name not in self._ready and name not in self._too_big and name != self._loading:
                    self._pending[name] = col
            if self._pending and self._thread is None and not self._closed:
                self._thread = threading.Thread(target=self._run, name="memory-cache-load", daemon=True)
                self._thread.start()
            self._lock.notify_all()

    def reload(self, collections: list[tuple[str, Any]]) -> None:
        """Forget the copies of these collections and load them again (after writes that did not go through the
        store, or a write that failed half-way)."""
        with self._lock:
            for name, col in collections:
                self._ready.pop(name, None)
                self._too_big.discard(name)
                self._pending[name] = col
        self.load_later([])

    def wait(self, timeout: float = 120.0) -> bool:
        """Block until nothing is waiting to be loaded; True if so within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._pending or self._loading:
                left = deadline - time.monotonic()
                if left <= 0 or self._closed:
                    return False
                self._lock.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._pending and not self._closed:
                    self._lock.wait()
                if self._closed:
                    return
                name, col = self._pending.popitem()
                self._loading = name
            try:
                self._load(name, col)
            except Exception:
                log.warning("could not load the search copy of %s; its searches use Chroma", name, exc_info=True)
            finally:
                with self._lock:
                    self._loading = None
                    self._lock.notify_all()

    def _load(self, name: str, col: Any) -> None:
        started = time.perf_counter()
        with self._write_lock:
            total = int(col.count())
            if total > self._max_rows:
                with self._lock:
                    self._too_big.add(name)
                log.info("%s has %d entries, over memory_search_cache_rows: searched in Chroma only", name, total)
                return
            cache = CollectionCache(capacity=total)
            saved = self.file.read(name) if self.file is not None else {}
            seen: set[str] = set()
            analysed = 0
            for offset in range(0, total, LOAD_PAGE):
                got = col.get(limit=LOAD_PAGE, offset=offset, include=["embeddings", "metadatas"])
                if not len(got["ids"]):
                    continue
                ids = [str(i) for i in got["ids"]]
                metas = [dict(m or {}) for m in got["metadatas"] or []]
                seen.update(ids)
                prints = [L.fingerprint(m) for m in metas]
                terms: list[list[str] | None] = []
                for cid, fp in zip(ids, prints, strict=True):
                    kept = saved.get(cid)
                    terms.append(kept[1].split() if kept is not None and kept[0] == fp else None)
                # Chunks whose terms are missing from the file or stale (a crash between the two writes, a write
                # by a process without a copy, another analyzer version): analysed again from Chroma's text.
                redo = [i for i, t in enumerate(terms) if t is None]
                if redo:
                    docs = col.get(ids=[ids[i] for i in redo], include=["documents"])
                    text = {str(c): str(d or "") for c, d in zip(docs["ids"], docs["documents"] or [], strict=True)}
                    rows = []
                    for i in redo:
                        words = L.analyze(text.get(ids[i], ""))
                        terms[i] = words
                        rows.append((ids[i], str(metas[i].get("key", "")), prints[i], words))
                    if self.file is not None:
                        self.file.write(name, rows)
                    analysed += len(redo)
                cache.put(ids, got["embeddings"], metas, [t or [] for t in terms])
            gone = [cid for cid in saved if cid not in seen]
            if gone and self.file is not None:
                self.file.drop_ids(name, gone)  # deleted from Chroma after the terms were written
            cache.settle()  # build the postings now, not on the first search
            with self._lock:
                if name not in self._pending:  # not asked to load again meanwhile
                    self._ready[name] = cache
        took = time.perf_counter() - started
        log.info(
            "search copy of %s loaded: %d entries in %.1f s (%d analysed again, %d stale terms dropped)",
            name,
            total,
            took,
            analysed,
            len(gone),
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    # --- use ------------------------------------------------------------------------------------------------------

    def nearest(
        self,
        name: str,
        vector: Any,
        *,
        conditions: dict[str, str],
        tags: list[str],
        now: float,
        floor: float,
        limit: int,
    ) -> list[tuple[float, str, str]] | None:
        """The copy's answer for one collection, or None when there is no copy ready (search Chroma instead)."""
        with self._lock:
            cache = self._ready.get(name)
            if cache is None:
                return None
            return cache.nearest(vector, conditions=conditions, tags=tags, now=now, floor=floor, limit=limit)

    def lexical(
        self, name: str, terms: list[str], *, flt: Filters, now: float, limit: int
    ) -> list[tuple[float, str, str]] | None:
        """The best BM25 matches of one collection, or None when there is no copy ready."""
        with self._lock:
            cache = self._ready.get(name)
            if cache is None:
                return None
            return cache.lexical(terms, conditions=flt.fields(), tags=flt.tags, now=now, limit=limit)

    def lexical_of(self, name: str, ids: list[str], terms: list[str]) -> dict[str, float]:
        """Normalised BM25 of the query for these chunks of one collection (none without a copy)."""
        with self._lock:
            cache = self._ready.get(name)
            return {} if cache is None else cache.lexical_of(ids, terms)

    def scores(self, name: str, ids: list[str], vector: Any) -> dict[str, float]:
        """Cosine of the query with these chunks of one collection (none without a copy)."""
        with self._lock:
            cache = self._ready.get(name)
            return {} if cache is None else cache.scores(ids, vector)

    def expiry(self, name: str, ids: list[str]) -> list[float] | None:
        """When each chunk expires (0: never; an id the copy lacks: 0), or None without a ready copy."""
        with self._lock:
            cache = self._ready.get(name)
            return None if cache is None else cache.expiry(ids)

    def ready_names(self) -> set[str]:
        with self._lock:
            return set(self._ready)

    def rows(self) -> int:
        """Entries held in the ready copies."""
        with self._lock:
            return sum(len(c) for c in self._ready.values())

    # --- upkeep (the caller holds the store's write lock) ---------------------------------------------------------

    @contextlib.contextmanager
    def writing(self, name: str, col: Any) -> Iterator[CopyUpdate]:
        """Around a write to a collection. Write to Chroma first, then tell the yielded ``CopyUpdate`` the same
        change (the copy is skipped while there is none; the terms file is written whenever there is one). If
        anything fails, the copy is dropped and loaded again (which also puts the terms file right)."""
        with self._lock:
            known = name in self._ready or name in self._pending or name in self._too_big or name == self._loading
        if not known:
            self.load_later([(name, col)])  # a collection met for the first time: loaded after this write
        try:
            yield CopyUpdate(self, name)
        except BaseException:
            self.reload([(name, col)])
            raise

    def _apply(self, name: str, change: Callable[[CollectionCache], None]) -> None:
        with self._lock:
            cache = self._ready.get(name)
            if cache is None:
                return
            change(cache)
            if len(cache) > self._max_rows:
                del self._ready[name]
                self._too_big.add(name)


class CopyUpdate:
    """One collection's changes, told to its copy and to the terms file after Chroma took them."""

    def __init__(self, cache: SearchCache | None, name: str) -> None:
        self._cache = cache
        self._name = name

    def put(self, ids: list[str], vectors: Any, docs: list[str], metas: list[dict[str, Any]]) -> None:
        if self._cache is None:
            return
        terms = [L.analyze(doc) for doc in docs]
        if self._cache.file is not None:
            rows = [(cid, str(m["key"]), L.fingerprint(m), t) for cid, m, t in zip(ids, metas, terms, strict=True)]
            self._cache.file.write(self._name, rows)
        self._cache._apply(self._name, lambda c: c.put(ids, vectors, metas, terms))

    def set_meta(self, ids: list[str], metas: list[dict[str, Any]]) -> None:
        if self._cache is not None:
            self._cache._apply(self._name, lambda c: c.set_meta(ids, metas))

    def drop_ids(self, ids: list[str]) -> None:
        if self._cache is None:
            return
        if self._cache.file is not None:
            self._cache.file.drop_ids(self._name, ids)
        self._cache._apply(self._name, lambda c: c.drop_ids(ids))

    def drop_keys(self, keys: list[str]) -> None:
        if self._cache is None:
            return
        if self._cache.file is not None:
            self._cache.file.drop_keys(self._name, keys)
        self._cache._apply(self._name, lambda c: c.drop_keys(keys))
