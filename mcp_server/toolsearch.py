"""``kafka_find_tools``' search: which tool (and toolset) serves a request in plain words.

BM25 over each tool's name (split on ``_``), its description, and its toolset's title and description, with a small
vocabulary of the words operators use for Kafka things ("behind" for lag, "permission" for ACL...). Exact tool names
and identifiers in the request weigh as they should: a request that names a tool finds it first.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from mcp_server.toolsets import TOOLSETS

# Operator words -> the words our tools use. Applied to requests (and to tool texts, so both meet).
SYNONYMS: dict[str, tuple[str, ...]] = {
    "behind": ("lag",),
    "lagging": ("lag",),
    "backlog": ("lag",),
    "slow": ("lag", "performance"),
    "catch": ("lag",),
    "permission": ("acl", "acls"),
    "permissions": ("acl", "acls"),
    "access": ("acl", "acls", "grant"),
    "allow": ("acl", "grant"),
    "authorize": ("acl",),
    "password": ("scram", "user"),
    "credentials": ("scram", "user"),
    "remove": ("delete",),
    "drop": ("delete",),
    "purge": ("delete", "records"),
    "truncate": ("delete", "records"),
    "wipe": ("delete",),
    "make": ("create",),
    "add": ("create", "add"),
    "new": ("create",),
    "send": ("produce",),
    "write": ("produce",),
    "publish": ("produce",),
    "read": ("consume",),
    "peek": ("consume",),
    "messages": ("records", "consume"),
    "message": ("records", "consume"),
    "events": ("records",),
    "rewind": ("reset", "offsets"),
    "replay": ("reset", "offsets"),
    "seek": ("reset", "offsets"),
    "broker": ("cluster", "brokers"),
    "brokers": ("cluster",),
    "down": ("health",),
    "dead": ("health",),
    "healthy": ("health",),
    "status": ("health", "status"),
    "replicas": ("replication", "durability"),
    "isr": ("durability", "replication"),
    "durable": ("durability",),
    "settings": ("config", "configs"),
    "configuration": ("config", "configs"),
    "retention": ("config", "configs"),
    "avro": ("schema",),
    "registry": ("schema",),
    "compatible": ("compatibility",),
    "sink": ("connector", "connect"),
    "source": ("connector", "connect"),
    "jdbc": ("connector",),
    "s3": ("connector",),
    "replicate": ("mirror",),
    "replication": ("mirror", "durability"),
    "mirrormaker": ("mirror",),
    "ksql": ("ksql", "sql"),
    "ksqldb": ("ksql", "sql"),
    "query": ("sql", "ksql", "query"),
    "aggregate": ("stream", "sql"),
    "window": ("stream", "sql"),
    "remember": ("memory", "store"),
    "note": ("memory", "store"),
    "runbook": ("memory", "search"),
    "recall": ("memory", "search"),
    "benchmark": ("perf",),
    "throughput": ("perf", "partition"),
    "latency": ("perf",),
    "leader": ("leaders", "elect"),
    "leaders": ("elect",),
    "rebalance": ("elect", "leaders"),
    "partitions": ("partition", "partitions"),
    "key": ("partition", "strategy"),
    "keys": ("partition", "strategy"),
    "guardrail": ("policy",),
    "rules": ("policy", "policies"),
    "allowed": ("policy",),
    "readiness": ("audit",),
    "production": ("audit", "policy"),
    "transactions": ("exactly",),
    "exactly": ("exactly", "once"),
    "eos": ("exactly", "once"),
    "move": ("reassignment",),
    "decommission": ("reassignment", "drain"),
    "disk": ("log", "dirs"),
    "quota": ("quotas",),
    "throttle": ("quotas",),
}
SYNONYMS.update(
    {
        "exist": ("list",),
        "there": ("list",),
        "which": ("list",),
        "show": ("describe", "list"),
        "members": ("describe", "consumer"),
        "running": ("status",),
        "keeping": ("status", "lag"),
        "up": ("status",),
        "fix": ("search", "runbook", "memory"),
        "fixed": ("search", "runbook", "memory"),
        "before": ("search",),
        "last": ("search",),
        "many": ("strategy",),
        "need": ("strategy",),
        "second": ("throughput",),
        "sizing": ("strategy",),
        "spread": ("strategy", "skew"),
        "evenly": ("strategy", "skew"),
        "retire": ("reassignment", "drain"),
        "retiring": ("reassignment", "drain"),
        "off": ("drain",),
        "grant": ("grant", "acl"),
        "give": ("grant",),
        "revoke": ("delete",),
        "register": ("register",),
        "installed": ("plugins",),
        "plugin": ("plugins",),
        "config": ("config",),
        "apps": ("stream",),
        "app": ("stream",),
        "applications": ("stream",),
        "processing": ("stream",),
    }
)
_WORD = re.compile(r"[a-z0-9]+")
_ERROR_CODE = re.compile(r"\b[A-Z]{2,}(?:_[A-Z0-9]+)+\b")
STOP = {
    "the",
    "a",
    "an",
    "is",
    "are",
    "of",
    "to",
    "for",
    "with",
    "my",
    "i",
    "do",
    "what",
    "how",
    "we",
    "did",
    "this",
    "that",
    "it",
    "on",
    "in",
    "me",
    "be",
    "from",
    "and",
    "or",
    "any",
    "all",
    "can",
    "should",
    "would",
    "its",
}


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


def words(text: str) -> list[str]:
    out: list[str] = []
    if _ERROR_CODE.search(text):  # an error code in a request: how was it handled before?
        out += ["search", "memory", "runbook"]
    for word in _WORD.findall(text.lower().replace("_", " ").replace(".", " ")):
        if word in STOP:
            continue
        out.append(_stem(word))
        out.extend(_stem(w) for w in SYNONYMS.get(word, ()))
    return out


@dataclass
class Hit:
    name: str
    toolset: str
    score: float
    summary: str


class ToolIndex:
    """BM25 (k1 1.2, b 0.75) over the tools' texts; the name counts three times."""

    def __init__(self, tools: list[tuple[str, str, str]]) -> None:
        self.tools = tools  # (name, description, toolset)
        self.docs: list[Counter[str]] = []
        for name, description, toolset in tools:
            meta = TOOLSETS.get(toolset)
            text = " ".join([name] * 3 + [description, meta.title if meta else "", meta.description if meta else ""])
            self.docs.append(Counter(words(text)))
        self.avg = sum(sum(d.values()) for d in self.docs) / max(len(self.docs), 1)
        df: Counter[str] = Counter()
        for d in self.docs:
            df.update(d.keys())
        n = len(self.docs)
        self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in df.items()}

    def search(self, query: str, limit: int = 5) -> list[Hit]:
        terms = words(query)
        scored: list[Hit] = []
        asked = set(terms)
        for (name, description, toolset), doc in zip(self.tools, self.docs, strict=True):
            length = sum(doc.values())
            score = 0.0
            # How much of the tool's name the request covers ("remove the topic" covers delete_topic entirely).
            parts = {_stem(p) for p in name.split("_") if p != "kafka"}
            score += 4.0 * len(parts & asked) / max(len(parts), 1)
            for term in terms:
                tf = doc.get(term, 0)
                if tf:
                    score += self.idf[term] * tf * 2.2 / (tf + 1.2 * (0.25 + 0.75 * length / self.avg))
            if name in query:
                score += 100.0  # a request that names the tool
            if score > 0:
                summary = description.split(". ")[0].strip()[:200]
                scored.append(Hit(name=name, toolset=toolset, score=round(score, 3), summary=summary))
        scored.sort(key=lambda h: -h.score)
        return scored[:limit]
