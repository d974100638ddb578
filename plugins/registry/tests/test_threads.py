"""Thread mentions and thread comments as the agent, with the social plugin loaded (and without)."""

from __future__ import annotations

import pytest


@pytest.fixture
def commonly_plugins() -> list[str]:
    return ["auth", "pods", "social", "registry"]


async def setup(client, make_user, make_pod, install, runtime_token, scopes):
    alice = await make_user(username="alice")
    pod = await make_pod(alice)
    await install(alice, pod, "helper", scopes=scopes)
    token = await runtime_token(alice, pod, "helper")
    response = await client.post("/api/posts", json={"content": "Launch plan", "podId": pod["id"]},
                                 headers=alice.headers)
    assert response.status_code == 201, response.text
    return alice, pod, token, response.json()


async def test_mentioned_in_a_thread_the_agent_answers_there(client, make_user, make_pod, install, runtime_token,
                                                           agent_headers):
    alice, pod, token, post = await setup(client, make_user, make_pod, install, runtime_token,
                                          ["context:read", "messages:write", "posts:write"])
    response = await client.post(f"/api/posts/{post['id']}/comments", json={"text": "@helper what do you think?"},
                                 headers=alice.headers)
    assert response.status_code == 201, response.text
    events = (await client.get("/api/agents/runtime/events", headers=agent_headers(token))).json()["events"]
    assert [(event["type"], event["podId"], event["payload"]["postId"]) for event in events] == [
        ("thread.mention", pod["id"], post["id"])]
    assert events[0]["payload"]["content"] == "@helper what do you think?"
    assert events[0]["payload"]["userId"] == alice.id

    answer = await client.post(f"/api/agents/runtime/threads/{post['id']}/comments",
                               json={"content": "Ship it on Monday."}, headers=agent_headers(token))
    assert answer.status_code == 201, answer.text
    assert answer.json()["success"] is True
    thread = (await client.get(f"/api/posts/{post['id']}", headers=alice.headers)).json()
    assert [comment["text"] for comment in thread["comments"]] == ["@helper what do you think?", "Ship it on Monday."]
    # The agent's own comment wakes nobody, itself included.
    assert (await client.get("/api/agents/runtime/events", headers=agent_headers(token))).json()["events"] == []


async def test_thread_comments_need_posts_write(client, make_user, make_pod, install, runtime_token, agent_headers,
                                                assert_error):
    _, _, token, post = await setup(client, make_user, make_pod, install, runtime_token, ["messages:write"])
    response = await client.post(f"/api/agents/runtime/threads/{post['id']}/comments", json={"content": "hi"},
                                 headers=agent_headers(token))
    assert assert_error(response, 403, "missing_scope")["details"] == {"missing": ["posts:write"]}


async def test_threads_the_agent_cannot_see_are_404(client, make_user, make_pod, install, runtime_token,
                                                    agent_headers, assert_error):
    alice, _, token, _ = await setup(client, make_user, make_pod, install, runtime_token, ["posts:write"])
    other = await make_pod(alice, name="Elsewhere", joinPolicy="invite-only")
    hidden = await client.post("/api/posts", json={"content": "Private", "podId": other["id"]}, headers=alice.headers)
    for thread_id in (hidden.json()["id"], "999999", "not-a-post"):
        response = await client.post(f"/api/agents/runtime/threads/{thread_id}/comments", json={"content": "hi"},
                                     headers=agent_headers(token))
        assert_error(response, 404)


@pytest.mark.parametrize("commonly_plugins", [["auth", "pods", "registry"]])
async def test_without_the_social_plugin_threads_are_404(client, make_user, make_pod, install, runtime_token,
                                                         agent_headers, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    await install(alice, pod, "helper", scopes=["posts:write"])
    token = await runtime_token(alice, pod, "helper")
    response = await client.post("/api/agents/runtime/threads/1/comments", json={"content": "hi"},
                                 headers=agent_headers(token))
    assert_error(response, 404, "post_not_found")


async def test_agents_use_social_routes_as_their_bot_user(client, make_user, make_pod, install, runtime_token,
                                                          bot_token, agent_headers, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    await install(alice, pod, "helper", scopes=["messages:write"])
    token = await runtime_token(alice, pod, "helper")
    bot = await bot_token(alice, pod, "helper")
    await client.post("/api/posts", json={"content": "Pod news", "podId": pod["id"]}, headers=alice.headers)
    for headers in (agent_headers(token), agent_headers(bot)):
        listed = await client.get("/api/posts", params={"podId": pod["id"]}, headers=headers)
        assert [post["content"] for post in listed.json()] == ["Pod news"]
    refused = await client.post("/api/posts", json={"content": "from the agent"}, headers=agent_headers(token))
    assert assert_error(refused, 403, "missing_scope")
    patch = await client.patch(f"/api/registry/pods/{pod['id']}/agents/helper",
                               json={"scopes": ["messages:write", "posts:write"]}, headers=alice.headers)
    assert patch.status_code == 200, patch.text
    posted = await client.post("/api/posts", json={"content": "from the agent", "podId": pod["id"]},
                               headers=agent_headers(token))
    assert posted.status_code == 201, posted.text
    assert posted.json()["author"]["isBot"] is True
