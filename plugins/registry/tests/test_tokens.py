"""Runtime tokens and bot user tokens: shown once, stored as SHA-256 digests, accepted in both
headers, confined to their instance's pods and to their scopes."""

from __future__ import annotations

import asyncio
import hashlib
import re

import pytest
from commonly_registry.models import BotToken, RuntimeToken

RUNTIME = "/api/agents/runtime"


def sha256(token):
    return hashlib.sha256(token.encode()).hexdigest()


def tokens_url(pod, agent="helper"):
    return f"/api/registry/pods/{pod['id']}/agents/{agent}/runtime-tokens"


def bot_url(pod, agent="helper"):
    return f"/api/registry/pods/{pod['id']}/agents/{agent}/user-token"


@pytest.fixture
async def setup(client, make_user, make_pod, install):
    """alice's pod with helper installed."""
    alice = await make_user()
    pod = await make_pod(alice)
    installation = await install(alice, pod)
    return alice, pod, installation


# -- runtime tokens --------------------------------------------------------------------------------


async def test_runtime_token_is_shown_once_and_stored_as_a_digest(client, setup, agent_headers, assert_error):
    alice, pod, _ = setup
    response = await client.post(tokens_url(pod), json={"label": "laptop", "force": True}, headers=alice.headers)
    assert response.status_code == 201, response.text
    issued = response.json()
    assert set(issued) == {"token", "id", "label", "createdAt", "lastUsedAt"} or set(issued) == {
        "token", "id", "label", "createdAt"}
    token = issued["token"]
    assert re.fullmatch(r"cm_agent_[0-9a-f]{64}", token)
    assert (issued["label"], isinstance(issued["id"], str)) == ("laptop", True)
    row = await RuntimeToken.get(id=int(issued["id"]))
    assert row.token_hash == sha256(token)
    assert token not in str(await RuntimeToken.all().values())

    listed = (await client.get(tokens_url(pod), headers=alice.headers)).json()["tokens"]
    assert listed == [{"id": issued["id"], "label": "laptop", "createdAt": issued["createdAt"], "lastUsedAt": None}]
    assert token not in (await client.get(tokens_url(pod), headers=alice.headers)).text

    # every call issues a new token; both work
    second = (await client.post(tokens_url(pod), json={}, headers=alice.headers)).json()
    assert second["token"] != token and second["label"] == ""
    for each in (token, second["token"]):
        response = await client.get(f"{RUNTIME}/installations", headers=agent_headers(each))
        assert response.status_code == 200, response.text
        assert (response.json()["agentName"], response.json()["instanceId"]) == ("helper", "default")
    listed = (await client.get(tokens_url(pod), headers=alice.headers)).json()["tokens"]
    assert [item["id"] for item in listed] == [issued["id"], second["id"]]
    assert all(item["lastUsedAt"] and item["lastUsedAt"].endswith("Z") for item in listed)

    # revoking: 200, then the token is refused; the other one still works
    revoked = await client.delete(f"{tokens_url(pod)}/{issued['id']}", headers=alice.headers)
    assert revoked.status_code == 200 and revoked.json()["message"]
    assert_error(await client.get(f"{RUNTIME}/installations", headers=agent_headers(token)), 401, "unauthorized")
    assert (await client.get(f"{RUNTIME}/installations", headers=agent_headers(second["token"]))).status_code == 200
    assert_error(await client.delete(f"{tokens_url(pod)}/{issued['id']}", headers=alice.headers), 404,
                 "token_not_found")
    for bad in ("abc", "99999", "9" * 30, "-1"):
        assert_error(await client.delete(f"{tokens_url(pod)}/{bad}", headers=alice.headers), 404, "token_not_found")
    assert await RuntimeToken.all().count() == 1


async def test_token_routes_are_for_members(client, setup, make_user, make_pod, install, assert_error):
    alice, pod, _ = setup
    bob = await make_user()
    private = await make_pod(alice, name="Private", joinPolicy="invite-only")
    await install(alice, private)
    assert_error(await client.post(tokens_url(pod), json={}, headers=bob.headers), 403, "not_a_member")
    assert_error(await client.get(tokens_url(pod), headers=bob.headers), 403, "not_a_member")
    assert_error(await client.post(tokens_url(private), json={}, headers=bob.headers), 404, "pod_not_found")
    assert_error(await client.post(bot_url(pod), json={}, headers=bob.headers), 403, "not_a_member")
    assert_error(await client.get(bot_url(private), headers=bob.headers), 404, "pod_not_found")
    assert_error(await client.post(tokens_url(pod, "archivist"), json={}, headers=alice.headers), 404,
                 "installation_not_found")
    assert_error(await client.post(tokens_url(pod), json={}), 401)
    assert await RuntimeToken.all().count() == 0 and await BotToken.all().count() == 0


