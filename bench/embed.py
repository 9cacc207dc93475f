"""Embedding benchmark: encode throughput and single-query latency, onnx and torch side by side in one run.

    uv run python bench/embed.py                 # about 1-2 minutes on 2 cores
    uv run python bench/embed.py --texts 3000 --rounds 5 --queries 200

Texts are the short records of bench/memory.py (what ``memory_store`` encodes). The onnx rows also compare the
session layouts (one session with 2 threads, or 2 sessions of 1 thread each over a small pool) and mini-batch sizes,
which is how ``memory.onnx_model`` picked its defaults. The export cache is a temporary folder, so the first onnx
row also times a cold export.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUERY = "why is consumer lag growing on the prod-eu payments topic"


def short_records(n: int) -> list[str]:
    spec = importlib.util.spec_from_file_location("bench_memory", ROOT / "bench" / "memory.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return [module.synthetic(i)[0] for i in range(n)]


def rate(encode: Callable[[list[str]], Any], texts: list[str], rounds: int) -> float:
    """Best of ``rounds`` whole passes, in texts per second (the best run is the one least disturbed by others)."""
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        encode(texts)
        best = max(best, len(texts) / (time.perf_counter() - started))
    return best


def latency(encode: Callable[[list[str]], Any], queries: int) -> tuple[float, float]:
    """p50 and p95 of one-query encodes, in ms."""
    for _ in range(5):
        encode([QUERY])
    times = []
    for i in range(queries):
        started = time.perf_counter()
        encode([f"{QUERY} {i}"])
        times.append((time.perf_counter() - started) * 1000)
    cuts = statistics.quantiles(times, n=20)
    return statistics.median(times), cuts[18]


def main(args: argparse.Namespace) -> None:
    from memory.embeddings import Embedder
    from memory.onnx_model import OnnxEncoder

    texts = short_records(args.texts)
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"{len(texts)} short records (best of {args.rounds}), {args.queries} single queries")
    print(f"{os.cpu_count()} cores, load average {load} at the start")
    print(f"{'backend':<34} {'texts/s':>8} {'p50 ms':>8} {'p95 ms':>8}")
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        onnx = Embedder(backend="onnx", cache_dir=Path(cache))
        onnx.encode(["warm up"])
        print(f"onnx: first start with export {time.perf_counter() - started:.1f} s ({onnx.active_backend})")
        started = time.perf_counter()
        onnx = Embedder(backend="onnx", cache_dir=Path(cache))
        onnx.encode(["warm up"])
        print(f"onnx: later start from the cache {time.perf_counter() - started:.1f} s")
        onnx_file = next(Path(cache).glob("*/model.onnx"))
        for sessions, threads in ((1, 2), (2, 1)):
            for batch in (16, 32, 64):
                enc = OnnxEncoder(onnx_file, onnx.path, sessions=sessions, threads=threads, mini_batch=batch)
                enc.encode(texts[:64])
                p50, p95 = latency(enc.encode, args.queries) if batch == 32 else (float("nan"), float("nan"))
                label = f"onnx {sessions} session(s) x {threads} thread(s), batch {batch}"
                print(f"{label:<34} {rate(enc.encode, texts, args.rounds):>8.0f} {p50:>8.2f} {p95:>8.2f}")
                enc.close()
        p50, p95 = latency(onnx.encode, args.queries)
        print(f"{'onnx Embedder (defaults)':<34} {rate(onnx.encode, texts, args.rounds):>8.0f} {p50:>8.2f} {p95:>8.2f}")
    torch = Embedder(backend="torch")
    torch.encode(["warm up"])
    p50, p95 = latency(torch.encode, args.queries)
    print(f"{'torch Embedder (batch 64)':<34} {rate(torch.encode, texts, args.rounds):>8.0f} {p50:>8.2f} {p95:>8.2f}")
    print(f"load average {', '.join(f'{x:.1f}' for x in os.getloadavg())} at the end")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=1000, help="short records per throughput pass")
    parser.add_argument("--rounds", type=int, default=3, help="throughput passes per row (the best is shown)")
    parser.add_argument("--queries", type=int, default=100, help="single-query encodes for the latency figures")
    main(parser.parse_args())
