"""Client quotas: producer/consumer byte rates, request percentage and controller mutation rate, per user and/or
client id (or their defaults), through the admin helper (Kafka's DescribeClientQuotas / AlterClientQuotas)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from core.errors import InvalidArgument
from core.kafka.jadmin import error_of
from core.waiting import until

if TYPE_CHECKING:
    from core.gate import Permit
    from core.kafka.jadmin import JavaAdmin

QuotaKey = Literal["producer_byte_rate", "consumer_byte_rate", "request_percentage", "controller_mutation_rate"]
QUOTA_KEYS: tuple[str, ...] = (
    "producer_byte_rate",
    "consumer_byte_rate",
    "request_percentage",
    "controller_mutation_rate",
)
DEFAULT = "<default>"  # the default entity (Kafka's --entity-default): applies to every user / client id without one


class QuotaEntry(BaseModel):
    user: str | None = Field(None, description="User principal name, '<default>' for the default user, or absent.")
    client_id: str | None = Field(None, description="Client id, '<default>' for the default client id, or absent.")
    quotas: dict[str, float] = Field(description="Quota key -> value (bytes/s, percent, or mutations/s).")


class QuotaList(BaseModel):
    entries: list[QuotaEntry]


class QuotaChange(BaseModel):
    user: str | None
    client_id: str | None
    before: dict[str, float]
    after: dict[str, float]
    validate_only: bool
    applied: bool


def entity_label(user: str | None, client_id: str | None) -> str:
    """How the gate and the audit log name a quota entity, e.g. ``user=alice,client-id=<default>``."""
    if user is None and client_id is None:
        raise InvalidArgument("Name a user, a client id, or both ('<default>' for the default entity).")
    parts = []
    if user is not None:
        parts.append(f"user={user}")
    if client_id is not None:
        parts.append(f"client-id={client_id}")
    return ",".join(parts)


def _entity(user: str | None, client_id: str | None) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    if user is not None:
        out["user"] = None if user == DEFAULT else user
    if client_id is not None:
        out["client-id"] = None if client_id == DEFAULT else client_id
    return out


def _component(kind: str, name: str | None) -> dict[str, Any] | None:
    if name is None:
        return None
    if name == DEFAULT:
        return {"entityType": kind, "default": True}
    return {"entityType": kind, "match": name}


def _row(raw: dict[str, Any]) -> QuotaEntry:
    entity = raw.get("entity") or {}

    def named(key: str) -> str | None:
        if key not in entity:
            return None
        return DEFAULT if entity[key] is None else str(entity[key])

    return QuotaEntry(
        user=named("user"),
        client_id=named("client-id"),
        quotas={k: float(v) for k, v in (raw.get("quotas") or {}).items()},
    )


def describe_client_quotas(
    jadmin: JavaAdmin, *, timeout: float, user: str | None = None, client_id: str | None = None, exact: bool = False
) -> QuotaList:
    """Quotas of every entity, or of the entities matching ``user`` / ``client_id`` (``exact``: only entities made of
    exactly the named parts)."""
    components = [c for c in (_component("user", user), _component("client-id", client_id)) if c]
    raw = jadmin.read_op("describeClientQuotas", {"components": components, "strict": exact}, timeout=timeout)
    rows = [_row(r) for r in raw]
    return QuotaList(entries=sorted(rows, key=lambda e: (e.user or "", e.client_id or "")))


def _check_values(set_quotas: dict[str, float]) -> None:
    for key, value in set_quotas.items():
        if key not in QUOTA_KEYS:
            raise InvalidArgument(f"Unknown quota {key!r}.", hint=f"Known quotas: {', '.join(QUOTA_KEYS)}.")
        if value <= 0:
            raise InvalidArgument(f"Quota {key} must be above 0 (remove it instead of setting 0), got {value}.")
        if key == "request_percentage" and value > 10_000:
            raise InvalidArgument("request_percentage is a percentage of one I/O thread x threads; at most 10000.")


def set_client_quotas(
    permit: Permit,
    jadmin: JavaAdmin,
    *,
    user: str | None,
    client_id: str | None,
    set_quotas: dict[str, float],
    remove: list[str],
    timeout: float,
    validate_only: bool = False,
) -> QuotaChange:
    """Set some quotas and remove others on one entity; returns the values before and after."""
    label = entity_label(user, client_id)
    permit.require("quota.alter", label)
    _check_values(set_quotas)
    unknown = [k for k in remove if k not in QUOTA_KEYS]
    if unknown:
        raise InvalidArgument(f"Unknown quota(s) {unknown}.", hint=f"Known quotas: {', '.join(QUOTA_KEYS)}.")
    both = sorted(set(set_quotas) & set(remove))
    if both:
        raise InvalidArgument(f"Quota(s) {both} are both set and removed; pick one.")
    if not set_quotas and not remove:
        raise InvalidArgument("Nothing to change: give quotas to set or to remove.")

    def current() -> dict[str, float]:
        found = describe_client_quotas(jadmin, timeout=timeout, user=user, client_id=client_id, exact=True).entries
        return next((e.quotas for e in found if e.user == user and e.client_id == client_id), {})

    before = current()
    ops = [{"key": k, "value": v} for k, v in sorted(set_quotas.items())] + [{"key": k, "value": None} for k in remove]
    args = {"alterations": [{"entity": _entity(user, client_id), "ops": ops}], "validateOnly": validate_only}
    result = jadmin.mutate_op(permit, "alterClientQuotas", args, timeout=timeout)
    for row in result:
        err = error_of(row.get("error"), what=f"set quotas of {label}")
        if err is not None:
            raise err
    expected = {k: v for k, v in {**before, **set_quotas}.items() if k not in remove}
    # The brokers answer from metadata that trails the change by a moment.
    after = before if validate_only else until(current, lambda now: now == expected, timeout=min(timeout, 10))[0]
    return QuotaChange(
        user=user,
        client_id=client_id,
        before=before,
        after=after,
        validate_only=validate_only,
        applied=not validate_only,
    )
