"""The kernel's own tables (app label ``kernel``)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class JobLease(Model):
    """Who may run a periodic job until when: the scheduler's cross-process lock."""

    name = fields.CharField(max_length=100, primary_key=True)
    owner = fields.CharField(max_length=64, null=True)
    expires_at = fields.DatetimeField(null=True)
    last_started_at = fields.DatetimeField(null=True)
    last_finished_at = fields.DatetimeField(null=True)
    last_error = fields.TextField(null=True)

    class Meta:
        app = "kernel"
        table = "kernel_job_lease"
