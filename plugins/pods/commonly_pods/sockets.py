"""socket.io events of the pods plugin: joining pod rooms, chat, typing and presence.

Presence is what this process sees: the users whose sockets on this process are in a pod's room
(with several processes, each announces its own share; see the README).
"""

from __future__ import annotations

from typing import Any

from commonly_kernel import Actor, BadRequest, Kernel, SocketHandler
from commonly_kernel.realtime import Realtime

from . import messages, pods
from .messages import room, user_room


class Presence:
    """Which socket is in which pod room, for ``podPresence`` and for evicting removed members."""

    def __init__(self) -> None:
        self._rooms: dict[str, dict[str, str]] = {}  # pod id → {sid: user id}

    def enter(self, pod_id: str, sid: str, user_id: str) -> None:
        self._rooms.setdefault(pod_id, {})[sid] = user_id

    def leave(self, pod_id: str, sid: str) -> None:
        members = self._rooms.get(pod_id, {})
        members.pop(sid, None)
        if not members:
            self._rooms.pop(pod_id, None)

    def pods_of(self, sid: str) -> list[str]:
        return [pod_id for pod_id, members in self._rooms.items() if sid in members]

    def sids_of(self, pod_id: str, user_id: str) -> list[str]:
        return [sid for sid, member in self._rooms.get(pod_id, {}).items() if member == user_id]

    def user_ids(self, pod_id: str) -> list[str]:
        return sorted(set(self._rooms.get(pod_id, {}).values()))


class PodSockets:
    """The handlers, bound to one app's kernel."""

    def __init__(self, realtime: Realtime) -> None:
        self.realtime = realtime
        self.presence = Presence()
        self.kernel: Kernel | None = None  # set at startup; no event arrives before it

    def bind(self, kernel: Kernel) -> None:
        self.kernel = kernel

    def handlers(self) -> list[SocketHandler]:
        return [
            SocketHandler("joinPod", self.join_pod),
            SocketHandler("leavePod", self.leave_pod),
            SocketHandler("message", self.send_message),
            SocketHandler("sendMessage", self.send_message),
            SocketHandler("typing", self.typing),
        ]

    async def join_pod(self, sid: str, data: Any) -> dict[str, Any]:
        actor = await self.realtime.actor(sid)
        granted = await pods.access(_pod_id(data), actor, "read")
        if not granted.is_member:
            # Reading over REST is open to global admins; a live seat in the room is for members.
            raise pods.Forbidden("Only members of this pod may join its room.", code="not_a_member")
        pod_id = str(granted.pod.id)
        await self.realtime.enter_room(sid, room(pod_id))
        self.presence.enter(pod_id, sid, actor.id)
        await self._announce(pod_id)
        return {"ok": True, "podId": pod_id}

    async def leave_pod(self, sid: str, data: Any) -> dict[str, Any]:
        pod_id = _pod_id(data)
        if pod_id in self.presence.pods_of(sid):
            await self.realtime.leave_room(sid, room(pod_id))
            self.presence.leave(pod_id, sid)
            await self._announce(pod_id)
        return {"ok": True, "podId": pod_id}

    async def send_message(self, sid: str, data: Any) -> dict[str, Any]:
        actor = await self.realtime.actor(sid)
        payload = _object(data)
        content = payload.get("content", payload.get("text", ""))
        reply_to = payload.get("replyToMessageId")
        attachments = payload.get("attachments") or []
        if not isinstance(content, str) or (reply_to is not None and not _is_int(reply_to)) \
                or not isinstance(attachments, list) or not all(isinstance(url, str) for url in attachments):
            raise BadRequest("`content` must be a string, `replyToMessageId` an integer, `attachments` strings.",
                             code="validation_error")
        granted = await pods.access(payload.get("podId"), actor, "read")
        messages.check_may_post(granted)
        assert self.kernel is not None
        message, _ = await messages.post_message(self.kernel, granted.pod, actor, content,
                                                 attachments=attachments, reply_to=reply_to)
        return message

    async def typing(self, sid: str, data: Any) -> None:
        actor = await self.realtime.actor(sid)
        payload = _object(data)
        pod_id = _pod_id(payload.get("podId"))
        if pod_id not in self.presence.pods_of(sid):
            raise BadRequest("Join the pod's room before typing in it.", code="not_in_room")
        await self.realtime.emit("typing", {"podId": pod_id, "userId": actor.id, "username": actor.username,
                                            "isTyping": bool(payload.get("isTyping", True))},
                                 room=room(pod_id), skip_sid=sid)

    # -- connection lifecycle (kernel hooks) ----------------------------------------------------

    async def connected(self, sid: str, actor: Actor) -> None:
        await self.realtime.enter_room(sid, user_room(actor.id))

    async def disconnected(self, sid: str) -> None:
        for pod_id in self.presence.pods_of(sid):
            self.presence.leave(pod_id, sid)
            await self._announce(pod_id)

    def member_left(self, note: str) -> None:
        """Another process (or this one) removed a member: take their sockets out of the room.

        A broadcast handler, so synchronous (the kernel calls it without awaiting): the sockets
        leave the room before ``publish`` returns, so no message emitted after the removal reaches
        them; only the ``podPresence`` announcement is sent in the background.
        """
        pod_id, _, user_id = note.partition(" ")
        sids = self.presence.sids_of(pod_id, user_id)
        if not sids:
            return
        for sid in sids:
            self.presence.leave(pod_id, sid)
            # What python-socketio's (coroutine) ``leave_room`` does, done now: rooms are per process.
            self.realtime.sio.manager.basic_leave_room(sid, "/", room(pod_id))
        assert self.kernel is not None
        self.kernel.spawn(self._announce(pod_id), name=f"pods.presence:{pod_id}")

    async def _announce(self, pod_id: str) -> None:
        await self.realtime.emit("podPresence", {"podId": pod_id, "userIds": self.presence.user_ids(pod_id)},
                                 room=room(pod_id))


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise BadRequest("The event's payload must be an object.", code="validation_error")
    return data


def _pod_id(data: Any) -> str:
    pod_id = data.get("podId") if isinstance(data, dict) else data
    if not isinstance(pod_id, str) or pods.parse_pod_id(pod_id) is None:
        raise pods.NotFound("No such pod.", code="pod_not_found")
    return str(pods.parse_pod_id(pod_id))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
