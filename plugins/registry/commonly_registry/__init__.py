"""Commonly's registry plugin: installable agents, their tokens, the agent event queue and the
runtime API agents call.

Other plugins may use these (and nothing else from this package)::

    from commonly_registry import enqueue_event
    await enqueue_event(kernel, agent_name="summarizer", pod_id=pod_id, event_type="summary.request",
                        payload={...})
"""

from __future__ import annotations

from typing import Any

from commonly_kernel import Kernel, NotFound

from .models import AgentEvent

__version__ = "0.1.0"


async def enqueue_event(kernel: Kernel, *, agent_name: str, pod_id: str, event_type: str,
                        payload: dict[str, Any], instance_id: str | None = None) -> AgentEvent:
    """Queue an event for an agent installed in a pod (``instance_id`` picks the instance, with the
    same rule as the routes); 404 ``installation_not_found`` when it is not installed there."""
    from . import events
    from .state import state_of

    installations = state_of(kernel).installations
    installation = await installations.resolve(pod_id, agent_name, instance_id)
    if installation.status != "active":
        raise NotFound(f"{agent_name} is paused in this pod.", code="installation_not_found")
    event = await events.enqueue(kernel, agent_name=installation.agent_name, instance_id=installation.instance_id,
                                 pod_id=installation.pod_id, event_type=event_type, payload=payload,
                                 installation=installation)
    if event is None:  # uninstalled, paused or deleted since this process looked it up
        installations.clear()
        raise NotFound(f"{agent_name} is not installed in this pod.", code="installation_not_found")
    return event


__all__ = ["AgentEvent", "enqueue_event"]
