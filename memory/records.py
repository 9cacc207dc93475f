"""Validation of what callers send, and the mapping between records and the Chroma entries that hold them.

A record is stored as one Chroma entry per chunk of its text, with ids ``<key>#<n>``. Every chunk carries the
record's metadata, so a search hit on any chunk names its record; chunk 0 is read to fetch a record by key. The
chunks overlap a little (for search); ``keep`` says how many characters of a chunk are its own, so the text is
rebuilt exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from core.errors import InvalidArgument
from memory.keys import Key, check_slug, check_type, parse_key
from memory.models import LAYER_TTL_S, LAYERS, MAX_FIELD_CHARS, MAX_TAGS, MAX_TEXT_CHARS, MemoryInput, MemoryRecord

COLLECTION_PREFIX = "kam."
TAG_PREFIX = "tag:"
_FIELDS = ("category", "project", "agent", "intent")


def collection_name(cluster: str) -> str:
    """One Chroma collection per cluster of the key: a cluster filter picks a collection instead of scanning."""
    return f"{COLLECTION_PREFIX}{cluster}"


def cluster_of_collection(name: str) -> str | None:
    if not name.startswith(COLLECTION_PREFIX):
        return None
    return name[len(COLLECTION_PREFIX) :] or None


def chunk_id(key: str, n: int) -> str:
    return f"{key}#{n}"


def key_of_chunk(chunk: str) -> str:
    """The record key of a chunk id."""
    return chunk.rsplit("#", 1)[0]


def index_id(namespace: str, text_hash: str) -> str:
    return f"h/{namespace}/{text_hash}"


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def iso(ts: float | None) -> str | None:
    if not ts:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def check_text(text: str, what: str = "Text") -> str:
    stripped = text.strip()
    if not stripped:
        raise InvalidArgument(f"{what} is empty.", hint="Give the text to remember.")
    if len(stripped) > MAX_TEXT_CHARS:
        raise InvalidArgument(
            f"{what} has {len(stripped)} characters, over the limit of {MAX_TEXT_CHARS}.",
            hint="Split it into several records (e.g. one per topic or incident) under distinct keys.",
        )
    return stripped


def check_tags(tags: list[str]) -> list[str]:
    if len(tags) > MAX_TAGS:
        raise InvalidArgument(f"{len(tags)} tags given; at most {MAX_TAGS} are allowed.")
    seen: list[str] = []
    for raw in tags:
        tag = check_slug(raw.strip().lower(), "Tag")
        if tag not in seen:
            seen.append(tag)
    return seen


def check_field(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if len(value) > MAX_FIELD_CHARS:
        raise InvalidArgument(f"metadata.{name} is longer than {MAX_FIELD_CHARS} characters.")
    return value


def check_layer(layer: str) -> str:
    if layer not in LAYERS:
        raise InvalidArgument(f"Unknown layer {layer!r}.", hint=f"Use one of: {', '.join(LAYERS)}.")
    return layer


@dataclass
class Prepared:
    """A validated record ready to store."""

    key: Key
    text: str
    text_hash: str
    namespace: str
    layer: str
    fields: dict[str, str]
    tags: list[str]

    @property
    def key_str(self) -> str:
        return str(self.key)

    def base_metadata(self, *, created: float, updated: float, now: float) -> dict[str, Any]:
        ttl = LAYER_TTL_S[self.layer]
        meta: dict[str, Any] = {
            "key": self.key_str,
            "cluster": self.key.cluster,
            "type": self.key.type,
            "namespace": self.namespace,
            "layer": self.layer,
            "tags": ",".join(self.tags),
            "created_at": created,
            "updated_at": updated,
            "expires_at": 0.0 if ttl is None else now + ttl,
            "text_hash": self.text_hash,
            **self.fields,
        }
        if self.key.name:
            meta["name"] = self.key.name
        for tag in self.tags:
            meta[TAG_PREFIX + tag] = True
        return meta

    def same_as(self, meta: dict[str, Any]) -> bool:
        """Nothing new compared with the stored chunk-0 metadata."""
        return (
            meta.get("text_hash") == self.text_hash
            and meta.get("namespace") == self.namespace
            and meta.get("layer") == self.layer
            and meta.get("tags", "") == ",".join(self.tags)
            and all(meta.get(f) == self.fields.get(f) for f in _FIELDS)
        )


def prepare(
    item: MemoryInput, *, cluster: str | None = None, default_cluster: str | None = None, allow_custom: bool = True
) -> Prepared:
    """Validate one record to store; raises InvalidArgument naming the problem.

    ``cluster`` is what the caller asked for (a key must agree with it); a record without a key is filed under
    ``cluster``, else ``default_cluster``.
    """
    text = check_text(item.text)
    md = item.metadata
    namespace = check_slug(md.namespace.strip(), "Namespace")
    layer = check_layer(md.layer)
    fields = {f: v for f in _FIELDS if (v := check_field(getattr(md, f), f)) is not None}
    tags = check_tags(md.tags)
    digest = text_hash(text)
    if md.key:
        key = parse_key(md.key.strip(), allow_custom=allow_custom)
        if cluster is not None and key.cluster != cluster:
            raise InvalidArgument(
                f"The key names cluster {key.cluster!r} but the cluster argument is {cluster!r}.",
                hint="Drop the cluster argument or make it match the key.",
            )
    else:
        home = cluster or default_cluster
        if home is None or not fields.get("category"):
            raise InvalidArgument(
                "metadata.key is missing.",
                hint="Give metadata.key ('kafka-streaming-agent/<cluster>/<type>[/<name>]'), or a category (used "
                "as the type) so a key can be made for the cluster.",
            )
        type_ = check_type(fields["category"], allow_custom=allow_custom)
        key = Key(cluster=check_slug(home, "Cluster"), type=type_, name=f"n-{digest[:12]}")
    fields.setdefault("category", key.type)
    return Prepared(key=key, text=text, text_hash=digest, namespace=namespace, layer=layer, fields=fields, tags=tags)


def record_from(meta: dict[str, Any], text: str) -> MemoryRecord:
    """A record from its chunk-0 metadata and its whole text."""
    tags = [t for t in str(meta.get("tags", "")).split(",") if t]
    return MemoryRecord(
        key=str(meta["key"]),
        cluster=str(meta["cluster"]),
        type=str(meta["type"]),
        name=meta.get("name"),
        text=text,
        namespace=str(meta["namespace"]),
        layer=meta["layer"],
        category=str(meta.get("category", meta["type"])),
        project=meta.get("project"),
        agent=meta.get("agent"),
        intent=meta.get("intent"),
        tags=tags,
        created_at=iso(float(meta["created_at"])) or "",
        updated_at=iso(float(meta["updated_at"])) or "",
        expires_at=iso(float(meta.get("expires_at", 0.0))),
        chunks=int(meta.get("chunks", 1)),
    )


def rebuild_text(documents: list[str], metadatas: list[dict[str, Any]]) -> str:
    """The whole text from its chunks (any order), dropping the overlap between neighbours."""
    pieces = sorted(zip(metadatas, documents, strict=True), key=lambda p: int(p[0].get("chunk", 0)))
    return "".join(doc[: int(meta.get("keep", len(doc)))] for meta, doc in pieces)


def is_expired(meta: dict[str, Any], now: float) -> bool:
    expires = float(meta.get("expires_at", 0.0) or 0.0)
    return 0.0 < expires <= now


def where_all(conditions: list[dict[str, Any]]) -> dict[str, Any] | None:
    if not conditions:
        return None
    return conditions[0] if len(conditions) == 1 else {"$and": conditions}
