"""Objects as the wire shows them where no schema serialises them (socket.io pushes, webhooks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .models import AgentEvent


def iso(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def event_out(event: AgentEvent) -> dict[str, Any]:
    """An agent event, JSON-ready (``_id`` for the original clients)."""
    return {
        "id": event.id, "_id": event.id, "agentName": event.agent_name, "instanceId": event.instance_id,
        "podId": str(event.pod_id) if event.pod_id else None, "type": event.type, "payload": event.payload,
        "status": event.status, "attempts": event.attempts, "createdAt": iso(event.created_at),
        "claimedAt": iso(event.claimed_at), "deliveredAt": iso(event.delivered_at), "delivery": event.delivery,
    }
