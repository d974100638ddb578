"""``commonly_pod_context`` and the domain events, through the ``Hooks`` façade: sync and async
implementations alike are awaited, and a failing one is logged, not fatal."""

from __future__ import annotations

import asyncio
import logging
from types import ModuleType

import pytest

from commonly_kernel import Actor, ContextSearch, ContextSection, Forbidden, hookimpl


@pytest.fixture
def database_url(tmp_path):
    # Nothing here starts a server: skip creating a PostgreSQL database per test.
    return f"sqlite://{tmp_path / 'never-opened.sqlite3'}"


# -- commonly_pod_context -----------------------------------------------------------------------


POD = {"id": "pod-1", "name": "Launch"}
ALICE = Actor(id="alice")


class Summaries:
    name = "summaries"

    @hookimpl
    def commonly_pod_context(self, pod, actor, query):
        return [
            ContextSection("summary", f"{pod['name']} for {actor.id}", priority=50),
            ContextSection("recent", ["m1", "m2"][: int(query.get("limit", 2))], priority=10),
        ]


class Skills:
    name = "skills"

    @hookimpl
    async def commonly_pod_context(self, pod, query):
        await asyncio.sleep(0)
        return [ContextSection("skills", ["summarize"], priority=50, source="skills-v2"),
                ContextSection("hits", [], priority=90)]


class Silent:
    name = "silent"

    @hookimpl
    def commonly_pod_context(self):
        return None


class Broken:
    name = "broken"

    @hookimpl
    async def commonly_pod_context(self, pod):
        raise KeyError("vectors")


async def test_pod_context_merged_by_priority(make_app):
    kernel = make_app(plugins=[Summaries(), Skills(), Silent()]).kernel
    sections = await kernel.hooks.pod_context(POD, ALICE, {"limit": "1"})
    assert [(s.name, s.priority, s.source) for s in sections] == [
        ("hits", 90, "skills"),
        ("skills", 50, "skills-v2"),
        ("summary", 50, "summaries"),
        ("recent", 10, "summaries"),
    ]
    assert sections[2].content == "Launch for alice"
    assert sections[3].content == ["m1"]


async def test_pod_context_failing_plugin_left_out_and_logged(make_app, caplog):
    kernel = make_app(plugins=[Summaries(), Broken()]).kernel
    with caplog.at_level(logging.ERROR, logger="commonly.hooks"):
        sections = await kernel.hooks.pod_context(POD, ALICE, {})
    assert [section.name for section in sections] == ["summary", "recent"]
    assert "plugin 'broken' failed in commonly_pod_context" in caplog.text
    assert "vectors" in caplog.text


async def test_pod_context_refusal_propagates(make_app):
    class Private:
        name = "private"

        @hookimpl
        def commonly_pod_context(self, actor):
            raise Forbidden("Members only.")

    kernel = make_app(plugins=[Summaries(), Private()]).kernel
    with pytest.raises(Forbidden):
        await kernel.hooks.pod_context(POD, ALICE, {})


async def test_pod_context_without_plugins(make_app):
    kernel = make_app(plugins=[]).kernel
    assert await kernel.hooks.pod_context(POD, ALICE, {}) == []


# -- commonly_context_search ---------------------------------------------------------------------


class Declines:
    name = "declines"

    @hookimpl
    def commonly_context_search(self, query):
        return None


class Semantic:
    name = "semantic"

    @hookimpl
    async def commonly_context_search(self, pod, actor, query, limit, types, include_skills):
        await asyncio.sleep(0)
        hit = {"assetId": "1", "title": query, "type": types[0], "score": 0.9, "pod": pod["id"], "by": actor.id,
               "skills": include_skills}
        return ContextSearch("semantic", [hit] * limit)


class BrokenSearch:
    name = "broken-search"

    @hookimpl
    def commonly_context_search(self):
        raise RuntimeError("index missing")


