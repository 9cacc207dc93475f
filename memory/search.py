"""Nearest-neighbour search over the cluster collections, with metadata filters that avoid Chroma's ``where``.

A ``where`` filter makes Chroma scan metadata (about 75 ms at 100 000 entries, against 3 ms for a plain query).
So each collection is first read without a filter, for its nearest chunks, and the filters are applied here. An
unread entry of a collection scores at most the lowest score read from it; only when that could still rank among the
best ``limit`` records is the collection read again, deeper, and at last by Chroma's exact filtered query. The
result is the same as a filtered query, at the cost of a plain one whenever the filters are not very selective.

Also here: how the candidates of the two sides of a hybrid search are merged and ranked (``candidates``, ``rank``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from memory import records as R
from memory.keys import check_slug

if TYPE_CHECKING:
    from memory.vectorcache import SearchCache

PREFILTER_MIN = 100  # chunks read before filtering here
PREFILTER_MAX = 1000
SCAN_PAGE = 5000
INCLUDE = ["metadatas", "documents", "distances"]
FILTER_FIELDS = ("type", "layer", "category", "project", "namespace")  # metadata fields a search can filter on

SearchMode = Literal["hybrid", "vector", "lexical"]
SEARCH_MODES: tuple[SearchMode, ...] = ("hybrid", "vector", "lexical")
# Hybrid search fuses the best max(limit * FUSION_DEPTH_FACTOR, FUSION_MIN_DEPTH) records of each side.
FUSION_DEPTH_FACTOR = 4
FUSION_MIN_DEPTH = 50
# Hybrid ranking: "linear" (cosine + LEXICAL_WEIGHT x normalised BM25, see fused_score) or "rrf" (reciprocal rank
# fusion with RRF_K). bench/memory.py measures both.
FUSION: Literal["linear", "rrf"] = "linear"
# Equal weight for the two sides. Measured on bench/memory.py's 208 labelled queries among 100 000 records, the notes
# split in two halves: R@1 / R@5 0.875 / 0.933 at 0.5, 0.894 / 0.952 at 1.0 (better on both halves), 0.880 / 0.966 at
# 1.25 and lower R@1 beyond; over the notes alone 1.0 is as good as 0.5 on R@1 and better on R@5.
LEXICAL_WEIGHT = 1.0
RRF_K = 60

Row = tuple[float, dict[str, Any], str]  # score, chunk metadata, chunk text
Hit = tuple[float, Any, dict[str, Any], str]  # best score of a record, its collection, chunk metadata, chunk text
Candidate = tuple[float, str, Any]  # best score of a record, the chunk id, its collection (metadata not read yet)


@dataclass
class Filters:
    """Conditions on a record's metadata (the cluster is handled by choosing collections)."""

    type: str | None = None
    layer: str | None = None
    category: str | None = None
    project: str | None = None
    namespace: str | None = None
    tags: list[str] = field(default_factory=list)

    def fields(self) -> dict[str, str]:
        """The conditions on single fields (all but the tags)."""
        return {name: value for name in FILTER_FIELDS if (value := getattr(self, name)) is not None}

    def conditions(self) -> list[dict[str, Any]]:
        conds: list[dict[str, Any]] = [{name: value} for name, value in self.fields().items()]
        conds += [{R.TAG_PREFIX + tag: True} for tag in self.tags]
        return conds

    def accepts(self, meta: dict[str, Any]) -> bool:
        return all(meta.get(k) == v for cond in self.conditions() for k, v in cond.items())

    @property
    def empty(self) -> bool:
        return not self.conditions()


def checked_filters(flt: Filters) -> Filters:
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


