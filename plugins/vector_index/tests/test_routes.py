"""Authorization of every route and bad input: the envelope, nothing written, and no model call for
a refused request."""

from __future__ import annotations

import uuid

from commonly_vector_index.models import VectorJob

ROUTES = [
    ("POST", "/api/v1/pods/{pod}/index/rebuild"),
    ("GET", "/api/v1/pods/{pod}/index/stats"),
    ("POST", "/api/v1/index/rebuild-all"),
    ("GET", "/api/v1/pods/{pod}/index/search?q=hello"),
]


async def test_every_route_needs_a_token(client, make_user, make_pod, assert_error, embedder):
    pod = await make_pod(await make_user())
    for method, path in ROUTES:
        response = await client.request(method, path.format(pod=pod["id"]))
        assert_error(response, 401)
        response = await client.request(method, path.format(pod=pod["id"]),
                                        headers={"Authorization": "Bearer not-a-token"})
        assert_error(response, 401)
    assert embedder.calls == 0


async def test_pod_rules_for_strangers_members_and_admins(client, make_user, make_pod, join_pod, make_asset,
                                                          indexed, assert_error, embedder):
    alice, bob, carol = await make_user(), await make_user(), await make_user()
    root = await make_user(role="admin")
    open_pod = await make_pod(alice, name="Open")
    private = await make_pod(alice, name="Private", joinPolicy="invite-only")
    await make_asset(alice, open_pod, title="Note", content="Something to find.")
    await indexed(alice, open_pod)
    await join_pod(bob, open_pod)
    calls = embedder.calls
    jobs = await VectorJob.all().count()
    pod_routes = [route for route in ROUTES if "{pod}" in route[1]]
    for method, path in pod_routes:
        # Not a member: 403 on an open pod, 404 on a private one (ids cannot be probed).
        assert_error(await client.request(method, path.format(pod=open_pod["id"]), headers=carol.headers),
                     403, "not_a_member")
        assert_error(await client.request(method, path.format(pod=private["id"]), headers=carol.headers),
                     404, "pod_not_found")
        for bad in (str(uuid.uuid4()), "not-a-uuid", "9" * 40):
            assert_error(await client.request(method, path.format(pod=bad), headers=alice.headers), 404)
    # Members read; only the pod's admin (or a global admin) rebuilds.
    rebuild = f"/api/v1/pods/{open_pod['id']}/index/rebuild"
    assert_error(await client.post(rebuild, headers=bob.headers), 403, "pod_admin_required")
    assert embedder.calls == calls and await VectorJob.all().count() == jobs  # nothing embedded or queued
    assert (await client.get(f"/api/v1/pods/{open_pod['id']}/index/stats", headers=bob.headers)).status_code == 200
    response = await client.get(f"/api/v1/pods/{open_pod['id']}/index/search", params={"q": "find"},
                                headers=bob.headers)
    assert response.status_code == 200 and len(response.json()["results"]) == 1
    assert (await client.post(rebuild, headers=root.headers)).status_code == 200
    assert (await client.post(f"/api/v1/pods/{private['id']}/index/rebuild", headers=alice.headers,
                              json={"reset": True})).status_code == 200
    # rebuild-all covers the pods the caller created: none for bob.
    response = await client.post("/api/v1/index/rebuild-all", headers=bob.headers)
    assert response.status_code == 200 and response.json() == {"pods": 0, "indexed": 0, "errors": 0, "total": 0,
                                                                "reset": False, "pending": 0}


async def test_bad_input_is_refused_before_any_model_call(client, make_user, make_pod, make_asset, indexed,
                                                          assert_error, embedder):
    alice = await make_user()
    pod = await make_pod(alice)
    await make_asset(alice, pod, title="Note", content="Something to find.")
    await indexed(alice, pod)
    calls = embedder.calls
    jobs = await VectorJob.all().count()
    url = f"/api/v1/pods/{pod['id']}/index/search"
    for params, field in [({}, "q"), ({"q": ""}, "q"), ({"q": "   "}, "q"), ({"q": "x" * 1001}, "q"),
                          ({"q": "ok", "limit": "abc"}, "limit"), ({"q": "ok", "types": "Not A Type"}, "types"),
                          ({"q": "ok", "types": "note,../x"}, "types"), ({"q": "ok", "hybrid": "maybe"}, "hybrid")]:
        body = assert_error(await client.get(url, params=params, headers=alice.headers), 400, "validation_error")
        assert field in {detail["field"] for detail in body["details"]}, (params, body)
    rebuild = f"/api/v1/pods/{pod['id']}/index/rebuild"
    for payload in (b"{", b"[1]", b'{"reset": "yes"}', b'{"reset": true, "extra": 1}', b"\xff\xfe"):
        response = await client.post(rebuild, content=payload, headers={**alice.headers,
                                                                         "Content-Type": "application/json"})
        assert_error(response, 400)
    assert_error(await client.post(rebuild, content=b'{"reset": true, "pad": "' + b"x" * 1_100_000 + b'"}',
                                   headers={**alice.headers, "Content-Type": "application/json"}), 413)
    assert embedder.calls == calls and await VectorJob.all().count() == jobs
    # An empty body with a JSON content type (the original CLI sends one) is no body at all.
    response = await client.post(rebuild, headers={**alice.headers, "Content-Type": "application/json"})
    assert response.status_code == 200 and response.json()["total"] == 1
    # Unknown query parameters are ignored.
    response = await client.get(url, params={"q": "find", "foo": "bar"}, headers=alice.headers)
    assert response.status_code == 200


async def test_routes_are_documented(client):
    paths = (await client.get("/openapi.json")).json()["paths"]
    for method, path in ROUTES:
        documented = paths[path.split("?")[0].replace("{pod}", "{pod_id}")][method.lower()]
        assert {"401", "403"} <= set(documented["responses"]), (path, documented["responses"])