async def test_context_search_first_answer_wins_failures_skipped(make_app, caplog):
    kernel = make_app(plugins=[Semantic(), BrokenSearch(), Declines()]).kernel
    with caplog.at_level(logging.ERROR, logger="commonly.hooks"):
        answer = await kernel.hooks.context_search(POD, ALICE, "deploys", 2, ["note"], True)
    assert answer.mode == "semantic"
    assert answer.results == [{"assetId": "1", "title": "deploys", "type": "note", "score": 0.9, "pod": "pod-1",
                               "by": "alice", "skills": True}] * 2
    assert "broken-search" in caplog.text


async def test_context_search_none_when_nobody_answers(make_app):
    kernel = make_app(plugins=[Declines()]).kernel
    assert await kernel.hooks.context_search(POD, ALICE, "deploys", 5, [], False) is None


# -- domain events ------------------------------------------------------------------------------


class SyncRecorder:
    name = "sync-recorder"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    @hookimpl
    def commonly_user_created(self, user):
        self.calls.append(("user_created", user))

    @hookimpl
    def commonly_user_deleted(self, user_id):
        self.calls.append(("user_deleted", user_id))

    @hookimpl
    def commonly_message_created(self, message, pod):
        self.calls.append(("message_created", message, pod))

    @hookimpl
    def commonly_post_created(self, post):
        self.calls.append(("post_created", post))

    @hookimpl
    def commonly_comment_created(self, comment, post, mentions):
        self.calls.append(("comment_created", comment, post, mentions))

    @hookimpl
    def commonly_asset_saved(self, asset):
        self.calls.append(("asset_saved", asset))

    @hookimpl
    def commonly_asset_deleted(self, asset):
        self.calls.append(("asset_deleted", asset))

    @hookimpl
    def commonly_pod_member_changed(self, pod, user_id, change):
        self.calls.append(("pod_member_changed", pod, user_id, change))

    @hookimpl
    def commonly_pod_deleted(self, pod_id):
        self.calls.append(("pod_deleted", pod_id))

    @hookimpl
    def commonly_socket_connected(self, realtime, sid, actor, namespace):
        self.calls.append(("socket_connected", realtime, sid, actor, namespace))

    @hookimpl
    def commonly_socket_disconnected(self, realtime, sid, actor, namespace):
        self.calls.append(("socket_disconnected", realtime, sid, actor, namespace))


class AsyncRecorder:
    """Async implementations; each takes only the first argument (pluggy's opt-in arguments)."""

    name = "async-recorder"

    def __init__(self) -> None:
        self.calls: list[tuple] = []

    async def _record(self, event: str, first) -> None:
        await asyncio.sleep(0)  # a real suspension: the façade must await it
        self.calls.append((event, first))

    @hookimpl
    async def commonly_user_created(self, user):
        await self._record("user_created", user)

    @hookimpl
    async def commonly_user_deleted(self, user_id):
        await self._record("user_deleted", user_id)

    @hookimpl
    async def commonly_message_created(self, message):
        await self._record("message_created", message)

    @hookimpl
    async def commonly_post_created(self, post):
        await self._record("post_created", post)

    @hookimpl
    async def commonly_comment_created(self, comment):
        await self._record("comment_created", comment)

    @hookimpl
    async def commonly_asset_saved(self, asset):
        await self._record("asset_saved", asset)

    @hookimpl
    async def commonly_asset_deleted(self, asset):
        await self._record("asset_deleted", asset)

    @hookimpl
    async def commonly_pod_member_changed(self, pod):
        await self._record("pod_member_changed", pod)

    @hookimpl
    async def commonly_pod_deleted(self, pod_id):
        await self._record("pod_deleted", pod_id)

    @hookimpl
    async def commonly_socket_connected(self, realtime):
        await self._record("socket_connected", realtime)

    @hookimpl
    async def commonly_socket_disconnected(self, realtime):
        await self._record("socket_disconnected", realtime)


