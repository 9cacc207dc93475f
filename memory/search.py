"""Nearest-neighbour search over the cluster collections, with metadata filters that avoid Chroma's ``where``.

A ``where`` filter makes Chroma scan metadata (about 75 ms at 100 000 entries, against 3 ms for a plain query).
So each collection is first read without a filter, for its nearest chunks, and the filters are applied here. An
unread entry of a collection scores at most the lowest score read from it; only when that could still rank among the
best ``limit`` records is the collection read again, deeper, and at last by Chroma's exact filtered query. The
result is the same as a filtered query, at the cost of a plain one whenever the filters are not very selective.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from memory import records as R
from memory.keys import check_slug

PREFILTER_MIN = 100  # chunks read before filtering here
PREFILTER_MAX = 1000
INCLUDE = ["metadatas", "documents", "distances"]

Row = tuple[float, dict[str, Any], str]  # score, chunk metadata, chunk text
Hit = tuple[float, Any, dict[str, Any], str]  # best score of a record, its collection, chunk metadata, chunk text


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
) -> tuple[dict[str, Hit], list[tuple[Any, str]]]:
    """The best chunk of each record passing ``flt`` with a score of at least ``floor`` (enough of them to settle
    the top ``limit``), and the expired records met on the way. ``paths`` counts how the search was answered;
    ``map_fn`` (e.g. a thread pool's ``map``) runs the queries of one round, one per collection."""
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
            return rows_of(col.query(query_embeddings=[vector], n_results=n, include=INCLUDE))

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
            return rows_of(col.query(query_embeddings=[vector], n_results=limit * 3, where=where, include=INCLUDE))

        for col, rows in zip(pending, map_fn(read_where, pending), strict=True):
            take(col, rows)
    paths["unfiltered" if flt.empty else "prefiltered"] += 1
    return best, expired


def rows_of(res: dict[str, Any]) -> list[Row]:
    metas = (res.get("metadatas") or [[]])[0] or []
    docs = (res.get("documents") or [[]])[0] or []
    dists = (res.get("distances") or [[]])[0] or []
    return [(1.0 - float(d), dict(m), str(doc)) for m, doc, d in zip(metas, docs, dists, strict=True) if m]
