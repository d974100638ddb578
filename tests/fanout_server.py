"""A Commonly app with one tiny socket plugin, served in its own process by
tests/test_realtime_fanout.py: ``python tests/fanout_server.py PORT DATABASE_URL REDIS_URL PREFIX``."""

from __future__ import annotations

import sys

import uvicorn

from commonly_kernel import Actor, Settings, SocketHandler, create_app, hookimpl


class ShoutPlugin:
    """Every client joins the room ``all``; ``shout`` is re-emitted to that room."""

    name = "shout"

    def __init__(self) -> None:
        self.realtime = None

    @hookimpl
    def commonly_actor_from_token(self, token: str) -> Actor | None:
        return Actor(id=token, username=token) if token.startswith("person-") else None

    @hookimpl
    async def commonly_socket_connected(self, realtime, sid: str) -> None:  # type: ignore[no-untyped-def]
        await realtime.enter_room(sid, "all")

    @hookimpl
    def commonly_register_socket_handlers(self, realtime):  # type: ignore[no-untyped-def]
        async def shout(sid: str, data: object) -> dict[str, bool]:
            actor = await realtime.actor(sid)
            await realtime.emit("shouted", {"from": actor.username, "data": data}, room="all")
            return {"ok": True}

        return [SocketHandler("shout", shout)]


def main() -> None:
    port, database_url, redis_url, prefix = sys.argv[1:5]
    settings = Settings.from_env(environ={}, DATABASE_URL=database_url, REDIS_URL=redis_url,
                                 COMMONLY_REDIS_PREFIX=prefix, JWT_SECRET="x" * 40, COMMONLY_LOG_LEVEL="WARNING")
    app = create_app(settings, plugins=[ShoutPlugin()])
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
