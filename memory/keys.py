"""Record keys, slugs and glob patterns.

A key names one record: ``kafka-streaming-agent/<cluster>/<type>`` or, to keep several records of one type for a
cluster, ``kafka-streaming-agent/<cluster>/<type>/<name>``. Every part is a lowercase slug. Storing again under a
key updates that record.

A pattern selects keys with ``*`` (any run of characters inside one part), ``?`` (one character) and ``**`` (any
number of parts). A pattern also selects the named records below the keys it matches, so
``kafka-streaming-agent/*/performance-tuning`` finds ``kafka-streaming-agent/prod/performance-tuning`` and
``kafka-streaming-agent/prod/performance-tuning/batch-size``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase

from core.errors import InvalidArgument

ROOT = "kafka-streaming-agent"

KNOWN_TYPES: tuple[str, ...] = (
    "cluster-config",
    "performance-tuning",
    "troubleshooting",
    "streaming-pattern",
    "incident",
    "runbook",
    "schema",
    "connector",
    "benchmark",
)

MAX_PART = 63
_SLUG = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")
_PATTERN_PART = re.compile(r"^(\*\*|[a-z0-9_*?-]+)$")


def is_slug(value: str) -> bool:
    return len(value) <= MAX_PART and bool(_SLUG.match(value))


def check_slug(value: str, what: str) -> str:
    """``value`` if it is a lowercase slug, else a clear error naming ``what``."""
    if not is_slug(value):
        raise InvalidArgument(
            f"{what} {value!r} is not a lowercase slug.",
            hint=f"Use lowercase letters and digits joined by '-' or '_', at most {MAX_PART} characters "
            "(e.g. 'prod-us-east-1').",
        )
    return value


def check_type(value: str, *, allow_custom: bool) -> str:
    check_slug(value, "Record type")
    if value not in KNOWN_TYPES and not allow_custom:
        raise InvalidArgument(
            f"Record type {value!r} is not a known type and custom types are disabled.",
            hint=f"Use one of: {', '.join(KNOWN_TYPES)} (or set KAFKA_AGENT_MEMORY_ALLOW_CUSTOM_TYPES=true).",
        )
    return value


@dataclass(frozen=True)
class Key:
    cluster: str
    type: str
    name: str | None = None

    def __str__(self) -> str:
        base = f"{ROOT}/{self.cluster}/{self.type}"
        return f"{base}/{self.name}" if self.name else base


_KEY_HINT = (
    f"Write keys as '{ROOT}/<cluster>/<type>' or '{ROOT}/<cluster>/<type>/<name>', lowercase slugs, "
    f"e.g. '{ROOT}/prod-us-east-1/cluster-config'."
)


def parse_key(key: str, *, allow_custom: bool = True) -> Key:
    """Validate a record key and split it into its parts."""
    parts = key.split("/")
    if len(parts) not in (3, 4) or parts[0] != ROOT:
        raise InvalidArgument(f"Malformed memory key {key!r}.", hint=_KEY_HINT)
    check_slug(parts[1], "The cluster part of the key")
    check_type(parts[2], allow_custom=allow_custom)
    name = None
    if len(parts) == 4:
        name = check_slug(parts[3], "The name part of the key")
    return Key(cluster=parts[1], type=parts[2], name=name)


def is_pattern(text: str) -> bool:
    return any(ch in text for ch in "*?")


@dataclass(frozen=True)
class KeyPattern:
    """A validated glob over keys."""

    parts: tuple[str, ...]

    @classmethod
    def parse(cls, pattern: str) -> KeyPattern:
        parts = tuple(pattern.split("/"))
        if not parts or len(parts) > 4 or not all(_PATTERN_PART.match(p) for p in parts):
            raise InvalidArgument(
                f"Malformed key pattern {pattern!r}.",
                hint=f"Use key parts with '*', '?' or '**', e.g. '{ROOT}/*/performance-tuning' or '{ROOT}/prod/**'.",
            )
        return cls(parts)

    def matches(self, key: str) -> bool:
        return _match(self.parts, tuple(key.split("/")))

    def may_match(self, cluster: str, type_: str) -> bool:
        """Could a key of this cluster and type (named or not) match? Used to pick the collections to read."""
        return _prefix_may_match(self.parts, (ROOT, cluster, type_))


def _match(pat: tuple[str, ...], key: tuple[str, ...]) -> bool:
    if not pat:
        return True  # a shorter pattern also selects the records below what it names
    if pat[0] == "**":
        return any(_match(pat[1:], key[i:]) for i in range(len(key) + 1))
    if not key:
        return False
    return fnmatchcase(key[0], pat[0]) and _match(pat[1:], key[1:])


def _prefix_may_match(pat: tuple[str, ...], prefix: tuple[str, ...]) -> bool:
    """True when some key starting with ``prefix`` could match ``pat`` (a name part is still free)."""
    if not prefix:
        return True
    if not pat:
        return True
    if pat[0] == "**":
        return True
    return fnmatchcase(prefix[0], pat[0]) and _prefix_may_match(pat[1:], prefix[1:])
