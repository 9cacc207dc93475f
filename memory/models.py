"""The records the memory keeps, what callers send to store them, and what searches return."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

Layer = Literal["short_term", "mid_term", "long_term"]
LAYERS: tuple[Layer, ...] = ("short_term", "mid_term", "long_term")

# How long a record of each layer lives, in seconds (None: kept until deleted).
LAYER_TTL_S: dict[str, float | None] = {"short_term": 24 * 3600.0, "mid_term": 7 * 24 * 3600.0, "long_term": None}

MAX_TEXT_CHARS = 32_000
MAX_BATCH = 500
MAX_SEARCH_LIMIT = 100
MAX_LIST_LIMIT = 1000
MAX_TAGS = 20
MAX_FIELD_CHARS = 200

StoreAction = Literal["created", "updated", "unchanged", "duplicate"]


class MemoryMetadata(BaseModel):
    """What describes a record: where it belongs (key, namespace), how long it lives (layer), and who wrote it."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(
        default=None,
        description="'kafka-streaming-agent/<cluster>/<type>[/<name>]' (slugs); default: from cluster, category "
        "and the text.",
    )
    namespace: str = "default"
    layer: Layer = Field(default="long_term", description="Kept 24 h, 7 days or until deleted.")
    category: str | None = Field(default=None, description="Default: the key's type.")
    project: str | None = None
    agent: str | None = None
    intent: str | None = None
    tags: list[str] = Field(default_factory=list, description="Lowercase slugs.")


class MemoryInput(BaseModel):
    """One record to store."""

    model_config = ConfigDict(extra="forbid")

    text: str
    metadata: MemoryMetadata = Field(default_factory=MemoryMetadata)


class MemoryRecord(BaseModel):
    """One stored record with its whole text, however many chunks it was embedded as."""

    key: str
    cluster: str = Field(description="The cluster part of the key.")
    type: str = Field(description="The type part of the key.")
    name: str | None = Field(default=None, description="The optional name part of the key.")
    text: str
    namespace: str
    layer: Layer
    category: str
    project: str | None = None
    agent: str | None = None
    intent: str | None = None
    tags: list[str] = Field(default_factory=list)
    created_at: str = Field(description="UTC, ISO 8601.")
    updated_at: str = Field(description="UTC, ISO 8601.")
    expires_at: str | None = Field(default=None, description="UTC, ISO 8601; none for long_term records.")
    chunks: int = Field(description="How many pieces the text was embedded as (long texts are split).")


class StoreOutcome(BaseModel):
    """What happened to one record handed to memory_store."""

    key: str
    action: StoreAction = Field(
        description="created; updated (same key, new text or metadata); unchanged (same key, nothing new); "
        "duplicate (the same text is already stored in this namespace under duplicate_of: nothing stored)."
    )
    duplicate_of: str | None = None
    chunks: int = 0
    expires_at: str | None = None


class StoreResult(BaseModel):
    # The published schema of the outcomes is loose on purpose (as for kafka_produce's records): MCP clients validate
    # structured output against it, and 500 fully described outcomes cost the Python SDK's client ~0.1 s a call.
    stored: Annotated[list[StoreOutcome], WithJsonSchema({"type": "array", "items": {"type": "object"}})] = Field(
        description="One outcome per record, in the order given: {key, action, duplicate_of, chunks, expires_at}. "
        "action is created; updated (same key, new text or metadata); unchanged (same key, nothing new); or "
        "duplicate (the same text is already stored in this namespace under duplicate_of: nothing stored)."
    )


class SearchHit(BaseModel):
    score: float = Field(description="Cosine similarity of the best-matching part of the record, -1 to 1.")
    record: MemoryRecord
    found_by: list[Literal["vector", "lexical"]] = Field(
        default_factory=list,
        description="Which sides ranked the record among their best: vector (meaning), lexical (the query's terms).",
    )
    lexical_score: float | None = Field(
        default=None, description="BM25 score of the record's best-matching part for the query's terms, if any."
    )


class SearchResult(BaseModel):
    query: str
    hits: list[SearchHit]
    searched_collections: int = Field(description="How many cluster collections the search read.")
    mode: Literal["hybrid", "vector", "lexical"] = Field(
        default="hybrid",
        description="hybrid: meaning and terms, fused by rank; vector: meaning only; lexical: terms only (BM25).",
    )
    note: str | None = Field(default=None, description="Set when part of the search could not use the mode asked.")


class RecordList(BaseModel):
    records: list[MemoryRecord]
    total: int = Field(description="Records matching before the limit was applied.")
    truncated: bool


class DeleteResult(BaseModel):
    deleted: list[str] = Field(description="Keys of the deleted records.")
