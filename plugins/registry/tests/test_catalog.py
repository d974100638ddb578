"""The registry catalog: built-in, catalog-file, published and template entries; search, categories
and pagination; presets and their readiness; publishing rules; template visibility."""

from __future__ import annotations

import pytest
from commonly_registry.models import PublishedAgent, Template

from commonly_kernel import hookimpl

AGENTS = "/api/registry/agents"
CATALOG_NAMES = ["@acme/ops-bot", "archivist", "helper", "summarizer"]


async def names(client, user, **params):
    response = await client.get(AGENTS, params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    return [agent["name"] for agent in response.json()["agents"]]


async def test_list_shows_the_catalog_file_sorted_by_name(client, make_user, assert_error):
    alice = await make_user()
    response = await client.get(AGENTS, headers=alice.headers)
    assert response.status_code == 200
    body = response.json()
    assert [agent["name"] for agent in body["agents"]] == CATALOG_NAMES
    assert (body["total"], body["hasMore"], body["nextCursor"]) == (4, False, None)
    helper = next(agent for agent in body["agents"] if agent["name"] == "helper")
    assert helper == {
        "name": "helper", "displayName": "Helper", "description": "Answers questions in chat", "version": "1.2.0",
        "manifest": {"capabilities": ["chat"], "requiredScopes": [], "context": {"required": ["messages"],
                                                                                 "optional": []}},
        "categories": ["productivity", "chat"], "tags": [], "iconUrl": "https://cdn.example.com/helper.png",
        "verified": True, "registry": "official", "status": "active",
    }
    ops = next(agent for agent in body["agents"] if agent["name"] == "@acme/ops-bot")
    assert (ops["registry"], ops["verified"], ops["manifest"]["context"]) == ("community", False,
                                                                              {"required": [], "optional": []})
    assert_error(await client.get(AGENTS), 401, "unauthorized")


#: (query parameters, the names listed)
SEARCHES = [
    ({"q": "help"}, ["helper"]),
    ({"q": "DIGEST"}, ["summarizer"]),  # description, any case
    ({"q": "ops bot"}, ["@acme/ops-bot"]),  # display name
    ({"q": "memory"}, ["archivist"]),
    ({"q": "nothing-like-this"}, []),
    ({"category": "productivity"}, ["helper", "summarizer"]),  # categories match in any case
    ({"category": "CHAT"}, ["helper"]),
    ({"category": "productivity", "q": "digest"}, ["summarizer"]),
    ({"category": "unknown"}, []),
    ({"sort": "popular", "page": "3"}, CATALOG_NAMES),  # unknown query parameters are ignored
]


async def test_search_and_categories(client, make_user):
    alice = await make_user()
    for params, expected in SEARCHES:
        response = await client.get(AGENTS, params=params, headers=alice.headers)
        assert [agent["name"] for agent in response.json()["agents"]] == expected, params
        assert response.json()["total"] == len(expected), params


async def test_pagination_by_name(client, make_user, assert_error):
    alice = await make_user()
    first = (await client.get(AGENTS, params={"limit": 3}, headers=alice.headers)).json()
    assert [agent["name"] for agent in first["agents"]] == CATALOG_NAMES[:3]
    assert (first["total"], first["hasMore"], first["nextCursor"]) == (4, True, "helper")
    rest = (await client.get(AGENTS, params={"limit": 3, "before": first["nextCursor"]}, headers=alice.headers)).json()
    assert [agent["name"] for agent in rest["agents"]] == ["summarizer"]
    assert (rest["total"], rest["hasMore"], rest["nextCursor"]) == (4, False, None)
    # limits are clamped to 1..100, never refused; a limit that is not a number is
    assert await names(client, alice, limit=0) == ["@acme/ops-bot"]
    assert await names(client, alice, limit=100_000) == CATALOG_NAMES
    body = assert_error(await client.get(AGENTS, params={"limit": "abc"}, headers=alice.headers), 400,
                        "validation_error")
    assert [item["field"] for item in body["details"]] == ["limit"]


async def test_get_one_agent(client, make_user, assert_error):
    alice = await make_user()
    helper = (await client.get(f"{AGENTS}/helper", headers=alice.headers)).json()
    assert (helper["name"], helper["version"], helper["registry"]) == ("helper", "1.2.0", "official")
    scoped = await client.get(f"{AGENTS}/@acme/ops-bot", headers=alice.headers)
    assert scoped.status_code == 200 and scoped.json()["displayName"] == "Ops Bot"
    assert_error(await client.get(f"{AGENTS}/nobody", headers=alice.headers), 404, "agent_not_found")
    assert_error(await client.get(f"{AGENTS}/helper"), 401)


@pytest.mark.parametrize(("extra_settings", "summarizer_ready"), [({}, False), ({"OPENAI_API_KEY": "sk-test"}, True)])
async def test_presets_readiness(client, make_user, summarizer_ready):
    alice = await make_user()
    response = await client.get("/api/registry/presets", headers=alice.headers)
    assert response.status_code == 200
    presets = {preset["agentName"]: preset for preset in response.json()["presets"]}
    assert sorted(presets) == CATALOG_NAMES
    summarizer = presets["summarizer"]
    assert summarizer["requiredScopes"] == ["agent:messages:write", "summaries:read"]
    assert summarizer["requiredSettings"] == ["OPENAI_API_KEY"]
    assert summarizer["ready"] is summarizer_ready
    assert summarizer["missingSettings"] == ([] if summarizer_ready else ["OPENAI_API_KEY"])
    assert (presets["helper"]["ready"], presets["helper"]["missingSettings"]) == (True, [])
    assert (presets["archivist"]["requiredScopes"], presets["archivist"]["ready"]) == (["memory:write"], True)


# -- publishing ------------------------------------------------------------------------------------


def manifest(name="weather-bot", version="1.0.0", **fields):
    return {"name": name, "version": version, **fields}


async def publish(client, user, body):
    return await client.post("/api/registry/publish", json=body, headers=user.headers)


async def test_publish_creates_a_community_entry_and_versions(client, make_user, install, make_pod):
    alice = await make_user()
    first = manifest(description="Forecasts for the pod", capabilities=["chat"], requiredScopes=["messages:write"],
                     context={"required": ["messages"]}, runtimeType="openclaw", entry={"command": "run.sh"})
    response = await publish(client, alice, {"manifest": first, "displayName": "Weather Bot", "readme": "# Weather",
                                             "categories": ["utilities"], "tags": ["forecast"]})
    assert response.status_code == 200, response.text
    assert response.json() == {"success": True, "agent": {"name": "weather-bot", "version": "1.0.0",
                                                          "status": "active"}}
    entry = (await client.get(f"{AGENTS}/weather-bot", headers=alice.headers)).json()
    assert (entry["registry"], entry["verified"], entry["status"]) == ("community", False, "active")
    assert (entry["displayName"], entry["description"], entry["version"]) == ("Weather Bot", "Forecasts for the pod",
                                                                              "1.0.0")
    assert (entry["categories"], entry["tags"]) == (["utilities"], ["forecast"])
    # other keys inside the manifest are kept (the original CLI sends runtimeType)
    assert entry["manifest"]["runtimeType"] == "openclaw" and entry["manifest"]["entry"] == {"command": "run.sh"}
    assert entry["manifest"]["requiredScopes"] == ["messages:write"]
    assert await names(client, alice, category="utilities") == ["weather-bot"]
    row = await PublishedAgent.get(name="weather-bot")
    assert (str(row.owner_id), row.readme, list(row.versions)) == (alice.id, "# Weather", ["1.0.0"])

    # a new version becomes the entry's version; what the new publish leaves out is kept
    response = await publish(client, alice, {"manifest": manifest(version="1.1.0", description="Now with radar")})
    assert response.json()["agent"] == {"name": "weather-bot", "version": "1.1.0", "status": "active"}
    entry = (await client.get(f"{AGENTS}/weather-bot", headers=alice.headers)).json()
    assert (entry["version"], entry["description"], entry["displayName"]) == ("1.1.0", "Now with radar", "Weather Bot")
    assert entry["categories"] == ["utilities"] and "runtimeType" not in entry["manifest"]
    # the same version again replaces it (200)
    response = await publish(client, alice, {"manifest": manifest(version="1.1.0", description="Radar, fixed")})
    assert response.status_code == 200 and response.json()["agent"]["version"] == "1.1.0"
    entry = (await client.get(f"{AGENTS}/weather-bot", headers=alice.headers)).json()
    assert entry["description"] == "Radar, fixed"
    row = await PublishedAgent.get(name="weather-bot")
    assert sorted(row.versions) == ["1.0.0", "1.1.0"]
    assert row.versions["1.1.0"]["description"] == "Radar, fixed"
    assert await PublishedAgent.all().count() == 1

    # a published agent is installable, with the version it has now
    pod = await make_pod(alice)
    installation = await install(alice, pod, "weather-bot")
    assert (installation["version"], installation["displayName"]) == ("1.1.0", "Weather Bot")


async def test_someone_elses_name_is_403_and_taken_names_409(client, make_user, assert_error):
    alice, bob = await make_user(), await make_user()
    assert (await publish(client, alice, {"manifest": manifest()})).status_code == 200
    assert_error(await publish(client, bob, {"manifest": manifest(version="9.9.9")}), 403, "not_owner")
    template = await client.post("/api/registry/templates", json={"agentName": "bobs-template"},
                                 headers=bob.headers)
    assert template.status_code == 201
    for name in ("helper", "@acme/ops-bot", "bobs-template"):  # catalog file, template
        assert_error(await publish(client, alice, {"manifest": manifest(name=name)}), 409, "name_taken")
        assert_error(await publish(client, bob, {"manifest": manifest(name=name)}), 409, "name_taken")
    row = await PublishedAgent.get(name="weather-bot")
    assert (row.version, str(row.owner_id), await PublishedAgent.all().count()) == ("1.0.0", alice.id, 1)


class BuiltIn:
    """A plugin that ships an agent through the registry's hook."""

    name = "test-built-in-agents"

    @hookimpl
    def commonly_register_agents(self, settings):
        return [{"name": "greeter", "displayName": "Greeter", "description": "Says hello", "version": "3.0.0",
                 "categories": ["chat"]}]


@pytest.mark.parametrize("commonly_plugins", [["auth", "pods", "registry", BuiltIn()]])
async def test_built_in_entries_are_official_and_their_names_taken(client, make_user, assert_error):
    alice = await make_user()
    assert await names(client, alice) == ["@acme/ops-bot", "archivist", "greeter", "helper", "summarizer"]
    greeter = (await client.get(f"{AGENTS}/greeter", headers=alice.headers)).json()
    assert (greeter["registry"], greeter["verified"], greeter["version"]) == ("official", True, "3.0.0")
    assert_error(await publish(client, alice, {"manifest": manifest(name="greeter")}), 409, "name_taken")
    assert_error(await client.post("/api/registry/templates", json={"agentName": "greeter"}, headers=alice.headers),
                 409, "name_taken")


#: (manifest fields over a valid manifest (None: left out), the fields the 400 names)
BAD_MANIFESTS = [
    ({"name": None}, ["manifest.name"]),
    ({"name": 5}, ["manifest.name"]),
    ({"name": "Weather Bot"}, ["manifest.name"]),  # not a registry slug
    ({"name": "-weather"}, ["manifest.name"]),
    ({"name": "weather/bot"}, ["manifest.name"]),
    ({"name": "@" + "a" * 30 + "/" + "b" * 100}, ["manifest.name"]),  # longer than 120 characters
    ({"version": None}, ["manifest.version"]),
    ({"version": 1.0}, ["manifest.version"]),
    ({"version": "  "}, ["manifest.version"]),
    ({"version": "1." * 31}, ["manifest.version"]),  # longer than 60 characters
    ({"capabilities": "chat"}, ["manifest.capabilities"]),
    ({"requiredScopes": ["messages:write", 5]}, ["manifest.requiredScopes"]),
    ({"description": ["x"]}, ["manifest.description"]),
    ({"context": "messages"}, ["manifest.context"]),
    ({"name": 5, "version": 5, "context": []}, ["manifest.name", "manifest.version", "manifest.context"]),
]


async def test_invalid_manifests_are_400_with_details(client, make_user, assert_error):
    alice = await make_user()
    for bad, fields in BAD_MANIFESTS:
        body = {key: value for key, value in {**manifest(), **bad}.items() if value is not None}
        response = await publish(client, alice, {"manifest": body})
        details = assert_error(response, 400, "invalid_manifest")["details"]
        assert [item["field"] for item in details] == fields, bad
    assert await PublishedAgent.all().count() == 0


async def test_publishing_needs_a_person(client, make_user, make_pod, install, runtime_token, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    await install(alice, pod)
    token = await runtime_token(alice, pod)
    response = await client.post("/api/registry/publish", json={"manifest": manifest()},
                                 headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 403)
    assert_error(await client.post("/api/registry/publish", json={"manifest": manifest()}), 401)
    assert await PublishedAgent.all().count() == 0


# -- templates -------------------------------------------------------------------------------------


async def test_templates_private_and_public(client, make_user, make_pod, install, assert_error):
    alice, bob = await make_user(), await make_user()
    response = await client.post("/api/registry/templates", json={
        "agentName": "alices-notes", "displayName": "Alice's notes", "description": "Private helper",
        "iconUrl": "https://cdn.example.com/notes.png"}, headers=alice.headers)
    assert response.status_code == 201, response.text
    private = response.json()["template"]
    assert (private["agentName"], private["visibility"], private["createdBy"]) == ("alices-notes", "private", alice.id)
    response = await client.post("/api/registry/templates", json={"agentName": "team-digest", "visibility": "public"},
                                 headers=bob.headers)
    public = response.json()["template"]
    assert (public["displayName"], public["visibility"]) == ("team-digest", "public")

    async def templates(user):
        response = await client.get("/api/registry/templates", headers=user.headers)
        return [template["agentName"] for template in response.json()["templates"]]

    assert await templates(alice) == ["alices-notes", "team-digest"]
    assert await templates(bob) == ["team-digest"]
    assert await names(client, alice) == ["@acme/ops-bot", "alices-notes", "archivist", "helper", "summarizer",
                                          "team-digest"]
    assert "alices-notes" not in await names(client, bob)
    entry = (await client.get(f"{AGENTS}/alices-notes", headers=alice.headers)).json()
    assert (entry["registry"], entry["displayName"], entry["iconUrl"]) == ("private", "Alice's notes",
                                                                           "https://cdn.example.com/notes.png")
    assert_error(await client.get(f"{AGENTS}/alices-notes", headers=bob.headers), 404, "agent_not_found")
    assert (await client.get(f"{AGENTS}/team-digest", headers=alice.headers)).json()["registry"] == "private"

    # only the owner may install a private template; the installation shows the template's icon
    pod = await make_pod(alice)
    await client.post(f"/api/pods/{pod['id']}/join", headers=bob.headers)
    assert_error(await client.post("/api/registry/install", json={"agentName": "alices-notes", "podId": pod["id"]},
                                   headers=bob.headers), 404, "agent_not_found")
    installed = await install(alice, pod, "alices-notes")
    assert installed["iconUrl"] == "https://cdn.example.com/notes.png"
    listed = (await client.get(f"/api/registry/pods/{pod['id']}/agents", headers=bob.headers)).json()["agents"]
    assert [(item["agentName"], item["iconUrl"]) for item in listed] == [("alices-notes",
                                                                          "https://cdn.example.com/notes.png")]

    # names are unique across templates, catalog and published entries
    assert (await publish(client, bob, {"manifest": manifest(name="bobs-bot")})).status_code == 200
    for name in ("alices-notes", "team-digest", "helper", "bobs-bot"):
        assert_error(await client.post("/api/registry/templates", json={"agentName": name}, headers=alice.headers),
                     409, "name_taken")
    body = assert_error(await client.post("/api/registry/templates", json={"agentName": "Not A Slug"},
                                          headers=alice.headers), 400)
    assert body["details"][0]["field"] == "agentName"
    assert_error(await client.post("/api/registry/templates", json={"agentName": "x", "visibility": "team"},
                                   headers=alice.headers), 400, "validation_error")
    assert await Template.all().count() == 2
