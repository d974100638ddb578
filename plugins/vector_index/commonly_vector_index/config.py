"""The plugin's settings, read once per app (a malformed value stops startup)."""

from __future__ import annotations

from dataclasses import dataclass

from commonly_kernel import Settings, StartupError


@dataclass(frozen=True)
class VectorConfig:
    #: A local sentence-transformers folder; None = the bundled all-MiniLM-L6-v2.
    model: str | None = None
    #: Texts per ``encode`` call (the worker's batch and the model's batch).
    batch_size: int = 32
    #: Jobs one worker claims at a time.
    jobs_per_batch: int = 64
    #: Whether this process drains the queue (web-only processes may set 0).
    worker: bool = True
    #: Seconds between queue polls when nothing woke the worker (other processes' jobs).
    poll_seconds: float = 2.0
    #: Tries before a job is marked failed.
    max_attempts: int = 5
    #: Delay before a failed job's second try (doubling after each further failure).
    retry_seconds: float = 5.0
    #: How long a claimed job belongs to its worker before another may take it over.
    lease_seconds: float = 300.0
    #: Words per chunk and words shared by consecutive chunks.
    chunk_words: int = 400
    chunk_overlap: int = 80
    #: Up to this many vectors in a pod: exact numpy search; beyond it: the approximate (HNSW) index.
    exact_max: int = 200_000
    #: HNSW search breadth (higher: better recall, slower).
    ann_ef: int = 256
    #: Pods whose vectors a process keeps in memory (least recently used dropped).
    cache_pods: int = 64
    #: Weight of the keyword score in a hybrid search (``hybrid=true``).
    hybrid_weight: float = 0.3
    #: Seconds a rebuild request waits for the queue before answering 202.
    rebuild_wait: float = 10.0
    #: Longest search text.
    max_query_chars: int = 1000


def config_for(settings: Settings) -> VectorConfig:
    config = VectorConfig(
        model=settings.get("COMMONLY_EMBEDDING_MODEL"),
        batch_size=settings.get_int("COMMONLY_VECTOR_BATCH", 32),
        jobs_per_batch=settings.get_int("COMMONLY_VECTOR_JOBS_PER_BATCH", 64),
        worker=settings.get_bool("COMMONLY_VECTOR_WORKER", True),
        poll_seconds=settings.get_float("COMMONLY_VECTOR_POLL_SECONDS", 2.0),
        max_attempts=settings.get_int("COMMONLY_VECTOR_MAX_ATTEMPTS", 5),
        retry_seconds=settings.get_float("COMMONLY_VECTOR_RETRY_SECONDS", 5.0),
        lease_seconds=settings.get_float("COMMONLY_VECTOR_LEASE_SECONDS", 300.0),
        chunk_words=settings.get_int("COMMONLY_VECTOR_CHUNK_WORDS", 400),
        chunk_overlap=settings.get_int("COMMONLY_VECTOR_CHUNK_OVERLAP", 80),
        exact_max=settings.get_int("COMMONLY_VECTOR_EXACT_MAX", 200_000),
        ann_ef=settings.get_int("COMMONLY_VECTOR_ANN_EF", 256),
        cache_pods=settings.get_int("COMMONLY_VECTOR_CACHE_PODS", 64),
        hybrid_weight=settings.get_float("COMMONLY_VECTOR_HYBRID_WEIGHT", 0.3),
        rebuild_wait=settings.get_float("COMMONLY_VECTOR_REBUILD_WAIT", 10.0),
    )
    if config.batch_size < 1 or config.jobs_per_batch < 1 or config.max_attempts < 1 or config.cache_pods < 1:
        raise StartupError("COMMONLY_VECTOR_BATCH, _JOBS_PER_BATCH, _MAX_ATTEMPTS and _CACHE_PODS must be ≥ 1")
    if not 0 <= config.chunk_overlap < config.chunk_words:
        raise StartupError("COMMONLY_VECTOR_CHUNK_OVERLAP must be ≥ 0 and below COMMONLY_VECTOR_CHUNK_WORDS")
    if not 0.0 <= config.hybrid_weight <= 1.0:
        raise StartupError("COMMONLY_VECTOR_HYBRID_WEIGHT must be between 0 and 1")
    if config.retry_seconds < 0:
        raise StartupError("COMMONLY_VECTOR_RETRY_SECONDS must be ≥ 0")
    if config.poll_seconds <= 0 or config.lease_seconds <= 0 or config.ann_ef < 1:
        raise StartupError("COMMONLY_VECTOR_POLL_SECONDS, _LEASE_SECONDS and _ANN_EF must be positive")
    return config
