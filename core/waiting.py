"""One way to wait for the cluster to show something: look, and look again until it does or time runs out."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(
    look: Callable[[], T],
    done: Callable[[T], bool],
    *,
    timeout: float,
    interval: float = 0.5,
    on_look: Callable[[T], None] | None = None,
) -> tuple[T, bool]:
    """Call ``look`` until ``done(value)`` or ``timeout`` seconds pass; returns the last value and whether it was
    done. ``on_look`` sees every value (progress reports). Brokers answer from metadata that trails a change by a
    moment, so a check right after a change needs this."""
    deadline = time.monotonic() + timeout
    while True:
        value = look()
        if on_look is not None:
            on_look(value)
        if done(value):
            return value, True
        left = deadline - time.monotonic()
        if left <= 0:
            return value, False
        time.sleep(min(interval, left))
