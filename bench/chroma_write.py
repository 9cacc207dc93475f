"""Why memory_store stays near 0.7x the model's rate on 2 cores: the CPU a Chroma write costs, and whether it can run
beside the encoder.

    uv run python bench/chroma_write.py                # about 1 minute on 2 cores
    uv run python bench/chroma_write.py --records 20000

1. Chroma's upsert alone (an embedded PersistentClient in a temporary folder, random unit vectors of the model's
   width, batches of 500), per record, wall and CPU: with the metadata ``memory_store`` writes and the text as the
   document; with the text in the metadata instead; with one metadata key and no text.
2. The model alone on the same machine: texts/s and the cores it keeps busy, hence the CPU a record may spend outside
   the model for the store to reach 0.9x of the model's rate.
3. Overlap: the model encodes one half of the texts while another thread writes the other half to Chroma, against the
   two one after the other. Equal times mean the write holds the GIL (chroma-core/chroma#3873 released it for reads).
"""

from __future__ import annotations

import argparse
import contextlib
import random
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BATCH = 500


def texts(n: int) -> list[str]:
    rnd = random.Random(7)
    words = ["topic", "orders", "payments", "consumer", "lag", "partition", "replicas", "broker", "leader", "isr"]
    return [f"record {i}: " + " ".join(rnd.choice(words) for _ in range(14)) + f" (note {i})." for i in range(n)]


def metadata(text: str) -> dict[str, Any]:
    """What memory_store writes with a short record (memory.records, as bench/memory.py's direct inserts)."""
    from memory import records as R
    from memory.models import MemoryInput, MemoryMetadata

    meta = MemoryMetadata(category="troubleshooting", tags=["lag", "broker"])
    p = R.prepare(MemoryInput(text=text, metadata=meta), default_cluster="local")
    return {**p.base_metadata(created=1.0, updated=1.0, now=1.0), "chunk": 0, "chunks": 1, "keep": len(text)}


@contextlib.contextmanager
def scratch_collection() -> Iterator[Any]:
    """A collection of a new embedded Chroma in a temporary folder, opened as the store opens it."""
    from memory.chroma import open_embedded

    folder = Path(tempfile.mkdtemp(prefix="kafka-agent-chroma-bench-"))
    client, lock = open_embedded(folder)
    try:
        yield client.get_or_create_collection("bench", metadata={"hnsw:space": "cosine"}, embedding_function=None)
    finally:
        lock.release()
        shutil.rmtree(folder, ignore_errors=True)


def upsert_cost(variant: str, docs: list[str], vectors: Any) -> tuple[float, float]:
    """(wall ms, CPU ms) a record of Chroma upserts, for one way of laying out the record."""
    n = len(docs)
    metas = [metadata(d) for d in docs]
    if variant == "text in metadata":
        for m, d in zip(metas, docs, strict=True):
            m["chunk_text"] = d
    elif variant == "one key, no text":
        metas = [{"key": m["key"]} for m in metas]
    with scratch_collection() as col:
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, n, BATCH):
            part = slice(start, start + BATCH)
            ids = [f"c{i}" for i in range(start, min(start + BATCH, n))]
            if variant == "document":
                col.upsert(ids=ids, embeddings=vectors[part], documents=docs[part], metadatas=metas[part])
            else:
                col.upsert(ids=ids, embeddings=vectors[part], metadatas=metas[part])
        return (time.perf_counter() - wall) * 1000 / n, (time.process_time() - cpu) * 1000 / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10_000, help="records per Chroma variant")
    parser.add_argument("--overlap", type=int, default=2_000, help="texts in the overlap test (half each side)")
    args = parser.parse_args()

    import numpy as np

    from core.settings import Settings
    from memory.embeddings import Embedder

    settings = Settings()
    embedder = Embedder(settings.embedding_model, backend=settings.embedding_backend)
    embedder.encode(["warm up"])
    dim = len(embedder.encode(["width"])[0])
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((args.records, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = texts(args.records)

    print(f"1. Chroma upsert alone, {args.records} records in batches of {BATCH}, per record")
    for variant in ("document", "text in metadata", "one key, no text"):
        wall, cpu = upsert_cost(variant, docs, vectors)
        print(f"    {variant:<18} {wall:6.3f} ms wall  {cpu:6.3f} ms CPU")

    sample = texts(3_000)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(sample), BATCH):
        embedder.encode(sample[start : start + BATCH])
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    per_text = cpu * 1000 / len(sample)
    print(
        f"\n2. the model alone: {len(sample) / wall:.0f} texts/s, {cpu / wall:.2f} cores busy, "
        f"{per_text:.2f} ms CPU a text"
    )
    print(f"    at 0.9x of its rate a record may spend {per_text / 9:.2f} ms of CPU outside the model")

    half = args.overlap // 2
    words = texts(args.overlap)
    vecs = np.asarray(embedder.encode(words), dtype=np.float32)
    with scratch_collection() as col:

        def write(lo: int, hi: int, tag: str) -> None:
            ids = [f"{tag}{i}" for i in range(lo, hi)]
            metas = [metadata(w) for w in words[lo:hi]]
            col.upsert(ids=ids, embeddings=vecs[lo:hi], documents=words[lo:hi], metadatas=metas)

        t = time.perf_counter()
        embedder.encode(words[:half])
        encode_s = time.perf_counter() - t
        t = time.perf_counter()
        write(0, half, "a")
        write_s = time.perf_counter() - t
        t = time.perf_counter()
        writer = threading.Thread(target=write, args=(half, args.overlap, "b"))
        writer.start()
        embedder.encode(words[half:])
        writer.join()
        both_s = time.perf_counter() - t
    print(
        f"\n3. {half} texts: encode {encode_s:.2f} s, write {write_s:.2f} s, "
        f"one after the other {encode_s + write_s:.2f} s"
    )
    print(f"    encode and write in two threads at once: {both_s:.2f} s (hidden: {encode_s + write_s - both_s:+.2f} s)")


if __name__ == "__main__":
    main()
