"""The lexical side of search: how text becomes terms, BM25 over them, and the file that keeps the terms on disk.

Operator text is full of exact identifiers (topic and group names, config keys such as ``min.insync.replicas``,
error codes such as ``NOT_ENOUGH_REPLICAS``, class names such as ``CooperativeStickyAssignor``) that a small
sentence-embedding model blurs. ``analyze`` keeps each identifier whole, as one rare term that only its own mentions
share, and also cuts it into its parts (on ``.``, ``_``, ``-``, ``:``, ``/`` and camelCase), so "insync replicas" or
"not enough replicas" still meet it. Plain words are lowercased, lightly stemmed (``replicas``, ``rebalancing`` ->
``replica``, ``rebalanc``) and common English words dropped. A ``key=value`` pair is one term, and its key and
value are terms of their own.

The postings themselves live in the in-process search copy (``memory.vectorcache``), row for row with the vectors,
so one mask applies the same filters, namespaces, layers, deletes and expiry to both. ``LexicalFile`` keeps every
chunk's terms in ``lexical.sqlite3`` beside the Chroma files: a copy loaded at start reads the terms from there and
checks each chunk's fingerprint (text hash, chunk count, length) against Chroma's metadata; a chunk that is missing
or differs is analysed again from the text Chroma holds, and a row Chroma no longer has is dropped, so after a crash
between the two writes the reloaded indexes agree again.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

ANALYZER_VERSION = "1"  # bump when analyze() changes: the terms on disk are then analysed again
FILE_NAME = "lexical.sqlite3"
K1 = 1.2
B = 0.75

# An identifier: runs of letters/digits joined by . _ - : / (e.g. min.insync.replicas, NOT_ENOUGH_REPLICAS,
# orders-enricher, User:alice), optionally key=value.
_WORD = r"[^\W_]+(?:[._\-:/][^\W_]+)*"
_TOKEN = re.compile(rf"{_WORD}(?:={_WORD})?")
_SEPARATORS = re.compile(r"[._\-:/=]+")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_VOWELS = set("aeiouy")

_STOPWORD_TEXT = """
a about above after again against all am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers
him his how i if in into is it its itself just me more most my no nor not of off on once only or other our
ours out over own same she should so some such than that the their theirs them then there these they this
those through to too under until up very was we were what when where which while who whom why will with would
you your yours also get got how's it's let's via per we've we're
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


