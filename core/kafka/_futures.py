"""Waiting on confluent-kafka admin futures with a timeout and our error translation."""

from __future__ import annotations

from concurrent.futures import Future
from typing import Any, TypeVar

from core.errors import translate_kafka_error

T = TypeVar("T")


def wait(future: Future[T], *, what: str, timeout: float, bootstrap: str | None = None) -> T:
    """The future's result, or a ``KafkaAgentError`` that names ``what`` failed and what to do."""
    try:
        return future.result(timeout=timeout)
    except Exception as exc:
        raise translate_kafka_error(exc, what=what, bootstrap=bootstrap) from None


def wait_each(futures: dict[str, Future[T]], *, what: str, timeout: float) -> dict[str, T | Exception]:
    """Per-entity results: each key maps to its value or to the translated error (never all-or-nothing)."""
    out: dict[str, T | Exception] = {}
    for key, future in futures.items():
        try:
            out[key] = future.result(timeout=timeout)
        except Exception as exc:
            out[key] = translate_kafka_error(exc, what=f"{what} {key!r}")
    return out


def metadata(admin: Any, *, timeout: float, topic: str | None = None, bootstrap: str | None = None) -> Any:
    """``admin.list_topics`` (ClusterMetadata) with our error translation."""
    try:
        return admin.list_topics(topic=topic, timeout=timeout)
    except Exception as exc:
        raise translate_kafka_error(exc, what="fetch cluster metadata", bootstrap=bootstrap) from None
