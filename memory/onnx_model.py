"""The ONNX Runtime embedding backend: export a sentence-transformers model once with torch, then run it without.

On the 2-core reference machine (bench/embed.py) torch takes ~11.5 ms per single query and encodes ~240 short texts/s;
the same fp32 weights under ONNX Runtime take ~5-6 ms and ~290/s, with the same vectors. The export happens once per
model (cached by a digest of the model folder and the library versions); every later start loads ``model.onnx`` and
``tokenizer.json`` with ``onnxruntime`` and ``tokenizers`` only, so torch, transformers and sentence-transformers are
never imported. Only "Transformer + mean Pooling (+ Normalize)" models are exported; anything else stays on torch
(the caller decides, from the exception raised here).
"""

from __future__ import annotations

import contextlib
import hashlib
import inspect
import json
import logging
import os
import queue
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort  # type: ignore[import-untyped]  # ships no stubs
from tokenizers import Tokenizer

log = logging.getLogger("kafka_agent.memory")

FORMAT = 1  # bump when the export or the files beside it change: old caches are then ignored
OPSET = 17
ONNX_FILE = "model.onnx"
INFO_FILE = "model.json"
MIN_COSINE = 0.99999
# Measured on the 2-core reference machine (bench/embed.py, idle): two 1-thread sessions over length-sorted
# mini-batches give ~290 texts/s (16 or 32 alike, 64 ~275) against ~260 for one 2-thread session, which answers a
# single query faster (~3 ms against ~5-6 ms) but both are far inside the 30 ms search budget: throughput wins.
# One session per core, up to 4 (each holds its own copy of the weights, ~90 MB).
SESSIONS = max(1, min(4, os.cpu_count() or 1))
SESSION_THREADS = 1
MINI_BATCH = 32
DIRECT = 4  # inputs up to this many texts run on the calling thread
# Model inputs, in forward()'s order, and the tokenizers.Encoding attribute each is read from.
_ATTRS = {"input_ids": "ids", "attention_mask": "attention_mask", "token_type_ids": "type_ids"}
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_TRANSFORMER = "sentence_transformers.models.Transformer"
_POOLING = "sentence_transformers.models.Pooling"
_NORMALIZE = "sentence_transformers.models.Normalize"
# Checked at export (against torch) and at every load (against the vectors saved at export): short, unicode, and
# one text past the 256-token window, so truncation is covered too.
PROBES = (
    "consumer lag keeps growing on the payments topic",
    "Größe der Nachrichten überschreitet message.max.bytes — 消息太大 🚀",
    " ".join(f"broker-{i} replica fetcher throttled under load" for i in range(80)),
)


class NotExportable(Exception):
    """The model is not one this backend reproduces exactly (the message says why); use torch instead."""


@dataclass(frozen=True)
class ModelLayout:
    """What the sentence-transformers folder says about tokenisation and pooling."""

    max_seq_length: int
    dimension: int
    weights: Path