def stem(word: str) -> str:
    """A light English stemmer (Porter's plural, -ed/-ing and final-e steps) for plain lowercase words."""
    if len(word) <= 3 or not word.isalpha():
        return word
    w = word
    if w.endswith("sses") or w.endswith("ies"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        base = w[: -len(suffix)]
        if w.endswith(suffix) and len(base) >= 3 and any(c in _VOWELS for c in base):
            w = base
            if w.endswith(("at", "bl", "iz")):
                w += "e"
            elif w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    if w.endswith("y") and len(w) > 3 and any(c in _VOWELS for c in w[:-1]):
        w = w[:-1] + "i"
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    return w


def _parts(token: str) -> list[str]:
    """The words of an identifier: split on separators, then on camelCase (ASCII)."""
    out: list[str] = []
    for piece in _SEPARATORS.split(token):
        if not piece:
            continue
        words = _CAMEL.findall(piece) if piece.isascii() else [piece]
        out.extend(words or [piece])
    return out


def _word_terms(words: Iterable[str], out: list[str]) -> None:
    for word in words:
        low = word.lower()
        if low in STOPWORDS or (len(low) == 1 and not low.isdigit()):
            continue
        out.append(stem(low))


def analyze(text: str) -> list[str]:
    """The terms of a text, in order, repeated as often as they occur."""
    out: list[str] = []
    for match in _TOKEN.finditer(text):
        token = match.group()
        sides = token.split("=") if "=" in token else [token]
        if len(sides) > 1:
            out.append(token.lower())
        for side in sides:
            parts = _parts(side)
            if len(parts) > 1:
                out.append(side.lower())  # the identifier whole: rare, so it weighs as it should
            _word_terms(parts, out)
    return out


def query_terms(text: str) -> list[str]:
    """The distinct terms of a query, in order."""
    return list(dict.fromkeys(analyze(text)))


def idf(df: int, docs: int) -> float:
    """BM25's inverse document frequency (Lucene's, never negative); a term no chunk holds gets the rarest value."""
    return math.log(1.0 + (docs - df + 0.5) / (df + 0.5))


def bm25_weights(
    tf: npt.NDArray[np.float32], lengths: npt.NDArray[np.float32], idf: float, avg_len: float
) -> npt.NDArray[np.float32]:
    """BM25 (Okapi) of one term, given its idf, in the chunks that contain it."""
    norm = K1 * (1.0 - B + B * lengths / max(avg_len, 1e-9))
    weights: npt.NDArray[np.float32] = (idf * tf * (K1 + 1.0) / (tf + norm)).astype(np.float32)
    return weights


def fingerprint(meta: dict[str, Any]) -> str:
    """What a chunk's terms depend on, from its Chroma metadata: the record's text, how it was cut, this chunk."""
    return f"{meta.get('text_hash', '')}:{meta.get('chunk', 0)}:{meta.get('chunks', 1)}:{meta.get('keep', '')}"


class LexicalFile:
    """Every chunk's terms, by collection and chunk id, in SQLite (one writer: the process holding the store lock)."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / FILE_NAME
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS info (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS chunks (collection TEXT NOT NULL, id TEXT NOT NULL, key TEXT NOT NULL, "
            "fingerprint TEXT NOT NULL, terms TEXT NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID"
        )
        self._db.execute("CREATE INDEX IF NOT EXISTS chunks_by_key ON chunks (collection, key)")
        row = self._db.execute("SELECT value FROM info WHERE name = 'analyzer'").fetchone()
        if row is None or row[0] != ANALYZER_VERSION:
            with self._transaction():
                self._db.execute("DELETE FROM chunks")  # analysed by another version: analysed again on load
                self._db.execute("INSERT OR REPLACE INTO info VALUES ('analyzer', ?)", (ANALYZER_VERSION,))

    def _transaction(self) -> Any:
        db = self._db

        class _Tx:
            def __enter__(self) -> None:
                db.execute("BEGIN")

            def __exit__(self, kind: Any, *_: Any) -> None:
                db.execute("COMMIT" if kind is None else "ROLLBACK")

        return _Tx()

    def read(self, collection: str) -> dict[str, tuple[str, str]]:
        """chunk id -> (fingerprint, terms joined by spaces)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, fingerprint, terms FROM chunks WHERE collection = ?", (collection,)
            ).fetchall()
        return {cid: (fp, terms) for cid, fp, terms in rows}

    def write(self, collection: str, rows: list[tuple[str, str, str, list[str]]]) -> None:
        """Insert or replace chunks: (chunk id, record key, fingerprint, terms)."""
        if not rows:
            return
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO chunks VALUES (?, ?, ?, ?, ?)",
                [(collection, cid, key, fp, " ".join(terms)) for cid, key, fp, terms in rows],
            )

    def drop_ids(self, collection: str, ids: list[str]) -> None:
        if not ids:
            return
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM chunks WHERE collection = ? AND id = ?", [(collection, i) for i in ids])

    def drop_keys(self, collection: str, keys: list[str]) -> None:
        if not keys:
            return
        with self._lock, self._transaction():
            self._db.executemany("DELETE FROM chunks WHERE collection = ? AND key = ?", [(collection, k) for k in keys])

    def count(self, collection: str) -> int:
        with self._lock:
            row = self._db.execute("SELECT count(*) FROM chunks WHERE collection = ?", (collection,)).fetchone()
        return int(row[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()
