"""MCP resources: the live cluster, memory records and runbooks, and reference texts a model reads when it needs them.

    kafka://<cluster>/overview                   brokers, controller, topic count, profile   (kafka_describe_cluster)
    kafka://<cluster>/health                     the health verdict with its reasons         (kafka_cluster_health)
    kafka://<cluster>/topics                     topics with partitions and replication      (kafka_list_topics)
    kafka://<cluster>/topics/<topic>             one topic's partitions, ISR and configs     (kafka_describe_topic)
    kafka://<cluster>/groups                     consumer groups with state and members  (kafka_list_consumer_groups)
    kafka://<cluster>/groups/<group>/lag         one group's lag per partition               (kafka_consumer_lag)
    memory://records/<cluster>/<type>[/<name>]   the memory record kafka-streaming-agent/<cluster>/<type>[/<name>]
    memory://runbooks/<cluster>                  every runbook record of a cluster, whole
    kafka-agent://reference/<name>               a reference text (``reference()`` or prompts/reference/<name>.md)
    kafka-agent://runbooks/<name>                a runbook shipped with the server (prompts/runbooks/<name>.md)

``resources/list`` names each configured cluster's overview, health, topics, groups and runbooks, and every reference
text; the templates cover the rest. Reading is what the matching read-only tool does, off the event loop and within
the tool time limit; the memory store is built on the first memory read. Kafka and memory contents come as JSON,
texts as markdown.

The reference texts and shipped runbooks come from ``mcp_server.references``: another module registers a long text (a
grammar, templates, rules) with ``reference(name, title, text)`` and cites the URI it returns in its tool description
instead of carrying the text in every ``tools/list``.
"""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ResourceNotFoundError
from mcp.server.mcpserver.resources import Resource, ResourceManager, ResourceTemplate
from pydantic import BaseModel

from core.errors import KafkaAgentError, NotFound
from mcp_server.references import MARKDOWN, references, runbooks

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from core.app import AppContext
    from core.settings import ClusterConfig

JSON = "application/json"


def app_of(ctx: Context[Any, Any]) -> AppContext:
    app: AppContext = ctx.request_context.lifespan_context
    return app


async def read_json(
    ctx: Context[Any, Any],
    tool: str,
    cluster: str | None,
    work: Callable[[AppContext, ClusterConfig], Awaitable[Any]],
) -> str:
    """``work`` on the named cluster within the tool time limit, as JSON. A resource shows what its read-only
    ``tool`` shows, so the tool allow and deny lists hide it too (toolsets do not: they only trim a model's context).
    Our errors become resource errors that say what to do (a missing topic, group or record is 'not found')."""
    app = app_of(ctx)
    if not app.gate.tool_visible(tool, mutating=False):
        raise ResourceError(f"This server's tool allow or deny list hides {tool}, and with it this resource.")
    try:
        cfg = app.settings.cluster(cluster)
        with anyio.fail_after(app.settings.tool_timeout_s):
            result = await work(app, cfg)
    except NotFound as exc:
        raise ResourceNotFoundError(str(exc)) from None
    except KafkaAgentError as exc:
        raise ResourceError(str(exc)) from None
    except TimeoutError:
        raise ResourceError(
            f"No answer within {app.settings.tool_timeout_s:.0f} s; check the cluster's health and read it again."
        ) from None
    return _json(result)


def _json(value: Any) -> str:
    if isinstance(value, BaseModel):
        return value.model_dump_json(indent=2, exclude_none=True)
    from pydantic import TypeAdapter

    return TypeAdapter(type(value)).dump_json(value, indent=2, exclude_none=True).decode()


async def overview(cluster: str, ctx: Context[Any, Any]) -> str:
    from core.kafka import cluster as kcluster

    async def work(app: AppContext, cfg: ClusterConfig) -> Any:
        return await app.run(kcluster.describe_cluster, app.clients, cfg.name, budget=app.timeout)

    return await read_json(ctx, "kafka_describe_cluster", cluster, work)


async def health(cluster: str, ctx: Context[Any, Any]) -> str:
    from core.kafka import health as khealth

    async def work(app: AppContext, cfg: ClusterConfig) -> Any:
        return await app.run(khealth.health_of, app.clients, cfg.name, budget=app.timeout)

    return await read_json(ctx, "kafka_cluster_health", cluster, work)


