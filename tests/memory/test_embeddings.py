"""The onnx embedding backend against torch, on the real model: same vectors, same chunks, a cache that is reused,
rebuilt when corrupt, and that later starts never import torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.errors import ConfigError
from memory import onnx_model
from memory.embeddings import Embedder

ROOT = Path(__file__).resolve().parents[2]
LONG = " ".join(f"partition {i} of orders-v2 lags behind because the consumer rebalanced" for i in range(60))
TEXTS = [
    "consumer lag keeps growing on the payments topic",
    "",
    "   padded with spaces   ",
    LONG,  # well past the 256-token window: truncation must match
    "Größe der Nachrichten überschreitet message.max.bytes — 消息太大 🚀 ñ é ø",
    "tab\tand\nnewline, MIXED Case, under_scores and dots.in.names",
]


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx(cache: Path) -> Embedder:
    embedder = Embedder(cache_dir=cache)
    assert embedder.active_backend == "onnx"
    return embedder


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


def cosines(a: list[list[float]], b: list[list[float]]) -> Any:
    x, y = np.asarray(a), np.asarray(b)
    return (x * y).sum(axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))


def cached_folder(cache: Path) -> Path:
    (folder,) = [p.parent for p in cache.glob(f"*/{onnx_model.ONNX_FILE}")]
    return folder


def test_same_vectors_as_torch_on_short_long_and_unicode_texts(onnx: Embedder, torch_embedder: Embedder) -> None:
    assert len(onnx._offsets(LONG)) > 300
    got, want = onnx.encode(TEXTS), torch_embedder.encode(TEXTS)
    assert np.asarray(got).dtype == np.float64  # lists of Python floats, as before
    assert cosines(got, want).min() > 0.9999
    assert np.allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert onnx.dimension == torch_embedder.dimension == 384
    assert onnx.window_tokens == torch_embedder.window_tokens == 254


def test_order_is_kept_with_mixed_lengths(onnx: Embedder, torch_embedder: Embedder) -> None:
    texts = [f"note {i}: " + "offset commit failed " * ((i * 7) % 23) for i in range(150)]
    batch = onnx.encode(texts)  # sorted by length and spread over the sessions inside
    one_by_one = [onnx.encode([t])[0] for t in texts[:20]]
    assert cosines(batch[:20], one_by_one).min() > 0.9999
    assert cosines(batch, torch_embedder.encode(texts)).min() > 0.9999


def test_concurrent_callers_get_their_own_vectors(onnx: Embedder) -> None:
    groups = [[f"group {g} text {i} " + "x " * (i % 9) for i in range(40)] for g in range(6)]
    expected = [onnx.encode(g) for g in groups]
    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(onnx.encode, groups))
    for g, e in zip(got, expected, strict=True):
        assert cosines(g, e).min() > 0.9999


def test_chunk_spans_are_the_same_on_both_backends(onnx: Embedder, torch_embedder: Embedder) -> None:
    texts = [LONG, "零一二三四五六七八九 " * 120, "short", "word " * 2000, "ünïcödé-tokens " * 400]
    for text in texts:
        assert onnx.chunk(text) == torch_embedder.chunk(text)
        assert onnx.chunk(text, window=40, overlap=8) == torch_embedder.chunk(text, window=40, overlap=8)
    assert len(onnx.chunk("word " * 2000)) > 1


def test_a_second_embedder_reuses_the_export(onnx: Embedder, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    onnx.encode(["make sure the export exists"])
    folder = cached_folder(cache)
    info = json.loads((folder / onnx_model.INFO_FILE).read_text())
    assert info["opset"] == onnx_model.OPSET and info["min_cosine_vs_torch"] > onnx_model.MIN_COSINE
    stamp = (folder / onnx_model.ONNX_FILE).stat().st_mtime_ns

    def no_export(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("exported again although the cache is valid")

    monkeypatch.setattr(onnx_model, "export", no_export)
    again = Embedder(cache_dir=cache)
    assert again.active_backend == "onnx"
    assert cosines(again.encode(TEXTS), onnx.encode(TEXTS)).min() > 0.99999
    assert (folder / onnx_model.ONNX_FILE).stat().st_mtime_ns == stamp


def test_a_corrupt_cached_model_is_rebuilt(
    onnx: Embedder, cache: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    onnx.encode(["make sure the export exists"])
    broken = tmp_path / "cache"
    shutil.copytree(cache, broken)
    model = cached_folder(broken) / onnx_model.ONNX_FILE
    model.write_bytes(b"not an onnx file")
    with caplog.at_level(logging.WARNING, logger="kafka_agent.memory"):
        rebuilt = Embedder(cache_dir=broken)
        vectors = rebuilt.encode(TEXTS)
    assert rebuilt.active_backend == "onnx"
    assert "unusable" in caplog.text
    assert model.stat().st_size > 1_000_000
    assert cosines(vectors, onnx.encode(TEXTS)).min() > 0.99999


def test_a_later_start_never_imports_torch(onnx: Embedder, cache: Path) -> None:
    onnx.encode(["make sure the export exists"])
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from memory.embeddings import Embedder

        e = Embedder(cache_dir=Path({str(cache)!r}))
        e.encode(["why is lag growing", "x " * 600])
        e.chunk("word " * 900)
        heavy = [m for m in ("torch", "transformers", "sentence_transformers") if m in sys.modules]
        print(e.active_backend, heavy)
        """
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "onnx []", done.stderr


def test_a_model_that_is_not_mean_pooled_stays_on_torch(
    tmp_path: Path, onnx: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "cls-model"
    shutil.copytree(onnx.path, folder, symlinks=True)
    pooling = json.loads((folder / "1_Pooling" / "config.json").read_text())
    pooling.update(pooling_mode_mean_tokens=False, pooling_mode_cls_token=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with caplog.at_level(logging.WARNING, logger="kafka_agent.memory"):
        embedder = Embedder(str(folder), cache_dir=tmp_path / "cache")
        assert embedder.active_backend == "torch"
    assert "stays on torch" in caplog.text and "pooling" in caplog.text
    assert len(embedder.encode(["still encodes"])[0]) == 384
    assert not (tmp_path / "cache").exists()


def test_a_bad_backend_is_a_clear_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import ValidationError

    from core.settings import Settings

    assert Settings().embedding_backend == "onnx"
    monkeypatch.setenv("KAFKA_AGENT_EMBEDDING_BACKEND", "torch")
    assert Settings().embedding_backend == "torch"
    monkeypatch.setenv("KAFKA_AGENT_EMBEDDING_BACKEND", "tensorrt")
    with pytest.raises(ValidationError, match=r"embedding_backend[\s\S]*'onnx' or 'torch'"):
        Settings()
    with pytest.raises(ConfigError, match="KAFKA_AGENT_EMBEDDING_BACKEND"):
        Embedder(backend="tensorrt")  # type: ignore[arg-type]
