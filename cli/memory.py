"""``kafka-agent memory store|search|get|list|delete``: the memory store from the terminal, in readable tables.

It opens the same store as the server (embedded Chroma under the data folder, or KAFKA_AGENT_CHROMA_URL). An
embedded store is locked by the process using it: while a server holds it, use the server's tools or run Chroma
as a server for both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from memory.models import LAYERS, MAX_LIST_LIMIT, MAX_SEARCH_LIMIT


def _filters_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cluster", help="only records whose key names this cluster")
    p.add_argument("--type", help="only this record type (e.g. troubleshooting)")
    p.add_argument("--layer", choices=LAYERS, help="only this layer")
    p.add_argument("--category", help="only this category")
    p.add_argument("--project", help="only this project")
    p.add_argument("--namespace", help="only this namespace")
    p.add_argument("--tag", action="append", default=[], help="only records with this tag (repeatable)")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = sub.add_parser("store", help="store a record (TEXT '-' reads standard input)")
    p.add_argument("text", help="the text to remember, or '-' for standard input")
    p.add_argument("--key", help="kafka-streaming-agent/<cluster>/<type>[/<name>] (else --cluster + --category)")
    p.add_argument("--cluster", help="cluster to file it under when --key is omitted")
    p.add_argument("--namespace", default="default")
    p.add_argument("--layer", choices=LAYERS, default="long_term")
    p.add_argument("--category")
    p.add_argument("--project")
    p.add_argument("--agent")
    p.add_argument("--intent")
    p.add_argument("--tag", action="append", default=[], help="a tag (repeatable)")

    p = sub.add_parser("search", help="find records by meaning")
    p.add_argument("query")
    p.add_argument("--limit", type=int, default=5, help=f"1-{MAX_SEARCH_LIMIT} (default 5)")
    p.add_argument("--min-score", type=float, help="drop results below this similarity")
    p.add_argument(
        "--mode",
        choices=("hybrid", "vector", "lexical"),
        default="hybrid",
        help="hybrid (default): meaning and exact terms fused; vector: meaning only; lexical: terms only (BM25)",
    )
    _filters_args(p)

    p = sub.add_parser("get", help="show the record under a key, or every record matching a pattern")
    p.add_argument("key", help="exact key or glob, e.g. 'kafka-streaming-agent/*/performance-tuning'")
    p.add_argument("--limit", type=int, default=50, help=f"1-{MAX_LIST_LIMIT} (default 50)")
    p.add_argument("--cluster", help="only records of this cluster")

    p = sub.add_parser("list", help="list records, newest first")
    p.add_argument("--limit", type=int, default=50, help=f"1-{MAX_LIST_LIMIT} (default 50)")
    _filters_args(p)

    p = sub.add_parser("delete", help="delete the record under a key, or every record matching a pattern")
    p.add_argument("key")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")


def run(args: argparse.Namespace) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from rich.console import Console

    from core.errors import KafkaAgentError
    from core.settings import Settings

    err = Console(stderr=True)
    try:
        settings = Settings()
        from memory.store import MemoryStore

        # One command: no in-process copy to load, except for a search that uses the lexical index (which lives in
        # the copy); it waits for the copy to load.
        lexical = args.action == "search" and args.mode != "vector"
        store = MemoryStore.from_settings(settings, search_copy=lexical)
        if lexical and store.search_cache is not None:
            store.search_cache.wait(600)
    except KafkaAgentError as exc:
        err.print(f"[red]kafka-agent memory:[/red] {exc}", markup=True, highlight=False)
        return 2
    try:
        return _dispatch(args, store, settings, Console(), err)
    except KafkaAgentError as exc:
        err.print(f"[red]kafka-agent memory:[/red] {exc}", markup=True, highlight=False)
        return 2
    finally:
        store.close()


def _filters(args: argparse.Namespace) -> Any:
    from memory.search import Filters

    return Filters(
        type=args.type,
        layer=args.layer,
        category=args.category,
        project=args.project,
        namespace=args.namespace,
        tags=args.tag,
    )


def _dispatch(args: argparse.Namespace, store: Any, settings: Any, out: Any, err: Any) -> int:
    from memory.models import MemoryInput, MemoryMetadata

    if args.action == "store":
        text = sys.stdin.read() if args.text == "-" else args.text
        meta = MemoryMetadata(
            key=args.key,
            namespace=args.namespace,
            layer=args.layer,
            category=args.category,
            project=args.project,
            agent=args.agent,
            intent=args.intent,
            tags=args.tag,
        )
        result = store.store(
            [MemoryInput(text=text, metadata=meta)], cluster=args.cluster, default_cluster=settings.cluster(None).name
        )
        if args.json:
            return _print_json(out, result)
        table = _table("key", "action", "chunks", "expires", "duplicate of")
        for o in result.stored:
            table.add_row(o.key, o.action, str(o.chunks), o.expires_at or "never", o.duplicate_of or "")
        out.print(table)
        return 0
    if args.action == "search":
        result = store.search(
            args.query,
            limit=args.limit,
            cluster=args.cluster,
            filters=_filters(args),
            min_score=args.min_score,
            mode=args.mode,
        )
        if args.json:
            return _print_json(out, result)
        table = _table("score", "key", "layer", "updated", "text")
        for hit in result.hits:
            r = hit.record
            table.add_row(f"{hit.score:.3f}", r.key, r.layer, r.updated_at, _short(r.text))
        out.print(table)
        if not result.hits:
            err.print("no matching records")
        if result.note:
            err.print(f"note: {result.note}", markup=False, highlight=False)
        return 0
    if args.action in ("get", "list"):
        if args.action == "get":
            result = store.retrieve(args.key, limit=args.limit, cluster=args.cluster)
        else:
            result = store.list_records(cluster=args.cluster, filters=_filters(args), limit=args.limit)
        if args.json:
            return _print_json(out, result)
        if args.action == "get" and len(result.records) == 1:
            r = result.records[0]
            meta = _table("field", "value")
            for name, value in r.model_dump(exclude={"text"}).items():
                meta.add_row(name, ", ".join(value) if isinstance(value, list) else str(value or ""))
            out.print(meta)
            out.print(r.text, markup=False, highlight=False)
            return 0
        table = _table("key", "namespace", "layer", "updated", "text")
        for r in result.records:
            table.add_row(r.key, r.namespace, r.layer, r.updated_at, _short(r.text))
        out.print(table)
        err.print(f"{len(result.records)} of {result.total} record(s)")
        return 0
    # delete
    keys = store.matching_keys(args.key)
    if not keys:
        err.print(f"no memory record matches {args.key!r}")
        return 1
    for key in keys:
        err.print(f"  {key}", markup=False, highlight=False)
    if not args.yes:
        if not sys.stdin.isatty():
            err.print(f"{len(keys)} record(s) would be deleted; run again with --yes to delete them.")
            return 1
        answer = input(f"Delete these {len(keys)} record(s) permanently? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            err.print("nothing deleted")
            return 1
    result = store.delete(keys)
    if args.json:
        return _print_json(out, result)
    err.print(f"deleted {len(result.deleted)} record(s)")
    return 0


def _table(*columns: str) -> Any:
    from rich.table import Table

    table = Table(show_lines=False)
    for col in columns:
        table.add_column(col, no_wrap=col == "key", overflow="ellipsis" if col == "key" else "fold")
    return table


def _short(text: str, width: int = 100) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _print_json(out: Any, model: Any) -> int:
    out.print_json(json.dumps(model.model_dump(mode="json")))
    return 0
