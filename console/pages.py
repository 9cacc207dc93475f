"""The pages: what each route reads (through ``console.views``, off the event loop) and which template shows it.

``page_routes(con, handler)`` gives the routes under the console's prefix; ``console.app`` adds the login, the static
files and the guard around them. Every POST route is wrapped in ``csrf_protected``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from console import views
from console.readers import AuditFilter
from console.security import csrf_protected, session_of
from core.errors import InvalidArgument, KafkaAgentError

if TYPE_CHECKING:
    from console.app import Console

Page = Callable[[Request], Awaitable[Response]]


def page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page") or 1))
    except ValueError:
        return 1


def is_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") is None


def page_routes(con: Console, handler: Callable[[Page], Page]) -> list[Route]:
    """The console's pages; ``handler`` turns a page's errors into an error page."""
    app, settings, prefix = con.app, con.settings, con.prefix

    # --- clusters -------------------------------------------------------------------------------------------------

    async def overview(request: Request) -> Response:
        import anyio

        names = list(settings.clusters())
        cards: dict[str, views.ClusterCard] = {}

        async def one(name: str) -> None:
            cards[name] = await con.run(views.cluster_card, app, con.sampler, name)

        async with anyio.create_task_group() as tg:
            for name in names:
                tg.start_soon(one, name)
        pending = await con.run(app.gate.store.list, status="pending")
        return con.render(
            request, "overview.html", nav="overview", cards=[cards[n] for n in names], pending=len(pending)
        )

    async def cluster_page(request: Request) -> Response:
        cluster = con.cluster(request)
        card = await con.run(views.cluster_card, app, con.sampler, cluster)
        return con.render(request, "cluster.html", nav="cluster", cluster=cluster, card=card)

    async def topics(request: Request) -> Response:
        cluster = con.cluster(request)
        query = request.query_params.get("q", "").strip()
        internal = request.query_params.get("internal") == "1"
        data = await con.run(
            views.topic_page, app, con.sampler, cluster, query=query, page=page_number(request), internal=internal
        )
        template = "topics_table.html" if is_fragment(request) else "topics.html"
        return con.render(request, template, nav="topics", cluster=cluster, data=data, q=query, internal=internal)

    async def topic(request: Request) -> Response:
        cluster = con.cluster(request)
        name = request.path_params["topic"]
        all_configs = request.query_params.get("configs") == "all"
        detail = await con.run(views.topic_detail, app, cluster, name, all_configs=all_configs)
        return con.render(
            request,
            "topic.html",
            nav="topics",
            cluster=cluster,
            topic=name,
            d=detail.description,
            marks=detail.watermarks,
            all_configs=all_configs,
            browse=views.BrowseRequest(),
            max_browse=views.MAX_BROWSE,
        )

    async def messages(request: Request) -> Response:
        cluster = con.cluster(request)
        name = request.path_params["topic"]
        req = views.parse_browse(dict(request.query_params))
        result = await con.run(views.browse, app, cluster, name, req)
        template = "messages.html" if is_fragment(request) else "messages_page.html"
        return con.render(request, template, nav="topics", cluster=cluster, topic=name, result=result, browse=req)

    async def groups(request: Request) -> Response:
        cluster = con.cluster(request)
        query = request.query_params.get("q", "").strip()
        data = await con.run(views.group_page, app, con.sampler, cluster, query=query, page=page_number(request))
        template = "groups_table.html" if is_fragment(request) else "groups.html"
        return con.render(request, template, nav="groups", cluster=cluster, data=data, q=query)

    def group_id(request: Request) -> str:
        gid = request.query_params.get("id", "")
        if not gid:
            raise InvalidArgument("Which group? The page needs ?id=<group id>.")
        return gid

    async def group(request: Request) -> Response:
        cluster = con.cluster(request)
        gid = group_id(request)
        detail = await con.run(views.group_detail, app, con.sampler, cluster, gid)
        template = "group_lag.html" if is_fragment(request) else "group.html"
        return con.render(
            request, template, nav="groups", cluster=cluster, gid=gid, g=detail, interval=con.sampler.interval
        )

    async def group_series(request: Request) -> Response:
        cluster = con.cluster(request)
        gid = group_id(request)
        con.sampler.watch(cluster, gid)
        return JSONResponse(views.lag_series(con.sampler, cluster, gid), headers={"cache-control": "no-store"})

    # --- runs -----------------------------------------------------------------------------------------------------

    async def runs(request: Request) -> Response:
        summaries = await con.run(con.runs.summaries)
        wanted = request.query_params.get("status", "")
        if wanted:
            summaries = [s for s in summaries if s.status == wanted]
        return con.render(
            request, "runs.html", nav="runs", runs=summaries[:500], total=len(summaries), run_status=wanted
        )

    async def run_page(request: Request) -> Response:
        task_id = request.path_params["task_id"]
        record = await con.run(con.runs.load, task_id)
        delegated = await con.run(con.runs.delegated_runs, record)
        approvals = await con.run(app.gate.store.list, status=None)
        mine = [a for a in approvals if a.requester == f"run:{task_id}"]
        return con.render(
            request,
            "run.html",
            nav="runs",
            r=record,
            durations=views.phase_durations(record),
            bar=views.phase_bar(record, views.phase_durations(record)),
            delegated=delegated,
            approvals=mine,
            args=views.shown_arguments,
            result=views.shown_result,
        )

    # --- approvals ------------------------------------------------------------------------------------------------

    async def approvals(request: Request) -> Response:
        show_all = request.query_params.get("all") == "1"
        records = await con.run(app.gate.store.list, status=None if show_all else "pending")
        records = sorted(records, key=lambda r: r.created, reverse=True)[:500]
        template = "approvals_table.html" if is_fragment(request) else "approvals.html"
        return con.render(request, template, nav="approvals", records=records, show_all=show_all)

    async def approval(request: Request) -> Response:
        record = await con.run(app.gate.store.get, request.path_params["approval_id"])
        record.status = record.live_status(time.time())
        return con.render(request, "approval.html", nav="approvals", a=record, args=views.shown_arguments, error=None)

    async def decide(request: Request, form: FormData) -> Response:
        from core.gate.approvals import decide as decide_approval

        approval_id = request.path_params["approval_id"]
        session = session_of(request)
        if settings.read_only:
            raise HTTPException(403, "The console is read-only: approvals cannot be decided here.")
        if session is None or not session.authenticated or request.state.bearer:
            raise HTTPException(403, "Decisions come from a login session only.")
        action = str(form.get("action") or "")
        reason = " ".join(str(form.get("reason") or "").split())[:500] or None
        if action not in ("approve", "deny"):
            raise InvalidArgument("Choose approve or deny.")
        try:
            if action == "deny" and not reason:
                raise InvalidArgument("Say why you deny it: the reason is recorded and shown to the asker.")
            await con.run(
                decide_approval,
                app.gate,
                approval_id,
                approve=action == "approve",
                by=f"{session.person} (console)",
                reason=reason,
            )
        except InvalidArgument as exc:
            record = await con.run(app.gate.store.get, approval_id)
            record.status = record.live_status(time.time())
            return con.render(
                request, "approval.html", 400, nav="approvals", a=record, args=views.shown_arguments, error=exc.message
            )
        return RedirectResponse(f"{prefix}/approvals/{approval_id}", status_code=303)

    # --- audit and memory -----------------------------------------------------------------------------------------

    async def audit(request: Request) -> Response:
        q = request.query_params
        flt = AuditFilter(
            cluster=q.get("cluster", ""),
            tool=q.get("tool", "").strip(),
            decision=q.get("decision", ""),
            since=q.get("since", "").strip(),
            until=q.get("until", "").strip(),
            text=q.get("text", "").strip(),
        )
        page = page_number(request)
        entries, total = await con.run(con.audit.query, flt, limit=views.PAGE, offset=(page - 1) * views.PAGE)
        facets = await con.run(con.audit.facets)
        pages = max(1, -(-total // views.PAGE))
        template = "audit_table.html" if is_fragment(request) else "audit.html"
        return con.render(
            request, template, nav="audit", entries=entries, total=total, page=page, pages=pages, f=flt, facets=facets
        )

    async def memory(request: Request) -> Response:
        query = request.query_params.get("q", "").strip()
        cluster = request.query_params.get("cluster", "")
        result, error = None, None
        if query:
            try:
                result = await con.run(views.memory_search, app, query, cluster or None, 20)
            except KafkaAgentError as exc:
                error = exc.message
        return con.render(request, "memory.html", nav="memory", q=query, mcluster=cluster, result=result, error=error)

    return [
        Route("/", handler(overview)),
        Route("/c/{cluster}", handler(cluster_page)),
        Route("/c/{cluster}/topics", handler(topics)),
        Route("/c/{cluster}/topics/{topic}", handler(topic)),
        Route("/c/{cluster}/topics/{topic}/messages", handler(messages)),
        Route("/c/{cluster}/groups", handler(groups)),
        Route("/c/{cluster}/group", handler(group)),
        Route("/c/{cluster}/group/series", handler(group_series)),
        Route("/runs", handler(runs)),
        Route("/runs/{task_id}", handler(run_page)),
        Route("/approvals", handler(approvals)),
        Route("/approvals/{approval_id}", handler(approval), methods=["GET"]),
        Route("/approvals/{approval_id}", handler(csrf_protected(decide)), methods=["POST"]),
        Route("/audit", handler(audit)),
        Route("/memory", handler(memory)),
    ]
