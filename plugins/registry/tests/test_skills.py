"""Pod-imported agent skills: the local catalog, import (upsert), uninstall (archive), and the
credentials a skill's source mentions, fetched from a real local HTTP server."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from commonly_pods.models import PodAsset

IMPORT = "/api/skills/import"
REQUIREMENTS = "/api/skills/requirements"
SKILL_TEXT = """# Weather skill

Set `OPENAI_API_KEY` and GITHUB_TOKEN before use; the Slack variant reads SLACK_BOT_TOKEN.
Optional: WEATHER_API_KEY. Not credentials: PATH, HOME, my_api_key, API_KEY_LIST.
Repeated: OPENAI_API_KEY.
"""


# -- the catalog -----------------------------------------------------------------------------------


#: (query parameters, the skills listed)
CATALOG_SEARCHES = [
    ({}, ["pdf-tools", "git-helper", "weather"]),
    ({"q": "documents"}, ["pdf-tools", "weather"]),  # tags
    ({"q": "GIT"}, ["git-helper"]),  # name, any case
    ({"q": "forecasts"}, ["weather"]),  # description
    ({"q": "nothing"}, []),
    ({"limit": 1}, ["pdf-tools"]),
    ({"limit": 0}, ["pdf-tools"]),  # clamped
    ({"q": "documents", "limit": 1, "page": 2}, ["pdf-tools"]),
]


async def test_skill_catalog(client, make_user):
    alice = await make_user()
    for params, expected in CATALOG_SEARCHES:
        response = await client.get("/api/skills/catalog", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["source"], body["updatedAt"]) == ("awesome-skills", "2026-01-02T03:04:05Z")
        assert [item["name"] for item in body["items"]] == expected, params


@pytest.mark.parametrize("extra_settings", [{"COMMONLY_SKILLS_CATALOG": ""}])
async def test_without_a_catalog_file_the_catalog_is_empty(client, make_user, assert_error):
    alice = await make_user()
    body = (await client.get("/api/skills/catalog", headers=alice.headers)).json()
    assert (body["items"], body["source"]) == ([], "local")
    assert_error(await client.get("/api/skills/catalog"), 401)
    assert_error(await client.get("/api/skills/catalog", params={"limit": "x"}, headers=alice.headers), 400)


# -- import and uninstall --------------------------------------------------------------------------


async def context_skills(client, headers, pod, path="/api/pods/{}/context"):
    response = await client.get(path.format(pod["id"]), params={"skillMode": "none"}, headers=headers)
    assert response.status_code == 200, response.text
    return [(skill["title"], skill["content"]) for skill in response.json()["skills"]]


async def test_import_upserts_by_name_and_shows_in_the_context(client, make_user, make_pod, join_pod, assert_error):
    alice, bob = await make_user(), await make_user()
    pod = await make_pod(alice)
    await join_pod(bob, pod)
    body = {"podId": pod["id"], "name": "weather", "content": "# Weather\nv1", "description": "Forecasts",
            "tags": ["api"], "sourceUrl": "https://skills.example.com/weather.md", "license": "MIT"}
    response = await client.post(IMPORT, json=body, headers=alice.headers)
    assert response.status_code == 201, response.text
    created = response.json()
    assert (created["podId"], created["name"], created["scope"]) == (pod["id"], "weather", "pod")
    asset = (await client.get(f"/api/pods/{pod['id']}/assets/{created['assetId']}", headers=bob.headers)).json()
    assert (asset["type"], asset["sourceType"], asset["title"], asset["content"], asset["tags"], asset["status"]) == (
        "skill", "imported-skill", "weather", "# Weather\nv1", ["api"], "active")
    assert asset["sourceRef"] == "https://skills.example.com/weather.md"
    assert asset["metadata"]["scope"] == "pod" and asset["metadata"]["skillName"] == "weather"
    assert (asset["metadata"]["license"], asset["metadata"]["description"]) == ("MIT", "Forecasts")
    assert asset["createdByType"] == "human"
    assert await context_skills(client, bob.headers, pod) == [("weather", "# Weather\nv1")]

    # the same name again updates that asset (any member may)
    again = await client.post(IMPORT, json={"podId": pod["id"], "name": "weather", "content": "# Weather\nv2"},
                              headers=bob.headers)
    assert again.status_code == 201 and again.json()["assetId"] == created["assetId"]
    assert await context_skills(client, alice.headers, pod) == [("weather", "# Weather\nv2")]
    other = await client.post(IMPORT, json={"podId": pod["id"], "name": "pdf-tools", "content": "# PDF"},
                              headers=alice.headers)
    assert other.json()["assetId"] != created["assetId"]
    assert await PodAsset.filter(type="skill", status="active").count() == 2

    # uninstall archives it
    removed = await client.delete(f"/api/skills/pods/{pod['id']}/imported", params={"name": "weather"},
                                  headers=alice.headers)
    assert removed.status_code == 200
    assert removed.json() == {"success": True, "assetId": created["assetId"]}
    assert (await PodAsset.get(id=created["assetId"])).status == "archived"
    assert await context_skills(client, alice.headers, pod) == [("pdf-tools", "# PDF")]
    assert_error(await client.delete(f"/api/skills/pods/{pod['id']}/imported", params={"name": "weather"},
                                     headers=alice.headers), 404, "skill_not_found")
    # importing it again makes a new asset; the archived one stays
    fresh = await client.post(IMPORT, json={"podId": pod["id"], "name": "weather", "content": "v3"},
                              headers=alice.headers)
    assert fresh.status_code == 201 and fresh.json()["assetId"] != created["assetId"]
    assert await PodAsset.filter(type="skill").count() == 3


async def test_agent_scoped_skills(client, make_user, make_pod, install, runtime_token, agent_headers, assert_error):
    alice = await make_user()
    pod = await make_pod(alice)
    base = {"podId": pod["id"], "name": "triage", "content": "# Triage for agents", "scope": "agent"}
    body = assert_error(await client.post(IMPORT, json=base, headers=alice.headers), 400, "validation_error")
    assert body["details"][0]["field"] == "agentName"
    assert_error(await client.post(IMPORT, json={**base, "agentName": "helper"}, headers=alice.headers), 404,
                 "installation_not_found")
    assert await PodAsset.all().count() == 0

    await install(alice, pod, scopes=["memory:read"])
    await install(alice, pod, instanceId="night", scopes=[])
    response = await client.post(IMPORT, json={**base, "agentName": "helper"}, headers=alice.headers)
    assert response.status_code == 201, response.text
    default_skill = response.json()
    assert default_skill["scope"] == "agent"
    night = await client.post(IMPORT, json={**base, "agentName": "helper", "instanceId": "night",
                                            "content": "# Night triage"}, headers=alice.headers)
    pod_wide = await client.post(IMPORT, json={**base, "scope": "pod", "content": "# Triage for all"},
                                 headers=alice.headers)
    assert len({default_skill["assetId"], night.json()["assetId"], pod_wide.json()["assetId"]}) == 3
    again = await client.post(IMPORT, json={**base, "agentName": "helper", "instanceId": "default",
                                            "content": "# Triage v2"}, headers=alice.headers)
    assert again.json()["assetId"] == default_skill["assetId"]
    row = await PodAsset.get(id=default_skill["assetId"])
    assert (row.scope, row.agent_key, row.metadata["agentName"], row.metadata["instanceId"]) == (
        "agent", "helper:default", "helper", "default")
    assert_error(await client.post(IMPORT, json={**base, "agentName": "helper", "instanceId": "day"},
                                   headers=alice.headers), 404, "installation_not_found")

    # people see the pod's skills only; an instance that may read memory sees its own too
    assert await context_skills(client, alice.headers, pod) == [("triage", "# Triage for all")]
    default_token = agent_headers(await runtime_token(alice, pod))
    runtime_context = "/api/agents/runtime/pods/{}/context"
    assert sorted(await context_skills(client, default_token, pod, runtime_context)) == [
        ("triage", "# Triage for all"), ("triage", "# Triage v2")]
    night_token = agent_headers(await runtime_token(alice, pod, instanceId="night"))
    assert await context_skills(client, night_token, pod, runtime_context) == [("triage", "# Triage for all")]

    # uninstalling an agent's skill names the agent (and instance)
    url = f"/api/skills/pods/{pod['id']}/imported"
    removed = await client.delete(url, params={"name": "triage", "scope": "agent", "agentName": "helper",
                                               "instanceId": "night"}, headers=alice.headers)
    assert removed.json()["assetId"] == night.json()["assetId"]
    assert_error(await client.delete(url, params={"name": "triage", "scope": "agent"}, headers=alice.headers), 400)
    removed = await client.delete(url, params={"name": "triage", "scope": "agent", "agentName": "helper"},
                                  headers=alice.headers)
    assert removed.json()["assetId"] == default_skill["assetId"]
    assert await PodAsset.filter(status="active").count() == 1
    assert sorted(await context_skills(client, default_token, pod, runtime_context)) == [
        ("triage", "# Triage for all")]


async def test_skills_are_for_members(client, make_user, make_pod, assert_error):
    alice, bob = await make_user(), await make_user()
    open_pod = await make_pod(alice)
    private = await make_pod(alice, name="Private", joinPolicy="invite-only")
    await client.post(IMPORT, json={"podId": open_pod["id"], "name": "kept", "content": "x"}, headers=alice.headers)
    body = {"name": "mine", "content": "x"}
    assert_error(await client.post(IMPORT, json={**body, "podId": open_pod["id"]}, headers=bob.headers), 403,
                 "not_a_member")
    assert_error(await client.post(IMPORT, json={**body, "podId": private["id"]}, headers=bob.headers), 404,
                 "pod_not_found")
    assert_error(await client.post(IMPORT, json={**body, "podId": "nope"}, headers=alice.headers), 404)
    assert_error(await client.delete(f"/api/skills/pods/{open_pod['id']}/imported", params={"name": "kept"},
                                     headers=bob.headers), 403, "not_a_member")
    assert_error(await client.delete(f"/api/skills/pods/{private['id']}/imported", params={"name": "kept"},
                                     headers=bob.headers), 404, "pod_not_found")
    assert_error(await client.post(IMPORT, json={**body, "podId": open_pod["id"]}), 401)
    assert [(asset.title, asset.status) for asset in await PodAsset.all()] == [("kept", "active")]


# -- requirements ----------------------------------------------------------------------------------


class SkillSource(BaseHTTPRequestHandler):
    """Serves ``/skill.md``, ``/big.md`` (over 1 MiB), ``/missing`` (404) and ``/redirect`` (302)."""

    def do_GET(self):
        if self.path == "/skill.md":
            self._answer(200, SKILL_TEXT.encode())
        elif self.path == "/big.md":
            self._answer(200, b"OPENAI_API_KEY " * (1024 * 1024 // 15 + 100))
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/skill.md")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._answer(404, b"not here")

    def _answer(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "text/markdown")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def source_server():
    """A real HTTP server on a free loopback port: its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), SkillSource)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("extra_settings", [{"COMMONLY_ALLOW_PRIVATE_URLS": "1", "GITHUB_TOKEN": "ghp_test"}])