EVENTS = {
    "user_created": ({"id": "u1"},),
    "user_deleted": ("u1",),
    "message_created": ({"id": 7}, {"id": "pod-1"}),
    "post_created": ({"id": "p1"},),
    "comment_created": ({"id": "c1"}, {"id": "p1"}, ["ada"]),
    "asset_saved": ({"id": "a1"},),
    "asset_deleted": ({"id": "a1"},),
    "pod_member_changed": ({"id": "pod-1"}, "u1", "joined"),
    "pod_deleted": ("pod-1",),
    "socket_connected": ("realtime", "sid-1", ALICE, "/"),
    "socket_disconnected": ("realtime", "sid-1", ALICE, "/"),
}


def failing_everywhere() -> ModuleType:
    """A plugin whose every event hook raises (as no-argument functions: also opt-in)."""
    module = ModuleType("failing")

    def fail() -> None:
        raise RuntimeError("subscriber down")

    for event in EVENTS:
        setattr(module, f"commonly_{event}", hookimpl(fail))
    return module


def test_domain_events_cover_every_spec():
    from commonly_kernel import hookspecs
    from commonly_kernel.hooks import Hooks

    others = {"add_hookspecs", "register_models", "register_blueprints", "register_socket_handlers",
              "register_jobs", "register_commands", "startup", "shutdown", "actor_from_token", "pod_context",
              "context_search"}
    specs = {name.removeprefix("commonly_") for name in dir(hookspecs) if name.startswith("commonly_")}
    assert specs - others == set(EVENTS)
    # add_hookspecs is called while the manager is built, before any façade exists.
    assert all(callable(getattr(Hooks, name)) for name in specs - {"add_hookspecs"})


@pytest.mark.parametrize("event", list(EVENTS))
async def test_domain_event_sync_and_async_awaited(make_app, event):
    sync, async_ = SyncRecorder(), AsyncRecorder()
    kernel = make_app(plugins=[sync, async_]).kernel
    args = EVENTS[event]
    assert await getattr(kernel.hooks, event)(*args) is None
    assert sync.calls == [(event, *args)]
    assert async_.calls == [(event, args[0])]


@pytest.mark.parametrize("event", list(EVENTS))
async def test_domain_event_failure_logged_others_run(make_app, caplog, event):
    sync, async_ = SyncRecorder(), AsyncRecorder()
    # The failing plugin sits between the other two whatever the call order.
    kernel = make_app(plugins=[sync, failing_everywhere(), async_]).kernel
    with caplog.at_level(logging.ERROR, logger="commonly.hooks"):
        await getattr(kernel.hooks, event)(*EVENTS[event])
    assert len(sync.calls) == 1 and len(async_.calls) == 1
    assert f"plugin 'failing' failed in commonly_{event}" in caplog.text
    assert "subscriber down" in caplog.text


async def test_domain_event_async_failure_logged(make_app, caplog):
    class Flaky:
        name = "flaky"

        @hookimpl
        async def commonly_post_created(self, post):
            await asyncio.sleep(0)
            raise ConnectionError("webhook unreachable")

    sync = SyncRecorder()
    kernel = make_app(plugins=[Flaky(), sync]).kernel
    with caplog.at_level(logging.ERROR, logger="commonly.hooks"):
        await kernel.hooks.post_created({"id": "p9"})
    assert sync.calls == [("post_created", {"id": "p9"})]
    assert "plugin 'flaky' failed in commonly_post_created" in caplog.text


class KernelTaker:
    name = "kernel-taker"

    def __init__(self):
        self.seen = []

    @hookimpl
    def commonly_message_created(self, message, kernel):
        self.seen.append(("message", message["id"], kernel))

    @hookimpl
    def commonly_pod_context(self, kernel):
        self.seen.append(("context", None, kernel))


async def test_domain_events_and_context_offer_the_kernel(make_app):
    taker = KernelTaker()
    kernel = make_app(plugins=[taker]).kernel
    await kernel.hooks.message_created({"id": 7}, {"id": "pod-1"})  # outside any request
    await kernel.hooks.pod_context(POD, ALICE, {})
    assert taker.seen == [("message", 7, kernel), ("context", None, kernel)]
