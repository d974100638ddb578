"""What the plugin keeps per app: its settings, the embedder (chosen on first use), the per-process
vector store and the queue worker."""

from __future__ import annotations

from weakref import WeakKeyDictionary

from quart import Quart

from commonly_kernel import Kernel

from .config import VectorConfig, config_for
from .embedding import Embedder, Runner, SentenceTransformerEmbedder
from .indexer import Worker
from .store import VectorStore

_states: WeakKeyDictionary[Quart, VectorState] = WeakKeyDictionary()


class VectorState:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.config: VectorConfig = config_for(kernel.settings)
        self._embedder: Embedder | None = None
        self._runner: Runner | None = None
        self.store = VectorStore(lambda: self.embedder().dimensions, max_pods=self.config.cache_pods,
                                 exact_max=self.config.exact_max, ann_ef=self.config.ann_ef)
        self.worker: Worker | None = None

    def embedder(self) -> Embedder:
        """The ``commonly_vector_embedder`` hook's answer, else the local sentence-transformers model."""
        if self._embedder is None:
            chosen = None
            hook = getattr(self.kernel.pm.hook, "commonly_vector_embedder", None)
            if hook is not None:
                for answer in hook(settings=self.kernel.settings):
                    if answer is not None:
                        chosen = answer
                        break
            self._embedder = chosen or SentenceTransformerEmbedder(self.config.model,
                                                                   batch_size=self.config.batch_size)
        return self._embedder

    def runner(self) -> Runner:
        if self._runner is None:
            self._runner = Runner(self.embedder())
        return self._runner

    def available(self) -> bool:
        try:
            return bool(self.embedder().available())
        except Exception:
            return False

    async def start(self) -> None:
        if self.config.worker:
            self.worker = Worker(self)
            self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None
        await self.store.close()
        if self._runner is not None:
            self._runner.close()
            self._runner = None


def state_of(kernel: Kernel) -> VectorState:
    state = _states.get(kernel.quart)
    if state is None:
        state = _states[kernel.quart] = VectorState(kernel)
    return state


def current_state() -> VectorState | None:
    """The state of the app serving this request (None outside one)."""
    from quart import has_app_context

    if not has_app_context():
        return None
    from commonly_kernel import kernel

    return state_of(kernel())