async def test_requirements_from_a_local_source(client, make_user, source_server, assert_error):
    alice = await make_user()
    response = await client.get(REQUIREMENTS, params={"sourceUrl": f"{source_server}/skill.md"}, headers=alice.headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["requirements"] == [
        {"name": "GITHUB_TOKEN", "type": "env", "present": True},
        {"name": "OPENAI_API_KEY", "type": "env", "present": False},
        {"name": "SLACK_BOT_TOKEN", "type": "env", "present": False},
        {"name": "WEATHER_API_KEY", "type": "env", "present": False},
    ]
    assert body["detectedCount"] == 4
    for path in ("/big.md", "/missing", "/redirect"):  # over 1 MiB, an error answer, a redirect not followed
        assert_error(await client.get(REQUIREMENTS, params={"sourceUrl": f"{source_server}{path}"},
                                      headers=alice.headers), 422, "source_unreachable")
    for url in ("ftp://127.0.0.1/skill.md", "not a url", "file:///etc/passwd"):
        assert_error(await client.get(REQUIREMENTS, params={"sourceUrl": url}, headers=alice.headers), 422,
                     "source_unreachable")
    assert_error(await client.get(REQUIREMENTS, params={"sourceUrl": f"{source_server}/skill.md"}), 401)
    body = assert_error(await client.get(REQUIREMENTS, headers=alice.headers), 400, "validation_error")
    assert body["details"][0]["field"] == "sourceUrl"


async def test_loopback_sources_are_refused_by_default(client, make_user, source_server, assert_error):
    alice = await make_user()
    port = source_server.rsplit(":", 1)[1]
    for url in (f"{source_server}/skill.md", f"https://127.0.0.1:{port}/skill.md", f"https://localhost:{port}/x",
                "https://10.0.0.8/skill.md", "https://[::1]/skill.md", "https://169.254.169.254/latest/meta-data"):
        assert_error(await client.get(REQUIREMENTS, params={"sourceUrl": url}, headers=alice.headers), 422,
                     "source_unreachable")
