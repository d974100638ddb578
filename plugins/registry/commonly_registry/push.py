"""The ``/agents`` socket.io namespace: agents connect with their runtime token, pending events are
replayed on connect and new ones pushed as ``event`` (claimed exactly as a fetch claims them);
``ack {eventId, result?}`` acknowledges, ``subscribe {podIds}`` adds pods' live messages.

Every process pushes to the sockets it holds: a new event is announced to all processes
(``EVENT_READY``), and the one(s) holding that instance's sockets claim and push.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from commonly_kernel import Actor, BadRequest, Forbidden, Kernel, SocketHandler
from commonly_kernel.realtime import Realtime

from . import events
from .config import config_for
from .wire import event_out

log = logging.getLogger("commonly.registry.push")

NAMESPACE = "/agents"
BATCH = 100


def instance_key(agent_name: str, instance_id: str) -> str:
    return f"{agent_name}\t{instance_id}"


class AgentSockets:
    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime
        self.kernel: Kernel | None = None
        self._sockets: dict[str, list[str]] = {}  # instance key → sids on this process, newest last
        self._locks: dict[str, asyncio.Lock] = {}

    def bind(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def handlers(self) -> list[SocketHandler]:
        return [SocketHandler("ack", self.ack, NAMESPACE), SocketHandler("subscribe", self.subscribe, NAMESPACE)]

    async def connected(self, sid: str, actor: Actor) -> None:
        if not _is_runtime(actor):  # the kernel turns this into the client's connect error
            raise Forbidden("Connect to /agents with a runtime token.", code="runtime_token_required")
        key = instance_key(actor.claims["agentName"], actor.claims["instanceId"])
        self._sockets.setdefault(key, []).append(sid)
        await self.drain(key)  # the replay

    def disconnected(self, sid: str) -> None:
        for key, sids in list(self._sockets.items()):
            if sid in sids:
                sids.remove(sid)
                if not sids:
                    self._sockets.pop(key, None)

    def event_ready(self, note: str) -> None:
        """A broadcast handler (synchronous): push in the background if this process holds the sockets."""
        if note in self._sockets and self.kernel is not None:
            self.kernel.spawn(self.drain(note), name="registry.push")

    async def drain(self, key: str) -> None:
        """Claim and push this instance's pending events to its newest socket here, until none is left."""
        assert self.kernel is not None
        config = config_for(self.kernel.settings)
        agent_name, instance_id = key.split("\t")
        async with self._locks.setdefault(key, asyncio.Lock()):
            while self._sockets.get(key):
                claimed = await events.claim(config, agent_name, instance_id, BATCH)
                if not claimed:
                    return
                sid = self._sockets[key][-1] if self._sockets.get(key) else None
                if sid is None:
                    return  # claimed with nobody to push to: the claim timeout hands them back
                for event in claimed:
                    await self.realtime.emit("event", event_out(event), to=sid, namespace=NAMESPACE)

    async def _actor(self, sid: str) -> Actor:
        return await self.realtime.actor(sid, NAMESPACE)  # a runtime token's: others are refused at connect

    async def ack(self, sid: str, data: Any) -> dict[str, Any]:
        actor = await self._actor(sid)
        if not isinstance(data, dict) or not isinstance(data.get("eventId"), int) or isinstance(
                data.get("eventId"), bool):
            raise BadRequest("`ack` takes {eventId (integer), result?}.", code="validation_error")
        result = data.get("result")
        if result is not None and not isinstance(result, dict):
            raise BadRequest("`result` must be an object.", code="validation_error")
        assert self.kernel is not None
        event = await events.ack(config_for(self.kernel.settings), self.kernel, actor.claims["agentName"],
                                 actor.claims["instanceId"], data["eventId"], result)
        return {"ok": True, "eventId": event.id, "status": event.status}

    async def subscribe(self, sid: str, data: Any) -> dict[str, Any]:
        actor = await self._actor(sid)
        pod_ids = data.get("podIds") if isinstance(data, dict) else None
        if not isinstance(pod_ids, list) or not all(isinstance(pod_id, str) for pod_id in pod_ids):
            raise BadRequest("`subscribe` takes {podIds: [string]}.", code="validation_error")
        reachable = actor.claims.get("podScopes", {})
        subscribed = [pod_id for pod_id in dict.fromkeys(pod_ids) if pod_id in reachable]
        for pod_id in subscribed:
            await self.realtime.enter_room(sid, f"pod:{pod_id}", namespace=NAMESPACE)
        return {"subscribed": subscribed, "refused": [pod_id for pod_id in pod_ids if pod_id not in subscribed]}

    async def forward(self, message: dict[str, Any], pod_id: str) -> None:
        """A pod's live messages, for the agents that subscribed to it."""
        await self.realtime.emit("message", message, room=f"pod:{pod_id}", namespace=NAMESPACE)


def _is_runtime(actor: Actor) -> bool:
    return actor.kind == "agent" and actor.claims.get("tokenKind") == "runtime"
