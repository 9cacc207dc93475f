"""What the server lifespan yields: settings, Kafka clients, the safety gate, and lazily built resources."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

import anyio.to_thread
from pydantic import BaseModel

from mcp_server.kafka.clients import KafkaClients
from mcp_server.safety import Change, Safety
from mcp_server.settings import Settings

T = TypeVar("T")


class LazyResources:
    """Heavy resources (memory store, REST clients, stream runners) built on first use and closed with the server.

    Keeps torch, Chroma and friends off the start-up path: nothing here is built until a tool asks for it.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: dict[str, Any] = {}

    def get(self, key: str, factory: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._items:
                self._items[key] = factory()
            item: T = self._items[key]
            return item

    def peek(self, key: str) -> Any | None:
        with self._lock:
            return self._items.get(key)

    def close(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        for item in reversed(items):
            closer = getattr(item, "close", None)
            if callable(closer):
                closer()


@dataclass
class AppContext:
    settings: Settings
    clients: KafkaClients
    safety: Safety
    lazy: LazyResources = field(default_factory=LazyResources)

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        """Run a blocking call (confluent-kafka, Chroma, embeddings) off the event loop."""
        return await anyio.to_thread.run_sync(partial(fn, *args, **kwargs))

    async def audited(self, change: Change, decision: str, act: Awaitable[T]) -> T:
        """Await an allowed change and write its audit line: the result, or the error (which is re-raised)."""
        try:
            result = await act
        except Exception as exc:
            self.safety.record(change, decision=decision, error=str(exc))
            raise
        self.safety.record(
            change, decision=decision, result=result.model_dump() if isinstance(result, BaseModel) else result
        )
        return result

    @property
    def timeout(self) -> float:
        return self.settings.request_timeout_s

    def close(self) -> None:
        self.lazy.close()
        self.clients.close()


def build_app_context(settings: Settings) -> AppContext:
    return AppContext(settings=settings, clients=KafkaClients(settings), safety=Safety(settings))
