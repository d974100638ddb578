"""The vector index's own extension point."""

from __future__ import annotations

from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("commonly")


@hookspec
def commonly_vector_embedder(settings: Any) -> Any:
    """Return an ``Embedder`` (``commonly_vector_index.embedding.Embedder``: ``name``, ``dimensions``,
    ``available()``, blocking ``embed(texts) -> float32 array``) to use instead of the local
    sentence-transformers model, or None. Called once per app, on first use; the first non-None
    answer wins. Changing the embedder of an existing index needs ``commonly index rebuild --reset``
    (vectors of another size are ignored until then)."""
