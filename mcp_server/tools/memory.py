"""MCP tools for the agent's memory: store what was learned, find it again by key, pattern or meaning.

Nothing heavy is imported here: the store (Chroma and the embedding model) is built on the first memory call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp_types import InputRequiredResult
from pydantic import BaseModel, Field

from core.app import AppContext
from core.errors import InvalidArgument, KafkaAgentError, NotFound, Unreachable
from core.gate import Change, ConsentPreview
from mcp_server.tools._base import Ctx, app_of, gated, gated_destructive, kafka_tool
from mcp_server.tools._types import CONFIRM_DESCRIPTION
from memory.models import (
    MAX_BATCH,
    MAX_LIST_LIMIT,
    MAX_SEARCH_LIMIT,
    DeleteResult,
    Layer,
    MemoryInput,
    MemoryMetadata,
    RecordList,
    SearchResult,
    StoreResult,
)

if TYPE_CHECKING:
    from memory.search import Filters
    from memory.store import MemoryStore

SearchMode = Literal["hybrid", "vector", "lexical"]

T = TypeVar("T")

ClusterFilter = Annotated[str | None, Field(description="Only records whose key names this cluster.")]
TypeFilter = Annotated[str | None, Field(description="The key's type part.")]
LayerFilter = Layer | None
CategoryFilter = str | None
ProjectFilter = str | None
NamespaceFilter = str | None
TagsFilter = Annotated[list[str] | None, Field(description="Records carrying all of them.")]
ConfirmArg = Annotated[str | None, Field(description=CONFIRM_DESCRIPTION)]


class MemoryDeleteOutcome(BaseModel):
    executed: bool = Field(description="True only when records were deleted by this call.")
    consent: ConsentPreview | None = Field(default=None, description="Present when confirmation is needed.")
    result: DeleteResult | None = None


def memory_store_of(app: AppContext) -> MemoryStore:
    """The server's one store, built on first use (blocking: call it through ``app.run``)."""
    from memory.store import MemoryStore

    return app.lazy.get("memory", lambda: MemoryStore.from_settings(app.settings))


async def _run(app: AppContext, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """``app.run`` for store calls: a Chroma server that stops answering becomes a clear Unreachable error."""
    try:
        return await app.run(fn, *args, **kwargs)
    except KafkaAgentError:
        raise
    except Exception as exc:
        url = app.settings.chroma_url
        if url and _is_connection_error(exc):
            raise Unreachable(
                f"The Chroma server at {url} did not answer: {type(exc).__name__}: {exc}",
                hint="Check that it runs (`uv run chroma run --path DIR --port 8000`), or unset "
                "KAFKA_AGENT_CHROMA_URL to use the embedded store.",
            ) from exc
        raise


def _is_connection_error(exc: BaseException) -> bool:
    import httpx

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, httpx.TransportError | ConnectionError):
            return True
        seen = seen.__cause__ or seen.__context__
    return "connect" in str(exc).lower()


def _filters(
    type_: str | None,
    layer: str | None,
    category: str | None,
    project: str | None,
    namespace: str | None,
    tags: list[str] | None,
) -> Filters:
    from memory.search import Filters

    return Filters(type=type_, layer=layer, category=category, project=project, namespace=namespace, tags=tags or [])


def _one_cluster(keys: list[str]) -> str:
    clusters = {k.split("/")[1] for k in keys if k.count("/") >= 2}
    return clusters.pop() if len(clusters) == 1 else "*"


