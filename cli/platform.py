"""``kafka-agent export | plan | apply | drift``: the platform as code (the work is in ``gitops``).

One module for the four commands (``cli.COMMANDS`` names it for each; the command is the last word of the parser's
``prog``):

    export [--cluster C] [--prefix P] [-o FILE] [--format platform|strimzi] [--commit]
    plan   -f FILE [--cluster C] [--target T] [--out PLAN.json] [--json]       exit 0 no changes, 2 changes, 1 refused
    apply  PLAN.json [--allow-delete] [--approve] [--json]                     exit 0 applied / nothing to do, 1 not
    drift  -f FILE [--cluster C] [--target T] [--json]                         exit 0 in sync, 2 drift, 1 error

The person running ``apply`` is the one consenting (see ``gitops.consent``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.app import AppContext


def _command(parser: argparse.ArgumentParser) -> str:
    return parser.prog.split()[-1]


def configure(parser: argparse.ArgumentParser) -> None:
    command = _command(parser)
    parser.set_defaults(platform_command=command)
    parser.add_argument("--clusters-file", help="YAML file of named clusters (else KAFKA_AGENT_CLUSTERS_FILE)")
    parser.add_argument("--bootstrap-servers", help="bootstrap servers of the default cluster")
    parser.add_argument("--json", action="store_true", help="print JSON")
    if command == "export":
        parser.add_argument("--cluster", help="configured cluster to export (default: the default cluster)")
        parser.add_argument("--prefix", help="export only resources whose name starts with this (and manage it)")
        parser.add_argument("-o", "--output", default="platform.yaml", help="file to write (default platform.yaml)")
        parser.add_argument("--section", help="name of the file's section (default: the cluster's name)")
        parser.add_argument("--format", choices=["platform", "strimzi"], default="platform")
        parser.add_argument("--strimzi-cluster", default="my-cluster", help="strimzi.io/cluster label (strimzi)")
        parser.add_argument("--namespace", help="metadata.namespace of the manifests (strimzi)")
        parser.add_argument("--no-crd-check", action="store_true", help="strimzi: skip the check against the CRDs")
        parser.add_argument("--commit", action="store_true", help="commit the written files (inside a Git work tree)")
        parser.add_argument("-m", "--message", help="commit message")
    elif command in ("plan", "drift"):
        parser.add_argument("-f", "--file", required=True, help="the platform file")
        parser.add_argument("--cluster", action="append", help="plan only this section (repeatable)")
        parser.add_argument("--target", help="plan the (one) section against this configured cluster instead")
        if command == "plan":
            parser.add_argument("--out", help="save the plan here (apply takes it)")
    elif command == "apply":
        parser.add_argument("plan", help="a plan saved by `kafka-agent plan --out`")
        parser.add_argument("--allow-delete", action="store_true", help="let the plan's deletions run (with consent)")
        parser.add_argument("--approve", action="store_true", help="you consent to the plan's destructive steps")


def _app(args: argparse.Namespace) -> AppContext:
    from core.app import build_app_context
    from core.settings import Settings

    overrides: dict[str, object] = {}
    if args.clusters_file:
        overrides["clusters_file"] = args.clusters_file
    if args.bootstrap_servers:
        overrides["bootstrap_servers"] = args.bootstrap_servers
    return build_app_context(Settings(**overrides), transport="cli")  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    from core.errors import KafkaAgentError
    from core.gate import ConsentRequired

    command: str = args.platform_command
    try:
        app = _app(args)
    except KafkaAgentError as exc:
        print(f"kafka-agent {command}: {exc}", file=sys.stderr)
        return 1
    try:
        return int({"export": _export, "plan": _plan, "apply": _apply, "drift": _drift}[command](app, args))
    except ConsentRequired as pending:
        preview = pending.preview
        if preview is not None and preview.approval_id:
            print(
                f"kafka-agent apply: waiting for approval {preview.approval_id}: {preview.effect}\n"
                f"Grant it with `kafka-agent approvals approve {preview.approval_id}` and run the same apply again.",
                file=sys.stderr,
            )
        else:
            print(f"kafka-agent apply: consent needed: {pending}", file=sys.stderr)
        return 1
    except KafkaAgentError as exc:
        print(f"kafka-agent {command}: {exc}", file=sys.stderr)
        return 1
    finally:
        app.close()


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


# --- export -------------------------------------------------------------------------------------------------------


def _export(app: AppContext, args: argparse.Namespace) -> int:
    from gitops import gitinfo, strimzi
    from gitops.export import export
    from gitops.model import dump

    out = Path(args.output)
    cfg = app.clients.cluster(args.cluster)
    written: list[Path] = []
    if args.format == "strimzi":
        exported = export(app, cfg.name, prefix=args.prefix, kinds=["topics", "acls", "users"])
        section = next(iter(exported.platform.clusters.values()))
        items = strimzi.manifests(section, strimzi_cluster=args.strimzi_cluster, namespace=args.namespace)
        if not args.no_crd_check:
            strimzi.validate(items, strimzi.crd_schemas())
        out.write_text(strimzi.dump(items), encoding="utf-8")
        written.append(out)
    else:
        folder = out.resolve().parent / "schemas"
        exported = export(
            app,
            cfg.name,
            prefix=args.prefix,
            schemas_dir=folder,
            relative_to=out.resolve().parent,
            section_name=args.section,
        )
        for path, text in exported.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            written.append(path)
        out.write_text(dump(exported.platform), encoding="utf-8")
        written.insert(0, out)
    commit = None
    if args.commit:
        message = args.message or f"kafka-agent export of cluster {cfg.name}" + (
            f" (prefix {args.prefix})" if args.prefix else ""
        )
        commit = gitinfo.commit(written, message)
    if args.json:
        _print_json({"written": [str(p) for p in written], "commit": commit, "warnings": exported.warnings})
    else:
        for path in written:
            print(f"wrote {path}")
        for warning in exported.warnings:
            print(f"note: {warning}")
        if commit:
            print(f"committed {commit[:12]}")
    return 0


# --- plan and drift -----------------------------------------------------------------------------------------------


def _plan(app: AppContext, args: argparse.Namespace) -> int:
    from gitops import files
    from gitops.plan import make_plan, render

    path = Path(args.file)
    platform, where, git = files.load(path)
    plan = make_plan(app, platform, where, sections=args.cluster, target=args.target, file=str(path.resolve()), git=git)
    if args.out:
        files.save_plan(plan, Path(args.out))
    if args.json:
        print(plan.model_dump_json(indent=2))
    else:
        print(render(plan))
        if args.out:
            print(f"Saved to {args.out}: `kafka-agent apply {args.out}` executes exactly this plan.")
    return plan.exit_code


def _drift(app: AppContext, args: argparse.Namespace) -> int:
    from gitops import files
    from gitops.drift import drift

    platform, where, _git = files.load(Path(args.file))
    report = drift(app, platform, where, sections=args.cluster, target=args.target)
    if args.json:
        print(report.model_dump_json(indent=2))
    elif report.in_sync:
        print("no drift: every managed resource matches the file")
    else:
        for item in report.items:
            print(f"{item.cluster}: {item.op} {item.resource}")
            for line in item.diff:
                print(f"    {line}")
    return 0 if report.in_sync else 2


# --- apply --------------------------------------------------------------------------------------------------------


def _ask_at_terminal(assume: bool) -> Any:
    def ask(effect: str, cluster: str, approval_id: str | None) -> bool | None:
        if assume:
            return True
        if not sys.stdin.isatty():
            return None
        sys.stderr.write(f"{effect}\n")
        if approval_id:
            sys.stderr.write(f"(approval {approval_id}: you decide it now)\n")
        typed = input(f"Type the cluster's name ({cluster}) to go ahead: ").strip()
        return typed == cluster

    return ask


def _apply(app: AppContext, args: argparse.Namespace) -> int:
    from core.gate import Requester
    from core.gate.approvals import person
    from gitops import files
    from gitops.apply import apply_plan
    from gitops.consent import PersonAtTerminal

    plan = files.load_plan(Path(args.plan))
    who = person()
    requester = Requester(f"cli:{who}", f"{who} (kafka-agent apply)")
    consent = PersonAtTerminal(who=who, ask=_ask_at_terminal(args.approve))
    result = apply_plan(
        app, plan, tool="kafka-agent apply", requester=requester, consent=consent, allow_delete=args.allow_delete
    )
    if args.json:
        print(result.model_dump_json(indent=2))
    else:
        for step in result.done:
            print(f"  done {step.step}. {step.action} {step.resource} (verified)")
        if result.failed is not None:
            print(
                f"  FAILED {result.failed.step}. {result.failed.action} {result.failed.resource}: {result.failed.error}"
            )
        for line in result.not_run:
            print(f"  not run: {line}")
        print(result.message)
    return 0 if result.status in ("applied", "already_applied") else 1