def nearest(
    collections: list[Any],
    vector: list[float],
    *,
    limit: int,
    flt: Filters,
    floor: float,
    now: float,
    paths: dict[str, int],
    map_fn: Callable[[Callable[[Any], list[Row]], Iterable[Any]], Iterator[list[Row]]] = map,
    reader: Callable[[Any, list[float], int], list[Row]] | None = None,
) -> tuple[dict[str, Hit], list[tuple[Any, str]]]:
    """The best chunk of each record passing ``flt`` with a score of at least ``floor`` (enough of them to settle
    the top ``limit``), and the expired records met on the way. ``paths`` counts how the search was answered;
    ``map_fn`` (e.g. a thread pool's ``map``) runs the queries of one round, one per collection; ``reader(col,
    vector, n)`` reads a collection's ``n`` nearest chunks (by default with their metadata and documents)."""
    read_rows = reader or read_nearest
    best: dict[str, Hit] = {}
    expired: list[tuple[Any, str]] = []

    def take(col: Any, rows: list[Row]) -> None:
        for score, meta, doc in rows:
            key = str(meta["key"])
            if R.is_expired(meta, now):
                expired.append((col, key))
            elif score >= floor and flt.accepts(meta) and (key not in best or score > best[key][0]):
                best[key] = (score, col, meta, doc)

    # Reads of growing depth; each round re-reads only the collections whose unread entries could still make the
    # top. The first read shares about PREFILTER_MIN rows among the collections (each row costs Chroma a metadata
    # fetch); the last resort for filters is Chroma's where-filtered query.
    if flt.empty:
        depths = [limit * 3, limit * 12]
    else:
        depths = [max(limit * 4, PREFILTER_MIN // max(1, len(collections))), max(PREFILTER_MIN, limit * 20)]
    pending = list(collections)
    for round_no, want in enumerate(sorted({min(PREFILTER_MAX, d) for d in depths})):
        if round_no:
            paths["deeper"] += len(pending)
        partial: list[tuple[Any, float]] = []  # collections with unread entries, and the lowest score read

        def read(col: Any, n: int = want) -> list[Row]:
            return read_rows(col, vector, n)

        for col, rows in zip(pending, map_fn(read, pending), strict=True):
            take(col, rows)
            if len(rows) >= want:
                partial.append((col, rows[-1][0]))
            elif len(rows) < col.count():
                # HNSW is approximate: it may return fewer rows than asked although more are stored, so a short read
                # does not prove the collection was read to the end. Nothing bounds what it missed: read it again.
                partial.append((col, float("inf")))
        top_scores = sorted((h[0] for h in best.values()), reverse=True)
        threshold = top_scores[limit - 1] if len(top_scores) >= limit else floor
        pending = [col for col, lowest in partial if lowest > threshold]  # an unread entry could still make the top
        if not pending:
            break
    if pending and not flt.empty:
        where = R.where_all(flt.conditions())
        paths["chroma_where"] += len(pending)

        def read_where(col: Any) -> list[Row]:
            want = limit * 3
            rows = rows_of(col.query(query_embeddings=[vector], n_results=want, where=where, include=INCLUDE))
            if len(rows) < want and len(col.get(where=where, include=[], limit=want)["ids"]) > len(rows):
                # Chroma's filtered index search can come back short (even empty) when few entries pass the
                # filter: score every entry that passes instead.
                paths["exact_scan"] += 1
                rows = scan_where(col, vector, where, want)
            return rows

        for col, rows in zip(pending, map_fn(read_where, pending), strict=True):
            take(col, rows)
    paths["unfiltered" if flt.empty else "prefiltered"] += 1
    return best, expired


def scan_where(col: Any, vector: list[float], where: dict[str, Any] | None, n: int) -> list[Row]:
    """The ``n`` best of the entries passing ``where``, scored here from their stored embeddings (page by page)."""
    import numpy as np

    query = np.asarray(vector, dtype=np.float32)
    best: list[Row] = []
    offset = 0
    while True:
        got = col.get(where=where, limit=SCAN_PAGE, offset=offset, include=["embeddings", "metadatas", "documents"])
        if not len(got["ids"]):
            return best
        scores = np.asarray(got["embeddings"], dtype=np.float32) @ query
        page = [
            (float(score), dict(meta), str(doc))
            for score, meta, doc in zip(scores, got["metadatas"], got["documents"], strict=True)
            if meta
        ]
        best = sorted(best + page, key=lambda r: -r[0])[:n]
        offset += SCAN_PAGE


def read_nearest(col: Any, vector: list[float], n: int) -> list[Row]:
    return rows_of(col.query(query_embeddings=[vector], n_results=n, include=INCLUDE))


def rows_of(res: dict[str, Any]) -> list[Row]:
    metas = (res.get("metadatas") or [[]])[0] or []
    docs = (res.get("documents") or [[]])[0] or []
    dists = (res.get("distances") or [[]])[0] or []
    return [(1.0 - float(d), dict(m), str(doc)) for m, doc, d in zip(metas, docs, dists, strict=True) if m]


# --- with the in-process copies (memory.vectorcache) -----------------------------------------------------------------


def split_copied(cache: SearchCache, collections: list[tuple[str, Any]]) -> tuple[list[Any], list[Any]]:
    """(cluster, collection) pairs with a ready copy, and the others."""
    ready = cache.ready_names()
    return [c for c in collections if c[0] in ready], [c for c in collections if c[0] not in ready]


def copy_candidates(
    cache: SearchCache,
    collections: list[tuple[str, Any]],
    vector: Any,
    *,
    flt: Filters,
    floor: float,
    now: float,
    limit: int,
) -> tuple[list[Candidate], list[tuple[str, Any]]]:
    """The best records passing ``flt`` in the collections with a ready copy (exact: every entry that passes is
    scored), and the collections without one."""
    conditions = flt.fields()
    found: list[Candidate] = []
    rest = []
    for cluster, col in collections:
        hits = cache.nearest(cluster, vector, conditions=conditions, tags=flt.tags, now=now, floor=floor, limit=limit)
        if hits is None:
            rest.append((cluster, col))
        else:
            found += [(score, cid, col) for score, cid, _ in hits]
    return found, rest


def ids_reader(cache: SearchCache) -> Callable[[Any, list[float], int], list[Row]]:
    """A ``nearest`` reader that asks Chroma's index for ids and distances only (reading metadata costs about
    1 ms a collection) and takes each chunk's key from its id and its expiry from the copy."""

    def read(col: Any, vector: list[float], n: int) -> list[Row]:
        res = col.query(query_embeddings=[vector], n_results=n, include=["distances"])
        ids = [str(i) for i in (res.get("ids") or [[]])[0]]
        dists = (res.get("distances") or [[]])[0] or []
        cluster = R.cluster_of_collection(str(col.name)) or ""
        expiry = cache.expiry(cluster, ids) or [0.0] * len(ids)
        return [
            (1.0 - float(d), {"key": cid.rsplit("#", 1)[0], "id": cid, "expires_at": e}, "")
            for cid, d, e in zip(ids, dists, expiry, strict=True)
        ]

    return read


def fetch_chunks(chunks: list[tuple[str, Any]]) -> dict[str, tuple[dict[str, Any], str]]:
    """Metadata and text of chunks (id, collection) from Chroma, by chunk id (a chunk deleted since the copy was
    read is left out)."""
    by_col: dict[int, tuple[Any, list[str]]] = {}
    for cid, col in chunks:
        by_col.setdefault(id(col), (col, []))[1].append(cid)
    out: dict[str, tuple[dict[str, Any], str]] = {}
    for col, ids in by_col.values():
        got = col.get(ids=ids, include=["metadatas", "documents"])
        for cid, meta, doc in zip(got["ids"], got["metadatas"] or [], got["documents"] or [], strict=True):
            if meta:
                out[str(cid)] = (dict(meta), str(doc))
    return out


@dataclass
class Scored:
    """A candidate record of a search: its chosen chunk, and its scores on each side (None: not known)."""

    key: str
    chunk: str
    col: Any
    cosine: float | None = None
    lexical: float | None = None
    found_by: list[Literal["vector", "lexical"]] = field(default_factory=list)


def candidates(vector: list[Candidate], lexical: list[Candidate]) -> dict[str, Scored]:
    """The records either side found (each side's list holds one chunk per record); a record keeps the vector side's
    chunk when both found it."""
    out: dict[str, Scored] = {}
    for score, cid, col in vector:
        key = R.key_of_chunk(cid)
        if key not in out or (out[key].cosine or -2.0) < score:
            out[key] = Scored(key, cid, col, cosine=score, found_by=["vector"])
    for score, cid, col in lexical:
        key = R.key_of_chunk(cid)
        got = out.get(key)
        if got is None:
            out[key] = Scored(key, cid, col, lexical=score, found_by=["lexical"])
        elif got.lexical is None or got.lexical < score:
            got.lexical = score if got.chunk == cid else max(score, got.lexical or 0.0)
            if "lexical" not in got.found_by:
                got.found_by.append("lexical")
    return out


def fused_score(cosine: float, lexical: float) -> float:
    """Hybrid relevance: the cosine plus LEXICAL_WEIGHT times the normalised BM25 (cut at 1). The cosine of a small
    model is a calibrated similarity (unrelated texts near 0, a paraphrase 0.4-0.7); normalised BM25 says which
    share of the query's term weight a record holds, so a record that names the query's rare identifiers gains up
    to LEXICAL_WEIGHT, and a match on a common word alone gains little."""
    return cosine + LEXICAL_WEIGHT * min(1.0, max(0.0, lexical))


def rank(found: list[Scored], *, mode: SearchMode, floor: float) -> list[Scored]:
    """Candidates best first for the mode (dropping those whose cosine is under ``floor``). Ties go to the
    higher cosine, then the key."""
    kept = [c for c in found if (c.cosine if c.cosine is not None else -2.0) >= floor]
    if mode == "vector":
        kept = [c for c in kept if c.cosine is not None]
        return sorted(kept, key=lambda c: (-(c.cosine or 0.0), c.key))
    if mode == "lexical":
        kept = [c for c in kept if c.lexical]
        return sorted(kept, key=lambda c: (-(c.lexical or 0.0), -(c.cosine or 0.0), c.key))
    if FUSION == "rrf":
        return _rrf(kept)
    return sorted(kept, key=lambda c: (-fused_score(c.cosine or 0.0, c.lexical or 0.0), -(c.cosine or 0.0), c.key))


def _rrf(found: list[Scored]) -> list[Scored]:
    """Reciprocal rank fusion (Cormack et al. 2009), kept for comparison in bench/memory.py: each record scores the
    sum of ``1 / (RRF_K + rank)`` over the two rankings it is in."""
    fused = dict.fromkeys((c.key for c in found), 0.0)
    by_cos = sorted((c for c in found if c.cosine is not None), key=lambda c: -(c.cosine or 0.0))
    by_lex = sorted((c for c in found if c.lexical), key=lambda c: -(c.lexical or 0.0))
    for ranking in (by_cos, by_lex):
        for pos, cand in enumerate(ranking, start=1):
            fused[cand.key] += 1.0 / (RRF_K + pos)
    return sorted(found, key=lambda c: (-fused[c.key], -(c.cosine or 0.0), c.key))
