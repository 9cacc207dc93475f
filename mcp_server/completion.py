"""``completion/complete``: values for prompt arguments and resource template variables.

Names come from the live cluster (the cluster named earlier in the same prompt or URI, else the default one): topics,
consumer groups, connectors, stream applications, schema subjects; configured cluster names and the declared choices
come from the server itself. Lists are kept for a few seconds (a client asks on every keystroke), and a cluster that
does not answer quickly yields no values rather than an error: completion is a convenience, the call itself still
reports what is wrong. A prompt or template this server does not have gets an empty answer.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import anyio
from mcp_types import CompleteRequestParams, CompleteResult, Completion, PromptReference

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext
    from mcp.server.mcpserver import MCPServer

    from core.app import AppContext

log = logging.getLogger("kafka_agent.completion")

LIMIT = 100  # the protocol's maximum per answer
CACHE_S = 10.0
WAIT_S = 5.0

# What a resource template variable is completed from (the variable names of mcp_server.resources.TEMPLATES).
TEMPLATE_KINDS = {"topic": "topic", "group": "group", "type": "memory-type", "name": "reference"}


def kind_of(params: CompleteRequestParams) -> tuple[str | None, tuple[str, ...], bool]:
    """(live kind, static choices, comma-separated list?) of the argument being completed."""
    name = params.argument.name
    if isinstance(params.ref, PromptReference):
        from mcp_server.prompts import commands

        command = commands().get(params.ref.name)
        arg = command.argument(name) if command is not None else None
        if arg is None:
            return None, (), False
        return arg.complete, arg.choices, arg.multiple
    uri = params.ref.uri
    if "{" + name + "}" not in uri:
        return None, (), False
    if name == "cluster":
        return ("memory-cluster" if uri.startswith("memory://") else "cluster"), (), False
    if name == "name" and uri.startswith("kafka-agent://runbooks/"):
        return "runbook", (), False
    if name == "name" and uri.startswith("memory://"):
        return None, (), False  # record names: the client lists memory_list's keys instead
    return TEMPLATE_KINDS.get(name), (), False


def rank(candidates: list[str], typed: str) -> list[str]:
    """Candidates that start with what was typed first, then those that contain it (case-insensitive)."""
    low = typed.lower()
    starts = [c for c in candidates if c.lower().startswith(low)]
    contains = [c for c in candidates if low in c.lower() and not c.lower().startswith(low)]
    return sorted(starts) + sorted(contains)


async def complete(ctx: ServerRequestContext[Any, Any], params: CompleteRequestParams) -> CompleteResult:
    app: AppContext = ctx.lifespan_context
    kind, choices, multiple = kind_of(params)
    typed = params.argument.value
    done = ""
    if multiple and "," in typed:
        head, _, typed = typed.rpartition(",")
        done = head + ", "
        typed = typed.strip()
    given = dict((params.context.arguments if params.context else None) or {})
    candidates = list(choices)
    if kind is not None:
        candidates += await names(app, kind, given.get("cluster") or given.get("target_cluster"))
    found = rank(list(dict.fromkeys(candidates)), typed)
    values = [done + v for v in found[:LIMIT]]
    return CompleteResult(completion=Completion(values=values, total=len(found), has_more=len(found) > LIMIT))


async def names(app: AppContext, kind: str, cluster: str | None) -> list[str]:
    """The names of one kind on a cluster (cached briefly); empty when the cluster or service does not answer."""
    settings = app.settings
    if kind == "cluster":
        return list(settings.clusters())
    if kind in ("memory-type", "reference", "runbook", "memory-cluster"):
        return _static(app, kind)
    try:
        cfg = settings.cluster(cluster)
    except Exception:
        return []
    cache: dict[tuple[str, str], tuple[float, list[str]]] = app.lazy.get("completion.names", dict)
    key = (kind, cfg.name)
    hit = cache.get(key)
    if hit is not None and time.monotonic() - hit[0] < CACHE_S:
        return hit[1]
    lister = _LISTERS.get(kind)
    if lister is None:
        return []
    found: list[str] | None = None
    with anyio.move_on_after(min(WAIT_S, settings.request_timeout_s)):
        try:
            found = await anyio.to_thread.run_sync(functools.partial(lister, app, cfg.name), abandon_on_cancel=True)
        except Exception as exc:  # a convenience: no values, and the reason in the server log
            log.debug("completion of %s names on %s failed: %s", kind, cfg.name, exc)
    if found is None:
        return []
    cache[key] = (time.monotonic(), found)
    return found


def _static(app: AppContext, kind: str) -> list[str]:
    if kind == "memory-type":
        from memory.keys import KNOWN_TYPES

        return list(KNOWN_TYPES)
    if kind == "reference":
        from mcp_server.references import references

        return list(references())
    if kind == "runbook":
        from mcp_server.references import runbooks

        return list(runbooks())
    # memory-cluster: the configured clusters, and the clusters the store has records of once it is open
    out = list(app.settings.clusters())
    store = app.lazy.peek("memory")
    if store is not None:
        out += [c for c in store.clusters() if c not in out]
    return out


def _topics(app: AppContext, cluster: str) -> list[str]:
    from core.kafka import topics as ktopics

    listed = ktopics.list_topics(app.clients.admin(cluster), include_internal=False, timeout=app.timeout)
    return [t.name for t in listed.topics]


def _groups(app: AppContext, cluster: str) -> list[str]:
    from core.kafka import groups as kgroups

    return [g.group_id for g in kgroups.list_groups(app.clients.admin(cluster), timeout=app.timeout).groups]


def _connectors(app: AppContext, cluster: str) -> list[str]:
    from core.kafka import connect as kconnect
    from core.services.rest import connect_client

    rest = connect_client(app, app.settings.cluster(cluster))
    return [c.name for c in kconnect.list_connectors(rest).connectors]


def _streams(app: AppContext, cluster: str) -> list[str]:
    from streams.service import manager

    return [r.name for r in manager(app).list_apps() if r.cluster == cluster]


def _subjects(app: AppContext, cluster: str) -> list[str]:
    from core.kafka import schemas as kschemas
    from core.services.rest import registry_client

    return kschemas.list_subjects(registry_client(app, app.settings.cluster(cluster))).subjects


_LISTERS: dict[str, Callable[[AppContext, str], list[str]]] = {
    "topic": _topics,
    "group": _groups,
    "connector": _connectors,
    "stream": _streams,
    "subject": _subjects,
}


def register(server: MCPServer[Any]) -> None:
    """Answer ``completion/complete`` (and so declare the completions capability)."""
    server._lowlevel_server.add_request_handler("completion/complete", CompleteRequestParams, complete)