async def test_one_token_serves_every_pod_of_the_instance(client, setup, make_pod, install, runtime_token,
                                                          agent_headers):
    alice, pod, _ = setup
    other = await make_pod(alice, name="Other")
    await install(alice, other)
    token = await runtime_token(alice, pod)
    headers = agent_headers(token)
    pods = (await client.get(f"{RUNTIME}/installations", headers=headers)).json()["installations"]
    assert [row["podId"] for row in pods] == [pod["id"], other["id"]]
    for each in (pod, other):
        assert (await client.get(f"{RUNTIME}/pods/{each['id']}/context", headers=headers)).status_code == 200
    # the listing is per instance: the other pod shows the same token
    listed = (await client.get(tokens_url(other), headers=alice.headers)).json()["tokens"]
    assert len(listed) == 1


# -- bot user tokens -------------------------------------------------------------------------------


async def test_bot_token_lifecycle(client, setup, agent_headers, assert_error):
    alice, pod, _ = setup
    assert (await client.get(bot_url(pod), headers=alice.headers)).json() == {"hasToken": False, "createdAt": None,
                                                                            "scopes": []}
    response = await client.post(bot_url(pod), json={"scopes": ["agent:context:read", "AGENT:MESSAGES:READ"]},
                                 headers=alice.headers)
    assert response.status_code == 201, response.text
    first = response.json()
    token = first["token"]
    assert re.fullmatch(r"cm_[0-9a-f]{64}", token) and not token.startswith("cm_agent_")
    assert first["scopes"] == ["agent:context:read", "agent:messages:read"]
    row = await BotToken.get()
    assert row.token_hash == sha256(token) and token not in str(await BotToken.all().values())
    state = (await client.get(bot_url(pod), headers=alice.headers)).json()
    assert state == {"hasToken": True, "createdAt": first["createdAt"],
                     "scopes": ["agent:context:read", "agent:messages:read"]}
    assert token not in (await client.get(bot_url(pod), headers=alice.headers)).text
    context = f"{RUNTIME}/bot/pods/{pod['id']}/context"
    assert (await client.get(context, headers=agent_headers(token))).status_code == 200

    # POST replaces the token
    second = (await client.post(bot_url(pod), json={}, headers=alice.headers)).json()
    assert second["scopes"] == [] and second["token"] != token
    assert_error(await client.get(context, headers=agent_headers(token)), 401)
    assert (await client.get(context, headers=agent_headers(second["token"]))).status_code == 200
    assert await BotToken.all().count() == 1
    assert (await client.get(bot_url(pod), headers=alice.headers)).json()["scopes"] == []

    # DELETE revokes it
    deleted = await client.delete(bot_url(pod), headers=alice.headers)
    assert deleted.status_code == 200 and deleted.json()["message"]
    assert_error(await client.get(context, headers=agent_headers(second["token"])), 401)
    assert (await client.get(bot_url(pod), headers=alice.headers)).json()["hasToken"] is False
    assert_error(await client.delete(bot_url(pod), headers=alice.headers), 404, "token_not_found")
    body = assert_error(await client.post(bot_url(pod), json={"scopes": ["messages:write"]}, headers=alice.headers),
                        400, "validation_error")
    assert body["details"][0]["field"] == "scopes"
    assert await BotToken.all().count() == 0


async def test_concurrent_bot_token_issues_leave_one_token(client, setup, agent_headers):
    alice, pod, _ = setup
    responses = await asyncio.gather(*(client.post(bot_url(pod), json={}, headers=alice.headers) for _ in range(4)))
    assert [response.status_code for response in responses] == [201] * 4, [r.text for r in responses]
    assert await BotToken.all().count() == 1
    working = [response.json()["token"] for response in responses
               if (await client.get(f"{RUNTIME}/bot/events", headers=agent_headers(response.json()["token"]))
                   ).status_code == 200]
    assert len(working) == 1 and (await BotToken.get()).token_hash == sha256(working[0])