def register(server: MCPServer[Any]) -> None:
    @kafka_tool(server, kind="write", open_world=False, title="Store in memory")
    async def memory_store(
        ctx: Ctx,
        text: str | None = None,
        metadata: MemoryMetadata | None = None,
        records: Annotated[
            list[MemoryInput] | None, Field(description=f"Instead of text/metadata: up to {MAX_BATCH} records.")
        ] = None,
        cluster: Annotated[str | None, Field(description="Files a record whose key is omitted.")] = None,
    ) -> StoreResult:
        """Remember what was learned about Kafka (configs, tuning results, incidents, runbooks, streaming patterns) to
        find by key or meaning. The same key updates the record; text already in the namespace is not stored twice.
        Returns each key and its action."""
        app = app_of(ctx)
        if (text is None) == (records is None):
            raise InvalidArgument(
                "Give either text (with metadata) or records, not both and not neither.",
                hint="e.g. memory_store(text='...', metadata={'key': 'kafka-streaming-agent/prod/cluster-config'}).",
            )
        items = (
            records if records is not None else [MemoryInput(text=text or "", metadata=metadata or MemoryMetadata())]
        )
        default_cluster = app.settings.cluster(None).name
        change = Change(
            tool="memory_store",
            cluster=cluster or default_cluster,
            action="memory.store",
            resource_type="memory",
            resources=[i.metadata.key or "(key derived from the text)" for i in items][:50],
            arguments={"records": len(items), "cluster": cluster},
        )
        store = await _run(app, memory_store_of, app)
        return await gated(
            ctx, change, lambda _permit: store.store(items, cluster=cluster, default_cluster=default_cluster)
        )

    @kafka_tool(server, kind="read", open_world=False, title="Retrieve from memory")
    async def memory_retrieve(
        ctx: Ctx,
        key: Annotated[
            str,
            Field(
                description="An exact key, or a glob ('*' within a part, '**' across parts), e.g. "
                "'kafka-streaming-agent/*/performance-tuning'."
            ),
        ],
        limit: Annotated[int, Field(description=f"1-{MAX_LIST_LIMIT}.")] = 50,
        cluster: ClusterFilter = None,
    ) -> RecordList:
        """Fetch memory records by exact key (an error if none) or glob (every match, by key), with whole text and
        metadata. By meaning: vector_search."""
        app = app_of(ctx)
        store = await _run(app, memory_store_of, app)
        return await _run(app, store.retrieve, key, limit=limit, cluster=cluster)

    @kafka_tool(server, kind="read", open_world=False, title="Search memory by meaning")
    async def vector_search(
        ctx: Ctx,
        query: Annotated[str, Field(description="Plain words.")],
        limit: Annotated[int, Field(description=f"1-{MAX_SEARCH_LIMIT}.")] = 5,
        type: TypeFilter = None,
        layer: LayerFilter = None,
        category: CategoryFilter = None,
        project: ProjectFilter = None,
        namespace: NamespaceFilter = None,
        tags: TagsFilter = None,
        min_score: Annotated[float | None, Field(description="-1 to 1; 0.3 is loose.")] = None,
        cluster: ClusterFilter = None,
        mode: Annotated[
            SearchMode,
            Field(description="hybrid: meaning and terms; vector: meaning; lexical: terms (BM25)."),
        ] = "hybrid",
    ) -> SearchResult:
        """Search memory by meaning and exact terms: past troubleshooting, tuning, runbooks, configs and patterns like
        the query, and records naming the same identifiers (e.g. NOT_ENOUGH_REPLICAS). Returns whole records, best
        first, with scores."""
        app = app_of(ctx)
        store = await _run(app, memory_store_of, app)
        flt = _filters(type, layer, category, project, namespace, tags)
        return await _run(
            app, store.search, query, limit=limit, cluster=cluster, filters=flt, min_score=min_score, mode=mode
        )

    @kafka_tool(server, kind="read", open_world=False, title="List memory records")
    async def memory_list(
        ctx: Ctx,
        type: TypeFilter = None,
        layer: LayerFilter = None,
        category: CategoryFilter = None,
        project: ProjectFilter = None,
        namespace: NamespaceFilter = None,
        tags: TagsFilter = None,
        limit: Annotated[int, Field(description=f"1-{MAX_LIST_LIMIT}.")] = 50,
        cluster: ClusterFilter = None,
    ) -> RecordList:
        """List memory records, most recently updated first, with text, metadata and the total matched."""
        app = app_of(ctx)
        store = await _run(app, memory_store_of, app)
        flt = _filters(type, layer, category, project, namespace, tags)
        return await _run(app, store.list_records, cluster=cluster, filters=flt, limit=limit)

    @kafka_tool(server, kind="destructive", open_world=False, title="Delete from memory")
    async def memory_delete(
        ctx: Ctx,
        key: Annotated[str, Field(description="An exact key or a glob.")],
        confirm_token: ConfirmArg = None,
        cluster: ClusterFilter = None,
    ) -> MemoryDeleteOutcome | InputRequiredResult:
        """Delete memory records by exact key or glob, permanently. The first call lists what would go and changes
        nothing; repeat with confirm_token only after the user agrees."""
        app = app_of(ctx)
        store = await _run(app, memory_store_of, app)
        keys = await _run(app, store.matching_keys, key)
        if cluster is not None:
            keys = [k for k in keys if k.split("/")[1] == cluster]
        if not keys:
            raise NotFound(f"No memory record matches {key!r}.", hint="See memory_list or memory_retrieve.")
        change = Change(
            tool="memory_delete",
            # Consent follows the cluster the records belong to (the strictest configured one when they span several).
            cluster=cluster or _one_cluster(keys),
            action="memory.delete",
            resource_type="memory",
            resources=keys[:50],
            destructive=True,
            # The matched keys are bound into the token: if a pattern matches other records after the preview,
            # the token no longer fits (nothing the user did not see is deleted).
            arguments={"key": key, "cluster": cluster, "matching": keys},
            on_mismatch=f"The records matching {key!r} changed since the preview (or the arguments differ).",
        )
        shown = ", ".join(keys[:10]) + (f" and {len(keys) - 10} more" if len(keys) > 10 else "")
        effect = f"Delete {len(keys)} memory record(s) from {store.location}: {shown}, permanently."
        done = await gated_destructive(
            ctx, change, lambda _permit: store.delete(keys), effect=effect, confirm_token=confirm_token
        )
        if isinstance(done, InputRequiredResult):
            return done  # the user is asked through elicitation; the client retries
        if isinstance(done, ConsentPreview):
            return MemoryDeleteOutcome(executed=False, consent=done)
        return MemoryDeleteOutcome(executed=True, result=done)