async def topic_list(cluster: str, ctx: Context[Any, Any]) -> str:
    from core.kafka import topics as ktopics

    async def work(app: AppContext, cfg: ClusterConfig) -> Any:
        admin = app.clients.admin(cfg.name)
        return await app.run(ktopics.list_topics, admin, include_internal=False, timeout=app.timeout)

    return await read_json(ctx, "kafka_list_topics", cluster, work)


async def topic(cluster: str, topic: str, ctx: Context[Any, Any]) -> str:
    from core.kafka import topics as ktopics

    async def work(app: AppContext, cfg: ClusterConfig) -> Any:
        return await app.run(ktopics.describe_topic, app.clients.admin(cfg.name), topic, timeout=app.timeout)

    return await read_json(ctx, "kafka_describe_topic", cluster, work)


async def group_list(cluster: str, ctx: Context[Any, Any]) -> str:
    from core.kafka import groups as kgroups

    async def work(app: AppContext, cfg: ClusterConfig) -> Any:
        return await app.run(kgroups.list_groups, app.clients.admin(cfg.name), timeout=app.timeout)

    return await read_json(ctx, "kafka_list_consumer_groups", cluster, work)


async def group_lag(cluster: str, group: str, ctx: Context[Any, Any]) -> str:
    from core.kafka import lag as klag
    from mcp_server.tools.groups import lag_cache

    async def work(app: AppContext, cfg: ClusterConfig) -> Any:
        return await app.run(
            klag.consumer_lag,
            app.clients.admin(cfg.name),
            cluster=cfg.name,
            cache=lag_cache(app),
            timeout=app.timeout,
            groups=[group],
            include_partitions=True,
        )

    return await read_json(ctx, "kafka_consumer_lag", cluster, work)


async def _memory(ctx: Context[Any, Any], tool: str, call: Callable[[Any], Any]) -> str:
    """``call(store)`` on the memory store (built on first use), as JSON."""
    from mcp_server.tools.memory import memory_store_of

    async def work(app: AppContext, _: ClusterConfig) -> Any:
        store = await app.run(memory_store_of, app)
        return await app.run(call, store)

    return await read_json(ctx, tool, None, work)


async def memory_record(cluster: str, type: str, ctx: Context[Any, Any]) -> str:
    key = f"kafka-streaming-agent/{cluster}/{type}"
    return await _memory(ctx, "memory_retrieve", lambda store: store.get(key))


async def memory_named_record(cluster: str, type: str, name: str, ctx: Context[Any, Any]) -> str:
    key = f"kafka-streaming-agent/{cluster}/{type}/{name}"
    return await _memory(ctx, "memory_retrieve", lambda store: store.get(key))


async def memory_runbooks(cluster: str, ctx: Context[Any, Any]) -> str:
    from memory.models import MAX_LIST_LIMIT
    from memory.search import Filters

    runbook = Filters(type="runbook")
    return await _memory(
        ctx, "memory_list", lambda store: store.list_records(cluster=cluster, filters=runbook, limit=MAX_LIST_LIMIT)
    )


def reference_resource(name: str) -> str:
    found = references().get(name)
    if found is None:
        raise ResourceNotFoundError(f"No reference text {name!r}; resources/list names them all.")
    return found.read()


def runbook_resource(name: str) -> str:
    found = runbooks().get(name)
    if found is None:
        raise ResourceNotFoundError(f"No shipped runbook {name!r}; resources/list names them all.")
    return found.read()


@dataclass(frozen=True)
class Template:
    """A resource template; its variables are completed by mcp_server.completion (cluster, topic, group ...)."""

    uri: str
    fn: Callable[..., Any]
    title: str
    description: str
    mime_type: str = JSON
    tool: str | None = None  # the read-only tool it mirrors (its allow/deny status hides the resource)