@pytest.mark.parametrize("kind", ["runtime", "bot"])
@pytest.mark.parametrize("header", ["Authorization", "x-commonly-agent-token"])
async def test_both_tokens_in_both_headers(client, setup, runtime_token, bot_token, kind, header, assert_error):
    alice, pod, _ = setup
    token = await (runtime_token(alice, pod) if kind == "runtime" else bot_token(alice, pod))
    headers = {header: f"Bearer {token}" if header == "Authorization" else token}
    path = f"{RUNTIME}/pods/{pod['id']}/context" if kind == "runtime" else f"{RUNTIME}/bot/pods/{pod['id']}/context"
    response = await client.get(path, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["pod"]["id"] == pod["id"]
    # the pods plugin's own routes accept them too, as the bot user
    messages = await client.get(f"/api/pods/{pod['id']}/messages", headers=headers)
    assert messages.status_code == 200 and messages.json() == []
    # each kind has its own runtime routes
    other = f"{RUNTIME}/bot/pods/{pod['id']}/context" if kind == "runtime" else f"{RUNTIME}/pods/{pod['id']}/context"
    assert_error(await client.get(other, headers=headers), 403, f"{'bot' if kind == 'runtime' else 'runtime'}"
                                                                 "_token_required")
    # a token-shaped string that was never issued is 401
    forged = token[:-4] + ("0000" if not token.endswith("0000") else "1111")
    assert_error(await client.get(path, headers={header: f"Bearer {forged}" if header == "Authorization"
                                                 else forged}), 401)


async def test_agent_tokens_cannot_manage_installations(client, setup, runtime_token, agent_headers, assert_error):
    alice, pod, _ = setup
    headers = agent_headers(await runtime_token(alice, pod))
    assert_error(await client.post("/api/registry/install", json={"agentName": "archivist", "podId": pod["id"],
                                                                  "scopes": ["memory:write"]}, headers=headers), 403)
    assert_error(await client.post(tokens_url(pod), json={}, headers=headers), 403)
    assert_error(await client.patch(f"/api/registry/pods/{pod['id']}/agents/helper", json={"scopes": []},
                                    headers=headers), 403)
    assert_error(await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}", headers=headers), 403)
    assert await RuntimeToken.all().count() == 1


# -- where a token reaches -------------------------------------------------------------------------


@pytest.fixture
async def three_pods(client, setup, make_pod):
    """alice's pod with helper, an open pod and an invite-only pod without it."""
    alice, pod, _ = setup
    open_pod = await make_pod(alice, name="Open")
    private = await make_pod(alice, name="Private", joinPolicy="invite-only")
    return alice, pod, open_pod, private


@pytest.mark.parametrize("kind", ["runtime", "bot"])
async def test_a_token_reaches_only_its_instances_pods(client, three_pods, runtime_token, bot_token, assert_error,
                                                        agent_headers, kind):
    alice, pod, open_pod, private = three_pods
    token = await (runtime_token(alice, pod) if kind == "runtime" else bot_token(alice, pod))
    headers = agent_headers(token)
    prefix = f"{RUNTIME}/bot" if kind == "bot" else RUNTIME
    home = await client.post(f"{prefix}/pods/{pod['id']}/messages", json={"content": "hi"}, headers=headers)
    assert home.status_code == 201, home.text
    for elsewhere in (open_pod, private):
        for method, path, body in [("GET", "context", None), ("GET", "messages", None),
                                   ("POST", "messages", {"content": "hello"})]:
            response = await client.request(method, f"{prefix}/pods/{elsewhere['id']}/{path}", json=body,
                                            headers=headers)
            assert_error(response, 403, "pod_not_reachable")
    # the pods plugin's routes: the open pod is 403, the invite-only one is hidden (404)
    assert_error(await client.post(f"/api/pods/{open_pod['id']}/messages", json={"content": "hello"},
                                   headers=headers), 403, "not_a_member")
    assert_error(await client.get(f"/api/pods/{open_pod['id']}/messages", headers=headers), 403, "not_a_member")
    assert_error(await client.get(f"/api/pods/{open_pod['id']}/context", headers=headers), 403, "not_a_member")
    assert_error(await client.post(f"/api/pods/{private['id']}/messages", json={"content": "hello"},
                                   headers=headers), 404, "pod_not_found")
    # agents never join pods by themselves
    assert_error(await client.post(f"/api/pods/{open_pod['id']}/join", headers=headers), 403, "join_refused")
    members = (await client.get(f"/api/pods/{open_pod['id']}", headers=alice.headers)).json()["members"]
    assert [member["id"] for member in members] == [alice.id]
    for each in (open_pod, private):
        assert (await client.get(f"/api/pods/{each['id']}/messages", headers=alice.headers)).json() == []


async def test_uninstalling_takes_the_pod_away_from_the_token(client, setup, make_pod, install, runtime_token,
                                                              agent_headers, assert_error):
    alice, pod, _ = setup
    other = await make_pod(alice, name="Other")
    await install(alice, other)
    headers = agent_headers(await runtime_token(alice, pod))
    assert (await client.get(f"{RUNTIME}/pods/{pod['id']}/messages", headers=headers)).status_code == 200
    assert (await client.delete(f"/api/registry/agents/helper/pods/{pod['id']}",
                                headers=alice.headers)).status_code == 200
    assert_error(await client.get(f"{RUNTIME}/pods/{pod['id']}/messages", headers=headers), 403, "pod_not_reachable")
    assert_error(await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "still here?"},
                                   headers=headers), 403, "not_a_member")
    # the token itself still works where the instance is installed
    assert (await client.get(f"{RUNTIME}/pods/{other['id']}/messages", headers=headers)).status_code == 200


