"""The vector index's tables (app label ``vector_index``): plain columns and bytes, so SQLite and
PostgreSQL store them alike.

- ``VectorChunk``: one row per chunk of an asset, with its vector (float32 bytes, little-endian).
  Rows are never changed in place: re-indexing an asset deletes its rows and inserts new ones, so
  a process can bring its in-memory copy up to date from the set of ids alone.
- ``VectorPodState``: a pod's index version, bumped in the transaction of every chunk write, which
  tells each process its in-memory copy is stale.
- ``VectorJob``: the durable indexing queue.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

JOB_INDEX = "index"        # (re-)chunk and embed one asset, or drop it when it is gone or archived
JOB_DROP = "drop"          # drop one asset's chunks
JOB_DROP_POD = "drop_pod"  # drop a pod's chunks and state

QUEUED, RUNNING, FAILED = "queued", "running", "failed"


class VectorChunk(Model):
    id = fields.BigIntField(primary_key=True)
    pod_id = fields.CharField(max_length=36)
    asset_id = fields.BigIntField()
    chunk_index = fields.IntField()
    asset_type = fields.CharField(max_length=40)
    scope = fields.CharField(max_length=8, default="pod")
    agent_key = fields.CharField(max_length=200, null=True)
    title = fields.CharField(max_length=300, default="")
    text = fields.TextField()
    #: float32 little-endian; null while a chunk waits for its embedding.
    vector = fields.BinaryField(null=True)
    model = fields.CharField(max_length=200, default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        app = "vector_index"
        table = "vector_chunk"
        indexes = (("pod_id", "id"), ("asset_id", "chunk_index"))


class VectorPodState(Model):
    pod_id = fields.CharField(max_length=36, primary_key=True)
    version = fields.BigIntField(default=0)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "vector_index"
        table = "vector_pod_state"


class VectorJob(Model):
    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=10)
    pod_id = fields.CharField(max_length=36)
    asset_id = fields.BigIntField(null=True)
    status = fields.CharField(max_length=8, default=QUEUED)
    attempts = fields.IntField(default=0)
    last_error = fields.TextField(null=True)
    available_at = fields.DatetimeField()
    claimed_by = fields.CharField(max_length=32, null=True)
    lease_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        app = "vector_index"
        table = "vector_job"
        indexes = (("status", "available_at"), ("pod_id", "status"), ("asset_id", "status"))