TEMPLATES: tuple[Template, ...] = (
    Template(
        "kafka://{cluster}/overview",
        overview,
        "Cluster overview",
        "Brokers (up or down), controller, topic count, profile.",
        tool="kafka_describe_cluster",
    ),
    Template(
        "kafka://{cluster}/health",
        health,
        "Cluster health",
        "Verdict (healthy, degraded, critical) with reasons and fixes.",
        tool="kafka_cluster_health",
    ),
    Template(
        "kafka://{cluster}/topics",
        topic_list,
        "Topics",
        "Every topic with its partitions and replication factor.",
        tool="kafka_list_topics",
    ),
    Template(
        "kafka://{cluster}/topics/{topic}",
        topic,
        "Topic",
        "A topic's partitions, leaders, ISR and configs.",
        tool="kafka_describe_topic",
    ),
    Template(
        "kafka://{cluster}/groups",
        group_list,
        "Consumer groups",
        "Every consumer group with state and members.",
        tool="kafka_list_consumer_groups",
    ),
    Template(
        "kafka://{cluster}/groups/{group}/lag",
        group_lag,
        "Consumer lag",
        "A group's lag per partition, with totals.",
        tool="kafka_consumer_lag",
    ),
    Template(
        "memory://records/{cluster}/{type}",
        memory_record,
        "Memory record",
        "The memory record kafka-streaming-agent/<cluster>/<type>, with its text and metadata.",
        tool="memory_retrieve",
    ),
    Template(
        "memory://records/{cluster}/{type}/{name}",
        memory_named_record,
        "Named memory record",
        "The memory record kafka-streaming-agent/<cluster>/<type>/<name>.",
        tool="memory_retrieve",
    ),
    Template(
        "memory://runbooks/{cluster}",
        memory_runbooks,
        "Runbooks",
        "Every runbook stored in memory for a cluster, whole.",
        tool="memory_list",
    ),
    Template("kafka-agent://reference/{name}", reference_resource, "Reference text", "A reference text.", MARKDOWN),
    Template(
        "kafka-agent://runbooks/{name}", runbook_resource, "Shipped runbook", "A runbook of the server.", MARKDOWN
    ),
)
# Listed in resources/list for every configured cluster: the template's path, and its title there.
PER_CLUSTER = (("overview", "overview"), ("health", "health"), ("topics", "topics"), ("groups", "consumer groups"))


class _Listed(Resource):
    """An entry of resources/list whose reading goes through a template (it needs the request's context)."""

    async def read(self) -> str | bytes:  # never stored, so never read
        raise ResourceError(f"{self.uri} is read through its template")


class KafkaResources(ResourceManager):
    """The server's resources: templates for the live data, and a listing built when it is asked for (the
    configured clusters, the reference texts registered so far). The templates are registered on first use:
    building them costs more than the rest of start-up's protocol setup together."""

    def __init__(self, server: Any) -> None:
        super().__init__(warn_on_duplicate_resources=True)
        self._server = server
        self._loaded = False
        self._lock = threading.Lock()

    def _load(self) -> None:
        with self._lock:
            if self._loaded:
                return
            for tpl in TEMPLATES:
                name = tpl.uri.split("://", 1)[1].replace("{", "").replace("}", "").replace("/", "-")
                self.add_template(
                    tpl.fn,
                    uri_template=tpl.uri,
                    name=name,
                    title=tpl.title,
                    description=tpl.description,
                    mime_type=tpl.mime_type,
                )
            self._loaded = True

    def list_templates(self) -> list[ResourceTemplate]:
        self._load()
        return [t for t in super().list_templates() if self._visible(_template(t.uri_template).tool)]

    async def get_resource(self, uri: Any, context: Any) -> Any:
        self._load()
        return await super().get_resource(uri, context)

    def _visible(self, tool: str | None) -> bool:
        gate = getattr(self._server, "_visibility", None)
        return tool is None or gate is None or bool(gate.tool_visible(tool, mutating=False))

    def list_resources(self) -> list[Resource]:
        self._load()
        out: list[Resource] = list(super().list_resources())
        for name in self._server.agent_settings.clusters():
            for path, what in PER_CLUSTER:
                tpl = _template(f"kafka://{{cluster}}/{path}")
                if self._visible(tpl.tool):
                    out.append(
                        _Listed(
                            uri=f"kafka://{name}/{path}",
                            name=f"{name}-{path}",
                            title=f"{name}: {what}",
                            description=tpl.description,
                            mime_type=JSON,
                        )
                    )
            if self._visible("memory_list"):
                out.append(
                    _Listed(
                        uri=f"memory://runbooks/{name}",
                        name=f"{name}-runbooks",
                        title=f"{name}: runbooks in memory",
                        description="Every runbook stored in memory for this cluster.",
                        mime_type=JSON,
                    )
                )
        for ref in [*references().values(), *runbooks().values()]:
            out.append(
                _Listed(
                    uri=ref.uri, name=ref.name, title=ref.title, description=ref.description, mime_type=ref.mime_type
                )
            )
        return out


def _template(uri: str) -> Template:
    return next(t for t in TEMPLATES if t.uri == uri)


def register(server: MCPServer[Any]) -> None:
    """Offer the resources and templates above (registered on first use)."""
    server._resource_manager = KafkaResources(server)
