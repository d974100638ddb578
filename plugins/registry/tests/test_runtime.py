"""The agent runtime API: identity, context, messages and posting as the agent, with runtime tokens
and their bot-token twins; agents mentioning each other under the loop guard."""

from __future__ import annotations

import json

import registry_test_helpers as h  # loaded by conftest.py from agent_helpers.py
from commonly_registry.models import AgentEvent

from commonly_kernel.testing import wait_for

commonly_plugins, commonly_settings, registry = h.commonly_plugins, h.commonly_settings, h.registry
ROW_KEYS = {"podId", "podName", "podType", "instanceId", "status", "type", "displayName", "scopes"}


# -- identity ----------------------------------------------------------------------------------


async def test_installations_lists_pods_then_dm_pods(registry):
    alice, bob = await registry.user(), await registry.user()
    first = await registry.pod(alice, name="First")
    second = await registry.pod(alice, name="Second", type="study")
    gone = await registry.pod(alice, name="Gone")
    agent = await registry.agent(alice, first, "helper", instanceId="default", displayName="Helper One")
    await registry.install(alice, second, "helper", scopes=["messages:read", "memory:read"])
    await registry.install(alice, gone, "helper")
    await registry.agent(alice, first, "helper", instanceId="other")  # another identity
    h.expect(await registry.http.delete(f"/api/registry/agents/helper/pods/{gone['id']}",
                                        params={"instanceId": "default"}, headers=alice.headers), 200)
    await registry.join(bob, first)
    dms = [h.expect(await registry.http.post("/api/agents/runtime/dm", json={"agentName": "helper"},
                                             headers=person.headers), 201)["dmPod"] for person in (alice, bob)]

    body = h.expect(await registry.http.get("/api/agents/runtime/installations", headers=agent.headers), 200)
    assert (body["agentName"], body["instanceId"]) == ("helper", "default")
    rows = body["installations"]
    assert all(set(row) == ROW_KEYS for row in rows)
    assert [(row["podId"], row["type"]) for row in rows] == \
        [(first["id"], "installation"), (second["id"], "installation"), (dms[0]["id"], "dm"), (dms[1]["id"], "dm")]
    assert rows[0] == {"podId": first["id"], "podName": "First", "podType": first["type"], "instanceId": "default",
                       "status": "active", "type": "installation", "displayName": "Helper One",
                       "scopes": ["context:read", "messages:read", "messages:write"]}
    assert rows[1]["scopes"] == ["memory:read", "messages:read"]
    assert rows[2]["podType"] == "agent-admin" and rows[2]["instanceId"] == "default"

    refused = await registry.http.get("/api/agents/runtime/installations", headers=alice.headers)
    assert refused.status_code == 403, refused.text


# -- context -----------------------------------------------------------------------------------


async def write_memory(registry, agent, pod, content: str) -> str:
    response = await registry.http.post(f"/api/v1/memory/{pod['id']}", json={"target": "memory", "content": content},
                                        headers=agent.headers)
    return h.expect(response, 201)["assetId"]


async def context_of(registry, who, pod, bot: bool = False) -> str:
    path = f"/api/agents/runtime/{'bot/' if bot else ''}pods/{pod['id']}/context"
    return json.dumps(h.expect(await registry.http.get(path, headers=who.headers), 200))


