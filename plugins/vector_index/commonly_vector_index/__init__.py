"""Commonly's vector index: semantic pod memory with local embeddings.

Other plugins may use::

    from commonly_vector_index import Embedder, SentenceTransformerEmbedder   # to offer another embedder
    from commonly_vector_index import search                                  # semantic search in a pod

Heavy modules (numpy, torch, the model) load on first use, never on import of this package.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .embedding import Embedder, SentenceTransformerEmbedder


async def search(kernel: Any, pod: Any, actor: Any, text: str, *, limit: int = 10,
                 types: list[str] | None = None) -> list[dict[str, Any]]:
    """Semantic search in ``pod`` as ``actor`` (who must be allowed to read it): result dicts
    ``{assetId, chunkIndex, title, snippet, score, type, tags}``, best first."""
    from . import service
    from .state import state_of

    hits = await service.search(state_of(kernel), pod, actor, text, limit=limit, types=types)
    return [hit.as_result() for hit in hits]


def __getattr__(name: str) -> Any:
    if name in ("Embedder", "SentenceTransformerEmbedder"):
        from . import embedding

        return getattr(embedding, name)
    raise AttributeError(name)


__all__ = ["Embedder", "SentenceTransformerEmbedder", "__version__", "search"]
