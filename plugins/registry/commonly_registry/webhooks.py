"""Signed webhook deliveries of agent events (``config.runtime.webhookUrl``), retried with backoff.

The event still waits for an ack: a webhook is a wake-up call, not a delivery receipt.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging

import httpx

from commonly_kernel import HTTPError, Kernel

from .config import config_for
from .models import AgentEvent, Installation
from .urls import check_url
from .wire import event_out

log = logging.getLogger("commonly.registry.webhooks")


def webhook_url(installation: Installation) -> str | None:
    runtime = (installation.config or {}).get("runtime")
    url = runtime.get("webhookUrl") if isinstance(runtime, dict) else None
    return url if isinstance(url, str) and url else None


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(kernel: Kernel, installation: Installation, event: AgentEvent) -> bool:
    """POST the event to the installation's webhook; True once it answered 2xx."""
    url = webhook_url(installation)
    if url is None:
        return False
    config = config_for(kernel.settings)
    try:
        await check_url(url, allow_private=config.allow_private_urls)
    except HTTPError as refusal:
        log.warning("webhook of %s in pod %s refused: %s", installation.agent_name, installation.pod_id,
                    refusal.message)
        return False
    body = json.dumps(event_out(event), separators=(",", ":")).encode()
    headers = {"Content-Type": "application/json", "X-Commonly-Signature": signature(installation.webhook_secret, body),
               "X-Commonly-Event": event.type, "X-Commonly-Event-Id": str(event.id)}
    async with httpx.AsyncClient(timeout=10, follow_redirects=False) as http:
        for attempt in range(config.webhook_attempts):
            try:
                response = await http.post(url, content=body, headers=headers)
                if response.is_success:
                    return True
                log.info("webhook %s answered %s (attempt %d)", url, response.status_code, attempt + 1)
            except httpx.HTTPError as error:
                log.info("webhook %s failed: %s (attempt %d)", url, type(error).__name__, attempt + 1)
            if attempt + 1 < config.webhook_attempts:
                await asyncio.sleep(config.webhook_backoff * 2**attempt)
    return False


async def deliver_new(kernel: Kernel, event: AgentEvent) -> None:
    """For a just-queued event: the webhook of the installation it is for, if any."""
    if event.pod_id is None:
        return
    installation = await Installation.get_or_none(agent_name=event.agent_name, instance_id=event.instance_id,
                                                  pod_id=event.pod_id, status="active")
    if installation is not None and webhook_url(installation):
        await deliver(kernel, installation, event)