async def test_context_holds_the_agents_own_memory_only_with_memory_read(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    h.expect(await registry.http.post(f"/api/pods/{pod['id']}/assets", headers=alice.headers,
                                      json={"type": "note", "title": "Pod note", "content": "shared-pod-note"}), 201)
    reader = await registry.agent(alice, pod, "helper", scopes=["memory:read", "memory:write"])
    blind = await registry.agent(alice, pod, "echo", scopes=["memory:write"])
    await write_memory(registry, reader, pod, "reader-private-memory")
    await write_memory(registry, blind, pod, "blind-private-memory")

    body = h.expect(await registry.http.get(f"/api/agents/runtime/pods/{pod['id']}/context",
                                            headers=reader.headers), 200)
    assert body["pod"]["id"] == pod["id"]
    assert {"pod", "summaries", "assets", "skills"} <= set(body)
    reader_view = json.dumps(body)
    assert "shared-pod-note" in reader_view and "reader-private-memory" in reader_view
    assert "blind-private-memory" not in reader_view

    blind_view = await context_of(registry, blind, pod)
    assert "shared-pod-note" in blind_view
    assert "blind-private-memory" not in blind_view and "reader-private-memory" not in blind_view

    people_view = json.dumps(h.expect(await registry.http.get(f"/api/pods/{pod['id']}/context",
                                                              headers=alice.headers), 200))
    assert "reader-private-memory" not in people_view and "blind-private-memory" not in people_view


async def test_runtime_tokens_reach_only_their_pods(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    elsewhere = await registry.pod(alice, name="Elsewhere")
    agent = await registry.agent(alice, pod, "helper")
    for method, path, body in (
        ("GET", f"/api/agents/runtime/pods/{elsewhere['id']}/context", None),
        ("GET", f"/api/agents/runtime/pods/{elsewhere['id']}/messages", None),
        ("POST", f"/api/agents/runtime/pods/{elsewhere['id']}/messages", {"content": "hi"}),
        ("GET", "/api/agents/runtime/pods/not-a-pod/context", None),
    ):
        response = await registry.http.request(method, path, json=body, headers=agent.headers)
        assert response.status_code == 403, (path, response.text)
    assert await AgentEvent.all().count() == 0


# -- messages ----------------------------------------------------------------------------------


async def test_messages_page_marks_the_agents_own(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    other = await registry.agent(alice, pod, "echo")
    sent = [await registry.post(alice, pod, f"person {n}") for n in range(3)]
    sent.append(await registry.post(agent, pod, "from the agent"))
    sent.append(await registry.post(other, pod, "from another agent"))

    path = f"/api/agents/runtime/pods/{pod['id']}/messages"
    page = h.expect(await registry.http.get(path, params={"limit": 2}, headers=agent.headers), 200)
    assert page["hasMore"] is True
    assert [message["id"] for message in page["messages"]] == [sent[3]["id"], sent[4]["id"]]  # oldest → newest
    assert [message["self"] for message in page["messages"]] == [True, False]
    older = h.expect(await registry.http.get(path, params={"limit": 10, "before": sent[3]["id"]},
                                             headers=agent.headers), 200)
    assert [message["id"] for message in older["messages"]] == [message["id"] for message in sent[:3]]
    assert older["hasMore"] is False and not any(message["self"] for message in older["messages"])
    newer = h.expect(await registry.http.get(path, params={"after": sent[2]["id"]}, headers=agent.headers), 200)
    assert [message["content"] for message in newer["messages"]] == ["from the agent", "from another agent"]
    assert newer["messages"][0]["isBot"] is True and newer["messages"][0]["username"] == agent.username

    both = await registry.http.get(path, params={"before": 5, "after": 1}, headers=agent.headers)
    assert both.status_code == 400, both.text
    bad = await registry.http.get(path, params={"limit": "many"}, headers=agent.headers)
    assert bad.status_code == 400, bad.text


async def test_post_as_the_agent_is_stored_once_and_broadcast(registry, connect_socket):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    question = await registry.post(alice, pod, "what's up?")
    sio = await connect_socket(alice.token, events=["message", "newMessage"])
    assert (await sio.call("joinPod", {"podId": pod["id"]}, timeout=5))["ok"] is True

    response = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages", headers=agent.headers,
                                        json={"content": "All good!", "reply_to_message_id": question["id"],
                                              "metadata": {"model": "test"}})
    body = h.expect(response, 201)
    assert body["success"] is True
    message = body["message"]
    assert (message["content"], message["userId"], message["username"], message["isBot"]) == \
        ("All good!", agent.user_id, agent.username, True)
    assert message["replyToMessageId"] == question["id"] and message["podId"] == pod["id"]

    await wait_for(lambda: len(sio.received) == 2)
    assert sorted(name for name, _ in sio.received) == ["message", "newMessage"]
    assert all(data["id"] == message["id"] for _, data in sio.received)
    listed = h.expect(await registry.http.get(f"/api/pods/{pod['id']}/messages", headers=alice.headers), 200)
    assert [item["id"] for item in listed].count(message["id"]) == 1 and len(listed) == 2

    camel = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages", headers=agent.headers,
                                     json={"content": "again", "replyToMessageId": question["id"]})
    assert h.expect(camel, 201)["message"]["replyToMessageId"] == question["id"]


async def test_empty_or_no_reply_posts_nothing(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    agent = await registry.agent(alice, pod, "helper")
    for content in ("", "   ", "NO_REPLY", "  NO_REPLY\n"):
        response = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages",
                                            json={"content": content}, headers=agent.headers)
        assert h.expect(response, 200) == {"success": True, "skipped": True}
    empty = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages", json={},
                                     headers=agent.headers)
    assert h.expect(empty, 200)["skipped"] is True
    assert h.expect(await registry.http.get(f"/api/pods/{pod['id']}/messages", headers=alice.headers), 200) == []


async def test_posting_needs_messages_write_and_a_reply_in_the_pod(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    other_pod = await registry.pod(alice, name="Other")
    reader = await registry.agent(alice, pod, "helper", scopes=[])
    response = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages", json={"content": "hi"},
                                        headers=reader.headers)
    body = h.expect(response, 403)
    assert body["error"] == "missing_scope" and body["details"]["missing"] == ["messages:write"]
    # It may still read (installation implies context:read and messages:read).
    h.expect(await registry.http.get(f"/api/agents/runtime/pods/{pod['id']}/messages", headers=reader.headers), 200)
    h.expect(await registry.http.get(f"/api/agents/runtime/pods/{pod['id']}/context", headers=reader.headers), 200)

    writer = await registry.agent(alice, pod, "echo")
    foreign = await registry.post(alice, other_pod, "elsewhere")
    response = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages", headers=writer.headers,
                                        json={"content": "hi", "replyToMessageId": foreign["id"]})
    assert response.status_code == 400, response.text
    for bad in ({"content": 5}, {"content": "x", "unknown": 1}, {"content": "x" * 20_001}):
        response = await registry.http.post(f"/api/agents/runtime/pods/{pod['id']}/messages", json=bad,
                                            headers=writer.headers)
        assert response.status_code == 400, (bad, response.text)


