"""A fresh look at a cluster within a time budget, for the tools that say which brokers are up.

librdkafka keeps a metadata cache, and the controller keeps a dead broker registered until its session times out
(about 9 s in KRaft); during a controller move `describe_cluster` can hang. So an observation asks three ways at once
and keeps whatever answers in time:

- fresh metadata from a client made for this look (the brokers the controller has not fenced, and every partition);
- ``describe_cluster`` for the controller and the racks;
- a TCP connect to every broker address ever seen for this cluster and to the bootstrap addresses: a killed broker
  refuses connections at once, long before the controller fences it.

A broker is *down* when it is not in the metadata, or its address refuses connections. What could not be seen in
the budget is listed in ``gaps``, so a partial answer says what it is missing instead of timing out.
"""

from __future__ import annotations

import contextlib
import socket
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from typing import Any

from core.errors import translate_kafka_error


def parse_address(address: str) -> tuple[str, int] | None:
    """``host:port`` (``[v6]:port``) -> (host, port), or None when it does not parse."""
    text = address.strip()
    if not text:
        return None
    if "://" in text:
        text = text.split("://", 1)[1]
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        return None
    host = host.strip("[]")
    return (host, int(port)) if host and 0 < int(port) < 65536 else None


def probe(host: str, port: int, timeout: float) -> str | None:
    """None when something accepts a TCP connection there, else why not (refused, unreachable, no such host...)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        return f"cannot resolve {host!r} ({exc.strerror})"
    last = "no address"
    for family, kind, proto, _name, sockaddr in infos:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(sockaddr)
            return None
        except ConnectionRefusedError:
            last = "connection refused"
        except TimeoutError:
            last = f"no answer within {timeout:g}s"
        except OSError as exc:
            last = exc.strerror or type(exc).__name__
        finally:
            with contextlib.suppress(OSError):
                sock.close()
    return last


def probe_all(addresses: list[tuple[str, int]], timeout: float) -> dict[tuple[str, int], str | None]:
    """``probe`` of every address at once."""
    unique = sorted(set(addresses))
    if not unique:
        return {}
    with ThreadPoolExecutor(max_workers=min(16, len(unique))) as pool:
        futures = {a: pool.submit(probe, a[0], a[1], timeout) for a in unique}
        return {a: f.result() for a, f in futures.items()}


@dataclass
class Observation:
    """What a look at the cluster found within its budget."""

    meta: Any = None  # ClusterMetadata, or None when no broker answered in time
    desc: Any = None  # DescribeClusterResult, or None
    probes: dict[tuple[str, int], str | None] = field(default_factory=dict)
    addresses: dict[int, tuple[str, int]] = field(default_factory=dict)  # broker id -> address, every one known
    racks: dict[int, str | None] = field(default_factory=dict)
    gaps: list[str] = field(default_factory=list)  # what could not be seen, and why
    seconds: float = 0.0

    @property
    def registered(self) -> set[int]:
        """Brokers in the fresh metadata (registered and not fenced)."""
        return set(self.meta.brokers) if self.meta is not None else set()

    def answering(self, broker: int) -> bool | None:
        """True/False from the TCP probe of the broker's address; None when its address is unknown."""
        address = self.addresses.get(broker)
        if address is None or address not in self.probes:
            return None
        return self.probes[address] is None

    def down(self, brokers: set[int]) -> dict[int, str]:
        """broker id -> why it counts as down, among ``brokers``."""
        out: dict[int, str] = {}
        for b in sorted(brokers):
            answering = self.answering(b)
            address = self.addresses.get(b)
            where = f" at {address[0]}:{address[1]}" if address else ""
            if answering is False:
                out[b] = f"not answering{where} ({self.probes[address]})" if address else "not answering"
            elif self.meta is not None and b not in self.registered:
                out[b] = f"not in the cluster metadata (fenced or stopped){where}"
        return out

    @property
    def controller(self) -> int | None:
        if self.desc is None or self.desc.controller is None:
            return None
        return int(self.desc.controller.id)


def observe(
    admin: Any,
    *,
    known: dict[int, tuple[str, int]],
    bootstrap: str,
    budget: float,
    probe_timeout: float = 1.0,
) -> Observation:
    """Fresh metadata, the controller and a probe of every known broker, within ``budget`` seconds.

    ``admin`` should be a client made for this look (see ``KafkaClients.fresh_admin``); ``known`` is every broker
    address seen for this cluster before (so a broker that is gone from the metadata is still probed).
    """
    started = time.monotonic()
    deadline = started + budget
    obs = Observation(addresses=dict(known))
    seeds = [a for a in (parse_address(s) for s in bootstrap.split(",")) if a is not None]
    pool = ThreadPoolExecutor(max_workers=3)
    try:
        meta_f: Future[Any] = pool.submit(admin.list_topics, timeout=max(1.0, budget - 1.0))
        desc_f: Future[Any] = pool.submit(
            lambda: admin.describe_cluster(request_timeout=max(1.0, budget - 1.5)).result(timeout=budget)
        )
        first: Future[Any] = pool.submit(probe_all, [*known.values(), *seeds], probe_timeout)
        obs.probes = dict(_result(first, deadline, obs, "broker addresses") or {})
        if obs.probes and all(why is not None for why in obs.probes.values()):
            # Nothing accepts a connection: no point waiting for answers that cannot come.
            obs.gaps.append("cluster metadata: no broker address accepts connections")
            obs.seconds = round(time.monotonic() - started, 3)
            return obs
        obs.meta = _result(meta_f, deadline, obs, "cluster metadata")
        if obs.meta is not None:
            for b in obs.meta.brokers.values():
                obs.addresses[int(b.id)] = (str(b.host), int(b.port))
            fresh = [a for a in obs.addresses.values() if a not in obs.probes]
            if fresh:
                obs.probes.update(probe_all(fresh, min(probe_timeout, max(0.2, deadline - time.monotonic()))))
        obs.desc = _result(desc_f, deadline, obs, "the controller (describe_cluster)")
        if obs.desc is not None:
            for node in obs.desc.nodes:
                obs.addresses[int(node.id)] = (str(node.host), int(node.port))
                obs.racks[int(node.id)] = node.rack
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    obs.seconds = round(time.monotonic() - started, 3)
    return obs


def _result(future: Future[Any], deadline: float, obs: Observation, what: str) -> Any:
    try:
        return future.result(timeout=max(0.05, deadline - time.monotonic()))
    except FutureTimeout:
        obs.gaps.append(f"{what}: no answer within the time budget")
    except Exception as exc:
        obs.gaps.append(f"{what}: {translate_kafka_error(exc, what=what).message}")
    return None