def read_layout(path: Path) -> ModelLayout:
    """Check the folder is Transformer + mean Pooling (+ Normalize) with a fast tokenizer, else NotExportable."""
    try:
        modules = json.loads((path / "modules.json").read_text(encoding="utf-8"))
        kinds = [str(m["type"]) for m in modules]
        if kinds not in ([_TRANSFORMER, _POOLING], [_TRANSFORMER, _POOLING, _NORMALIZE]):
            raise NotExportable(f"modules are {kinds}, not Transformer + Pooling (+ Normalize)")
        pooling_dir = path / str(modules[1]["path"])
        pooling = json.loads((pooling_dir / "config.json").read_text(encoding="utf-8"))
        modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v is True)
        if modes != ["pooling_mode_mean_tokens"]:
            raise NotExportable(f"pooling is {modes}, not mean tokens only")
        sbert = json.loads((path / "sentence_bert_config.json").read_text(encoding="utf-8"))
        if sbert.get("do_lower_case"):
            raise NotExportable("sentence_bert_config.json asks for do_lower_case")
        if not (path / "tokenizer.json").is_file():
            raise NotExportable("no tokenizer.json (fast tokenizer) in the model folder")
        weights = next((path / name for name in _WEIGHTS if (path / name).is_file()), None)
        if weights is None:
            raise NotExportable(f"no weights file ({' or '.join(_WEIGHTS)})")
        return ModelLayout(int(sbert["max_seq_length"]), int(pooling["word_embedding_dimension"]), weights)
    except (OSError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise NotExportable(f"cannot read the model folder: {exc}") from exc


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "none"


def model_digest(path: Path, layout: ModelLayout) -> str:
    """Names the cache folder: model config and weights (size, first and last MB), opset, torch/ORT major versions."""
    h = hashlib.sha256(f"format={FORMAT};opset={OPSET};".encode())
    for package in ("onnxruntime", "torch"):  # versions from metadata: reading them must not import torch
        h.update(f"{package}={_version(package).split('.')[0]};".encode())
    h.update((path / "config.json").read_bytes())
    size = layout.weights.stat().st_size
    h.update(f"{layout.weights.name}={size};".encode())
    with layout.weights.open("rb") as f:
        h.update(f.read(1 << 20))
        f.seek(max(0, size - (1 << 20)))
        h.update(f.read(1 << 20))
    return h.hexdigest()[:24]


def make_tokenizer(path: Path, max_length: int | None) -> Tokenizer:
    """The model's fast tokenizer, truncating and padding as sentence-transformers does (or neither, for offsets)."""
    tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.no_truncation()  # tokenizer.json may carry its own (this model's says 128)
    if max_length is not None:
        tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
        pad_id = tokenizer.padding["pad_id"] if tokenizer.padding else 0
        pad = tokenizer.id_to_token(pad_id) or "[PAD]"
        tokenizer.enable_padding(pad_id=pad_id, pad_token=pad)  # to the longest text of each batch
    return tokenizer


@dataclass
class _Worker:
    """One session and its own tokenizer: the Rust tokenizer must not be shared across threads ("Already borrowed")."""

    session: ort.InferenceSession
    tokenizer: Tokenizer


class OnnxEncoder:
    """Mean-pooled, unit-length embeddings from an exported model; thread-safe.

    Small inputs run on the calling thread; larger ones are sorted by length (less padding) and cut into mini-batches
    that a small pool spreads over the sessions. Callers at the same time share the sessions, one batch at a time each.
    """

    def __init__(
        self,
        onnx_path: Path,
        model_path: Path,
        *,
        sessions: int = SESSIONS,
        threads: int = SESSION_THREADS,
        mini_batch: int = MINI_BATCH,
    ) -> None:
        layout = read_layout(model_path)
        self.onnx_path = onnx_path
        self.max_seq_length = layout.max_seq_length
        self.dimension = layout.dimension
        self.mini_batch = mini_batch
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.log_severity_level = 3
        self._workers: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        self._inputs: set[str] = set()
        for _ in range(max(1, sessions)):
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
            self._inputs = {i.name for i in session.get_inputs()}
            self._workers.put(_Worker(session, make_tokenizer(model_path, layout.max_seq_length)))
        self._sessions = max(1, sessions)
        self._pool = ThreadPoolExecutor(self._sessions, thread_name_prefix="embed") if self._sessions > 1 else None
        # chunk() needs offsets with no special tokens and no truncation: a tokenizer of its own, one caller at a time.
        self._plain = make_tokenizer(model_path, None)
        self._plain_lock = threading.Lock()

    @contextlib.contextmanager
    def _worker(self) -> Iterator[_Worker]:
        worker = self._workers.get()
        try:
            yield worker
        finally:
            self._workers.put(worker)

    def _run(self, texts: list[str]) -> np.ndarray:
        with self._worker() as worker:
            encodings = worker.tokenizer.encode_batch(texts)
            feeds = {
                name: np.array([getattr(e, attr) for e in encodings], dtype=np.int64)
                for name, attr in _ATTRS.items()
                if name in self._inputs
            }
            mask_ids = feeds.get("attention_mask")
            if mask_ids is None:
                mask_ids = np.array([e.attention_mask for e in encodings], dtype=np.int64)
            hidden = worker.session.run(None, feeds)[0]
        mask = mask_ids[..., None].astype(np.float32)
        pooled = (hidden * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        result: np.ndarray = (pooled / norms).astype(np.float32)
        return result

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> np.ndarray:
        """A (len(texts), dimension) float32 array, rows in the order of ``texts``."""
        size = max(1, batch_size or self.mini_batch)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if len(texts) <= min(size, DIRECT):
            return self._run(texts)  # a query or a few: no hand-off to the pool
        size = min(size, -(-len(texts) // self._sessions))  # at least one batch per session
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        parts = [order[s : s + size] for s in range(0, len(order), size)]
        batches = [[texts[i] for i in part] for part in parts]
        results = list(self._pool.map(self._run, batches)) if self._pool else [self._run(b) for b in batches]
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for part, vectors in zip(parts, results, strict=True):
            out[part] = vectors
        return out

    def offsets(self, text: str) -> list[tuple[int, int]]:
        """Character offsets of each token of ``text``, without special tokens or truncation."""
        with self._plain_lock:
            return list(self._plain.encode(text, add_special_tokens=False).offsets)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    result: np.ndarray = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return result


def load_cached(folder: Path, model_path: Path) -> OnnxEncoder:
    """Open a cached export and check it still gives the vectors saved at export; raise if missing or corrupt."""
    info = json.loads((folder / INFO_FILE).read_text(encoding="utf-8"))
    expected = np.asarray(info["probe_vectors"], dtype=np.float32)
    encoder = OnnxEncoder(folder / ONNX_FILE, model_path)
    got = encoder.encode(list(PROBES))
    if got.shape != expected.shape or float(_cosines(got, expected).min()) < MIN_COSINE:
        encoder.close()
        raise ValueError("its output no longer matches the vectors saved at export")
    return encoder


def export(st_model: Any, model_path: Path, folder: Path) -> OnnxEncoder:
    """Export the model's transformer to ``folder``, keep it only if it matches torch on PROBES; needs torch."""
    import torch

    layout = read_layout(model_path)

    class LastHiddenState(torch.nn.Module):  # type: ignore[misc]
        """BertModel.forward takes keyword arguments only (transformers 5): name them."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any = None) -> Any:
            extra = {} if token_type_ids is None else {"token_type_ids": token_type_ids}
            return self.model(input_ids=input_ids, attention_mask=attention_mask, **extra).last_hidden_state

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{ONNX_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    started = time.perf_counter()
    try:
        transformer = st_model[0].auto_model
        # Some models (DistilBERT, MPNet) take no token_type_ids: export only the inputs forward() accepts.
        accepted = inspect.signature(transformer.forward).parameters
        names = [name for name in _ATTRS if name != "token_type_ids" or name in accepted]
        sample = make_tokenizer(model_path, layout.max_seq_length).encode_batch(["hello world", "a b c d"])
        args = tuple(torch.tensor([getattr(e, _ATTRS[n]) for e in sample], dtype=torch.int64) for n in names)
        axes = {name: {0: "batch", 1: "sequence"} for name in (*names, "last_hidden_state")}
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about shape-dependent branches: checked below instead
            torch.onnx.export(
                LastHiddenState(transformer).eval(),
                args,
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
        reference = np.asarray(
            st_model.encode(list(PROBES), normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False),
            dtype=np.float32,
        )
        candidate = OnnxEncoder(tmp, model_path, sessions=1)
        got = candidate.encode(list(PROBES))
        candidate.close()
        worst = float(_cosines(got, reference).min())
        if worst < MIN_COSINE:
            raise NotExportable(f"the ONNX export differs from torch (cosine {worst:.6f} < {MIN_COSINE})")
        os.replace(tmp, folder / ONNX_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    info = {
        "format": FORMAT,
        "model_path": str(model_path),
        "weights": layout.weights.name,
        "weights_bytes": layout.weights.stat().st_size,
        "opset": OPSET,
        "torch": _version("torch"),
        "onnxruntime": ort.__version__,
        "transformers": _version("transformers"),
        "sentence_transformers": _version("sentence-transformers"),
        "min_cosine_vs_torch": worst,
        "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "export_seconds": round(time.perf_counter() - started, 2),
        "probe_vectors": reference.tolist(),
    }
    tmp_info = folder / f".{INFO_FILE}.{os.getpid()}.{threading.get_ident()}.tmp"
    tmp_info.write_text(json.dumps(info), encoding="utf-8")
    os.replace(tmp_info, folder / INFO_FILE)
    log.info("exported the embedding model to %s in %.1f s", folder / ONNX_FILE, info["export_seconds"])
    return OnnxEncoder(folder / ONNX_FILE, model_path)