async def test_scopes_apply_per_pod(client, make_user, make_pod, install, runtime_token, agent_headers, assert_error):
    alice = await make_user()
    writer = await make_pod(alice, name="Writer")
    reader = await make_pod(alice, name="Reader")
    await install(alice, writer, scopes=["agent:messages:write"])
    await install(alice, reader, scopes=["context:read"])
    headers = agent_headers(await runtime_token(alice, writer))

    for url in (f"{RUNTIME}/pods/{{}}/messages", "/api/pods/{}/messages"):
        posted = await client.post(url.format(writer["id"]), json={"content": "in writer"}, headers=headers)
        assert posted.status_code == 201, posted.text
        body = assert_error(await client.post(url.format(reader["id"]), json={"content": "in reader"},
                                              headers=headers), 403, "missing_scope")
        assert body["details"] == {"missing": ["messages:write"]}
    # reading is implied by installation
    read = await client.get(f"{RUNTIME}/pods/{reader['id']}/messages", headers=headers)
    assert read.status_code == 200 and read.json()["messages"] == []
    assert (await client.get(f"{RUNTIME}/pods/{reader['id']}/context", headers=headers)).status_code == 200
    written = (await client.get(f"/api/pods/{writer['id']}/messages", headers=alice.headers)).json()
    assert [message["content"] for message in written] == ["in writer", "in writer"]
    assert all(message["isBot"] and message["username"] == "helper" for message in written)
    assert (await client.get(f"/api/pods/{reader['id']}/messages", headers=alice.headers)).json() == []

    # granting the scope takes effect for the token at once
    patched = await client.patch(f"/api/registry/pods/{reader['id']}/agents/helper",
                                 json={"scopes": ["messages:write"]}, headers=alice.headers)
    assert patched.status_code == 200
    posted = await client.post(f"/api/pods/{reader['id']}/messages", json={"content": "now I may"}, headers=headers)
    assert posted.status_code == 201, posted.text
    # and taking it back, too
    await client.patch(f"/api/registry/pods/{writer['id']}/agents/helper", json={"scopes": []},
                       headers=alice.headers)
    assert_error(await client.post(f"{RUNTIME}/pods/{writer['id']}/messages", json={"content": "no more"},
                                   headers=headers), 403, "missing_scope")


BOT_ROUTES = [
    ("GET", "bot/events", "agent:events:read"),
    ("GET", "bot/pods/{pod}/context", "agent:context:read"),
    ("GET", "bot/pods/{pod}/messages", "agent:messages:read"),
    ("POST", "bot/pods/{pod}/messages", "agent:messages:write"),
]


@pytest.mark.parametrize("scopes", [[], ["agent:context:read"], ["agent:events:read", "agent:messages:write"],
                                    ["agent:events:read", "agent:events:ack", "agent:context:read",
                                     "agent:messages:read", "agent:messages:write"]])
async def test_bot_token_scopes(client, setup, bot_token, agent_headers, assert_error, scopes):
    alice, pod, _ = setup
    headers = agent_headers(await bot_token(alice, pod, scopes=scopes))
    for method, path, scope in BOT_ROUTES:
        body = {"content": "from the bot"} if method == "POST" else None
        response = await client.request(method, f"{RUNTIME}/{path.format(pod=pod['id'])}", json=body,
                                        headers=headers)
        if not scopes or scope in scopes:
            assert response.status_code in (200, 201), (path, response.text)
        else:
            details = assert_error(response, 403, "missing_scope")["details"]
            assert details == {"missing": [scope]}, path
    # the pods plugin's post route holds the bot token to its scopes too
    posted = await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "via pods"}, headers=headers)
    if not scopes or "agent:messages:write" in scopes:
        assert posted.status_code == 201, posted.text
    else:
        assert_error(posted, 403, "missing_scope")
    contents = [message["content"] for message in
                (await client.get(f"/api/pods/{pod['id']}/messages", headers=alice.headers)).json()]
    assert contents == (["from the bot", "via pods"] if not scopes or "agent:messages:write" in scopes else [])


async def test_bot_token_is_bounded_by_the_installation(client, make_user, make_pod, install, bot_token,
                                                        agent_headers, assert_error):
    """A bot token holding agent:messages:write still cannot post where the installation lacks it."""
    alice = await make_user()
    pod = await make_pod(alice)
    await install(alice, pod, scopes=[])
    headers = agent_headers(await bot_token(alice, pod, scopes=["agent:messages:write"]))
    assert_error(await client.post(f"{RUNTIME}/bot/pods/{pod['id']}/messages", json={"content": "x"},
                                   headers=headers), 403, "missing_scope")
    assert_error(await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "x"}, headers=headers),
                 403, "missing_scope")
    assert (await client.get(f"/api/pods/{pod['id']}/messages", headers=alice.headers)).json() == []