# -- bot user tokens ---------------------------------------------------------------------------


async def test_bot_token_twins_of_context_and_messages(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    installation = await registry.install(alice, pod, "helper")
    bot = await registry.bot_token(alice, pod, installation)  # all scopes
    await registry.post(alice, pod, "hello bot")

    assert pod["id"] in await context_of(registry, bot, pod, bot=True)
    path = f"/api/agents/runtime/bot/pods/{pod['id']}/messages"
    page = h.expect(await registry.http.get(path, headers=bot.headers), 200)
    assert [message["content"] for message in page["messages"]] == ["hello bot"] and page["hasMore"] is False
    posted = h.expect(await registry.http.post(path, json={"content": "hi from the bot token"},
                                               headers=bot.headers), 201)
    assert posted["message"]["userId"] == installation["botUserId"]
    skipped = h.expect(await registry.http.post(path, json={"content": "NO_REPLY"}, headers=bot.headers), 200)
    assert skipped["skipped"] is True
    page = h.expect(await registry.http.get(path, headers=bot.headers), 200)
    assert [message["self"] for message in page["messages"]] == [False, True]

    # Each kind of token only on its own routes.
    runtime = await registry.runtime_token(alice, pod, installation)
    assert (await registry.http.get(path, headers=runtime.headers)).status_code == 403
    assert (await registry.http.get(f"/api/agents/runtime/pods/{pod['id']}/messages",
                                    headers=bot.headers)).status_code == 403


async def test_bot_token_scopes_guard_each_twin(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    installation = await registry.install(alice, pod, "helper")
    base = f"/api/agents/runtime/bot/pods/{pod['id']}"
    calls = {
        "agent:context:read": ("GET", f"{base}/context", None),
        "agent:messages:read": ("GET", f"{base}/messages", None),
        "agent:messages:write": ("POST", f"{base}/messages", {"content": "hi"}),
    }
    for granted in calls:
        bot = await registry.bot_token(alice, pod, installation, [granted])
        for scope, (method, path, body) in calls.items():
            response = await registry.http.request(method, path, json=body, headers=bot.headers)
            if scope == granted:
                assert response.status_code in (200, 201), (granted, path, response.text)
            else:
                refused = h.expect(response, 403)
                assert refused["error"] == "missing_scope" and refused["details"]["missing"] == [scope]


async def test_bot_token_is_bound_by_the_installations_scopes(registry):
    alice = await registry.user()
    pod = await registry.pod(alice)
    installation = await registry.install(alice, pod, "helper", scopes=["messages:read"])
    bot = await registry.bot_token(alice, pod, installation)  # all agent:* scopes, but the install lacks write
    response = await registry.http.post(f"/api/agents/runtime/bot/pods/{pod['id']}/messages",
                                        json={"content": "hi"}, headers=bot.headers)
    assert h.expect(response, 403)["error"] == "missing_scope"


# -- agents talking to agents ------------------------------------------------------------------


async def test_agents_mention_each_other_under_the_loop_guard(registry):
    """Two agents that always answer by mentioning the other: the loop guard ends the ping-pong."""
    alice = await registry.user()
    pod = await registry.pod(alice)
    helper = await registry.agent(alice, pod, "helper")
    echo = await registry.agent(alice, pod, "echo")
    await registry.post(alice, pod, "@helper start a conversation with @echo")  # a person: wakes both
    turns = 0
    woke = True
    for _ in range(20):
        if not woke:
            break
        woke = False
        for me, other in ((helper, echo), (echo, helper)):
            for event in await registry.fetch(me):
                woke = True
                turns += 1
                if event["payload"]["userId"] != alice.id:
                    assert event["payload"]["userId"] == other.user_id
                    assert event["payload"]["username"] == other.username
                answer = await registry.post(me, pod, f"@{other.agent_name} turn {turns}")
                await registry.ack(me, event["id"], {"outcome": "posted", "messageId": answer["id"]})
    assert not woke, "the agents kept waking each other"
    # Each agent: one wake from alice, then three from the other agent (the loop guard).
    assert await AgentEvent.filter(pod_id=pod["id"], from_agent=True).count() == 6
    assert turns == 8
    # A person still wakes them at once.
    await registry.post(alice, pod, "@helper @echo thanks both")
    assert len(await registry.fetch(helper)) == 1 and len(await registry.fetch(echo)) == 1
