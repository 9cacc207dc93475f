"""The architecture, kept true by walking the code:

- the import arrows between our packages are exactly the ones ARCHITECTURE.md draws;
- every mutating Kafka admin operation, producer write and non-GET REST call sits in a function that takes a
  ``Permit`` and checks it (so it is only reachable through the gate);
- only the gate makes permits.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ["core", "memory", "devcluster", "streams", "monitoring", "agent", "console", "gitops", "mcp_server", "cli"]

# confluent-kafka AdminClient operations that change a cluster, and a producer's write.
MUTATING = {
    "create_topics",
    "delete_topics",
    "create_partitions",
    "incremental_alter_configs",
    "alter_configs",
    "delete_records",
    "alter_consumer_group_offsets",
    "delete_consumer_groups",
    "create_acls",
    "delete_acls",
    "alter_user_scram_credentials",
    "elect_leaders",
    "produce",
    # The admin helper's door for changes (core/kafka/jadmin.py: Kafka's Java Admin client in a JVM), and the raw
    # exchange behind both of its doors.
    "mutate_op",
    "_exchange",
}
REST_CALLS = {"request", "_request"}
# Places allowed a mutation without a permit, each with its reason.
EXEMPT = {
    # The consent store's own log: the gate's memory of consents, written by the gate itself.
    ("core/gate/kafka_store.py", "produce"),
    # The admin helper's two doors use the raw exchange: read_op sends reads only (the helper refuses a change sent as
    # a read), mutate_op is called only where a permit is checked (the walker sees every call of it).
    ("core/kafka/jadmin.py", "_exchange"),
}


def _sources() -> list[tuple[str, Path, ast.Module]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out.append((pkg, path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))))
    return out


def _drawn_arrows() -> dict[str, set[str]]:
    text = (ROOT / "ARCHITECTURE.md").read_text(encoding="utf-8")
    block = re.search(r"```arrows\n(.*?)```", text, re.S)
    assert block, "ARCHITECTURE.md must hold an ```arrows block"
    arrows: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        if "->" not in line:
            continue
        left, right = line.split("->", 1)
        arrows[left.strip()] = {t.strip() for t in right.split(",") if t.strip()}
    return arrows


def test_import_arrows_are_the_drawn_ones() -> None:
    found: dict[str, set[str]] = defaultdict(set)
    where: dict[tuple[str, str], str] = {}
    for pkg, path, tree in _sources():
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in PACKAGES and top != pkg:
                    found[pkg].add(top)
                    where.setdefault((pkg, top), f"{path.relative_to(ROOT)}:{node.lineno}")
    drawn = _drawn_arrows()
    assert set(drawn) == set(PACKAGES), "ARCHITECTURE.md must draw a line for every package"
    forbidden = [f"{a} -> {b} ({where[(a, b)]})" for a in PACKAGES for b in sorted(found[a] - drawn[a])]
    assert not forbidden, "imports ARCHITECTURE.md does not allow: " + "; ".join(forbidden)
    stale = [f"{a} -> {b}" for a in PACKAGES for b in sorted(drawn[a] - found[a])]
    assert not stale, "ARCHITECTURE.md draws arrows the code does not have: " + "; ".join(stale)


class _Walker(ast.NodeVisitor):
    """Finds mutating calls and the functions around them."""

    def __init__(self, rel: str, module_aliases: set[str]) -> None:
        self.rel = rel
        self.aliases = module_aliases
        self.stack: list[ast.AST] = []
        self.problems: list[str] = []

    def _permit_params(self, fn: ast.AST) -> list[str]:
        if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
            return []
        params = [*fn.args.posonlyargs, *fn.args.args, *fn.args.kwonlyargs]
        out = []
        for arg in params:
            ann = arg.annotation
            text = ast.unparse(ann) if ann is not None else ""
            if text.strip("'\"") == "Permit":
                out.append(arg.arg)
        return out

    @staticmethod
    def _requires(fn: ast.AST, param: str) -> bool:
        for node in ast.walk(fn):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "require"
                and isinstance(node.func.value, ast.Name)
                and node.func.value.id == param
            ):
                return True
        return False

    def _guarded(self) -> bool:
        for fn in reversed(self.stack):
            for param in self._permit_params(fn):
                if self._requires(fn, param):
                    return True
        return False

    def _flag(self, node: ast.AST, what: str) -> None:
        if (self.rel, what) in EXEMPT or self._guarded():
            return
        self.problems.append(f"{self.rel}:{getattr(node, 'lineno', '?')}: {what} outside a Permit-checking function")

    def generic_visit(self, node: ast.AST) -> None:
        scoped = isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        if scoped:
            self.stack.append(node)
        if isinstance(node, ast.Attribute) and node.attr in MUTATING:
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in self.aliases):
                self._flag(node, node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in REST_CALLS:
            method = node.args[0] if node.args else None
            if isinstance(method, ast.Constant) and isinstance(method.value, str) and method.value.upper() != "GET":
                kws = {k.arg: k.value for k in node.keywords}
                read_only = isinstance(kws.get("read_only"), ast.Constant) and kws["read_only"].value is True
                if not read_only:
                    if "permit" not in kws:
                        self.problems.append(
                            f"{self.rel}:{node.lineno}: {method.value} call without permit= or read_only=True"
                        )
                    else:
                        self._flag(node, f"{method.value} request")
        super().generic_visit(node)
        if scoped:
            self.stack.pop()


def _module_aliases(tree: ast.Module) -> set[str]:
    """Names bound to modules of ours (``from core.kafka import topics as ktopics``): calls through them are calls of
    our own domain functions, whose Permit parameter the type checker enforces."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
            for alias in node.names:
                out.add(alias.asname or alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    out.add(alias.asname or alias.name.split(".")[0])
    return out


def test_every_mutation_is_reached_through_the_gate() -> None:
    problems: list[str] = []
    for _pkg, path, tree in _sources():
        walker = _Walker(str(path.relative_to(ROOT)), _module_aliases(tree))
        walker.visit(tree)
        problems += walker.problems
    assert not problems, "mutations not behind a Permit:\n" + "\n".join(problems)


def test_only_the_gate_makes_permits() -> None:
    makers = []
    for _pkg, path, tree in _sources():
        rel = str(path.relative_to(ROOT))
        for node in ast.walk(tree):
            made = isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Permit"
            if made and rel != "core/gate/gate.py":
                makers.append(f"{rel}:{node.lineno}")
            if (
                isinstance(node, ast.Name)
                and node.id == "_GATE_ONLY"
                and rel
                not in (
                    "core/gate/gate.py",
                    "core/gate/change.py",
                )
            ):
                makers.append(f"{rel}:{node.lineno} uses the gate's key")
    assert not makers, "Permit made outside the gate: " + ", ".join(makers)


def test_the_walker_sees_a_side_door() -> None:
    """The check itself catches the kinds of code it must (so a green result means something)."""
    code = """
from core.kafka import topics as ktopics

def bad(admin):
    admin.delete_topics(["x"])

def also_bad(prod):
    send = prod.produce
    send("t", b"v")

def rest_bad(rest):
    rest.request("DELETE", "/subjects/x")

def helper_bad(jadmin):
    jadmin.mutate_op(None, "unregisterBroker", {"broker": 4}, timeout=5)

def good(permit: Permit, admin):
    permit.require("topic.delete", "x")
    admin.delete_topics(["x"])

def through_our_module(permit):
    ktopics.delete_topic(permit, None, "x", timeout=1)

def helper_good(permit: Permit, jadmin):
    permit.require("broker.unregister", "broker:4")
    jadmin.mutate_op(permit, "unregisterBroker", {"broker": 4}, timeout=5)
"""
    tree = ast.parse(code)
    walker = _Walker("example.py", _module_aliases(tree))
    walker.visit(tree)
    assert len(walker.problems) == 4, walker.problems
    assert any("mutate_op" in p for p in walker.problems)
    assert any("delete_topics" in p for p in walker.problems)
    assert any("produce" in p for p in walker.problems)
    assert any("DELETE" in p for p in walker.problems)
