"""The ``/agents`` socket.io namespace: agents connect with their runtime token, pending events are
replayed on connect and new ones pushed as ``event`` (claimed exactly as a fetch claims them);
``ack {eventId, result?}`` acknowledges, ``subscribe {podIds}`` adds pods' live messages.

Every process pushes to the sockets it holds: a new event is announced to all processes
(``EVENT_READY``), and the one(s) holding that instance's sockets claim and push. An event made
in a process that holds one of its instance's sockets (and is not draining it) skips all that:
it is stored claimed and pushed at once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from commonly_kernel import Actor, BadRequest, Forbidden, Kernel, NotFound, SocketHandler
from commonly_kernel.realtime import Realtime

from . import events
from .config import config_for
from .models import AgentEvent
from .wire import event_out

log = logging.getLogger("commonly.registry.push")

NAMESPACE = "/agents"
BATCH = 100
#: While events stream in, a drain waits this long after a partial batch before claiming again,
#: so that a burst costs a claim per few events, not one each (an idle queue pushes at once).
LINGER = 0.01
ACK_BATCH = 200  # socket acks of one instance written in one statement, at most


def instance_key(agent_name: str, instance_id: str) -> str:
    return f"{agent_name}\t{instance_id}"


class AgentSockets:
    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime
        self.kernel: Kernel | None = None
        self._sockets: dict[str, list[str]] = {}  # instance key → sids on this process, newest last
        self._draining: set[str] = set()  # instance keys with a drain running here
        self._again: set[str] = set()  # … and told of new events meanwhile: it claims once more
        # Socket acks waiting for their instance's next write: (eventId, result, answer to fill).
        self._acks: dict[str, list[tuple[int, dict[str, Any] | None, asyncio.Future[str]]]] = {}

    def bind(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def handlers(self) -> list[SocketHandler]:
        return [SocketHandler("ack", self.ack, NAMESPACE), SocketHandler("subscribe", self.subscribe, NAMESPACE)]

    async def connected(self, sid: str, actor: Actor) -> None:
        if not _is_runtime(actor):  # the kernel turns this into the client's connect error
            raise Forbidden("Connect to /agents with a runtime token.", code="runtime_token_required")
        key = instance_key(actor.claims["agentName"], actor.claims["instanceId"])
        self._sockets.setdefault(key, []).append(sid)
        await self.drain(key, requeue=True)  # the replay, expired claims included

    def disconnected(self, sid: str) -> None:
        for key, sids in list(self._sockets.items()):
            if sid in sids:
                sids.remove(sid)
                if not sids:
                    self._sockets.pop(key, None)

    def event_ready(self, note: str) -> None:
        """A broadcast handler (synchronous): push in the background if this process holds the sockets.
        One drain per instance at a time: a note that arrives while it runs makes it claim once more
        instead of starting another (a burst of events costs a few batch claims, not one each)."""
        if note in self._sockets and self.kernel is not None:
            if note in self._draining:
                self._again.add(note)
            else:
                self.kernel.spawn(self.drain(note), name="registry.push")

    def can_push_now(self, key: str) -> bool:
        """Whether a new event of this instance may go straight to a socket here: one is connected
        and no drain runs here (it would push older events after the new one). A note from another
        process may still be on its way, so across processes pushes can overtake older events."""
        return bool(self._sockets.get(key)) and key not in self._draining

    async def push(self, key: str, event: AgentEvent) -> bool:
        """Send a claimed event to the instance's newest socket here; False when none is left."""
        sids = self._sockets.get(key)
        if not sids:
            return False
        await self.realtime.emit("event", event_out(event), to=sids[-1], namespace=NAMESPACE)
        return True

    async def drain(self, key: str, requeue: bool = False) -> None:
        """Claim and push this instance's pending events to its newest socket here, until none is left.
        Expired claims are requeued first on connect (``requeue``); otherwise the scheduler's requeue
        job does it and wakes the drain (so a new event costs no requeue statement)."""
        assert self.kernel is not None
        config = config_for(self.kernel.settings)
        agent_name, instance_id = key.split("\t")
        if key in self._draining and requeue:
            await events.requeue_expired(config, agent_name=agent_name, instance_id=instance_id)
            requeue = False
        if key in self._draining:
            self._again.add(key)  # the running drain claims once more, for the newest socket
            return
        self._draining.add(key)
        try:
            while self._sockets.get(key):
                self._again.discard(key)
                claimed = await events.claim(config, agent_name, instance_id, BATCH, requeue=requeue)
                requeue = False
                if not claimed:
                    if key in self._again:
                        continue
                    return
                sid = self._sockets[key][-1] if self._sockets.get(key) else None
                if sid is None:
                    return  # claimed with nobody to push to: the claim timeout hands them back
                for event in claimed:
                    await self.realtime.emit("event", event_out(event), to=sid, namespace=NAMESPACE)
                if len(claimed) < BATCH and key in self._again:
                    await asyncio.sleep(LINGER)  # events are streaming in: let a few gather
        finally:
            self._draining.discard(key)
            self._again.discard(key)

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
        if not 0 < data["eventId"] < 2**63:  # no such id: not a database error
            raise NotFound("No such event in your queue.", code="event_not_found")
        assert self.kernel is not None
        key = instance_key(actor.claims["agentName"], actor.claims["instanceId"])
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        waiting = self._acks.setdefault(key, [])
        waiting.append((data["eventId"], result, answer))
        if len(waiting) == 1:  # nobody writing this instance's acks yet
            self.kernel.spawn(self._write_acks(key), name="registry.acks")
        return {"ok": True, "eventId": data["eventId"], "status": await answer}

    async def _write_acks(self, key: str) -> None:
        """Group commit: the acks of one instance that arrived together, in one statement; those
        arriving meanwhile go in the next. A lone ack is written at once."""
        assert self.kernel is not None
        config = config_for(self.kernel.settings)
        agent_name, instance_id = key.split("\t")
        while self._acks.get(key):
            batch = self._acks[key][:ACK_BATCH]  # handlers only append: these stay in front
            try:
                answers: list[Any] = await events.ack_each(config, self.kernel, agent_name, instance_id,
                                                           [(event_id, result) for event_id, result, _ in batch])
            except Exception as error:  # the database failed: every ack of the batch says so
                answers = [error] * len(batch)
            del self._acks[key][:len(batch)]
            if not self._acks[key]:
                del self._acks[key]
            for (_, _, answer), outcome in zip(batch, answers, strict=True):
                if answer.done():
                    continue
                if isinstance(outcome, BaseException):
                    answer.set_exception(outcome)
                else:
                    answer.set_result(outcome)

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
