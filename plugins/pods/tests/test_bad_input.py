"""Bad input of every kind is a 4xx in the envelope — never a 500 — and stores nothing."""

from __future__ import annotations

import pytest
from commonly_pods.models import IdempotencyKey, Message, Pod, PodAsset, PodMember

NO_POD = "00000000-0000-4000-8000-000000000000"


async def stored() -> tuple[int, ...]:
    return tuple([await model.all().count() for model in (Pod, PodMember, Message, IdempotencyKey, PodAsset)])


@pytest.fixture
async def setup(make_user, make_pod, post_message, make_asset):
    alice = await make_user()
    pod = await make_pod(alice)
    message = await post_message(alice, pod, "first")
    asset = await make_asset(alice, pod, title="a note")
    return alice, pod, message, asset


async def test_bad_message_bodies(client, setup, assert_error):
    alice, pod, message, _ = setup
    before = await stored()
    bad_bodies = [
        {}, {"content": ""}, {"content": "  \n\t "}, {"content": "x" * 20_001}, {"content": None},
        {"content": 5}, {"content": ["hi"]}, {"content": {"text": "hi"}}, {"content": True},
        {"content": "hi", "attachments": "https://example.com"}, {"content": "hi", "attachments": [1]},
        {"content": "hi", "attachments": [""]}, {"content": "hi", "attachments": ["x" * 2001]},
        {"content": "hi", "attachments": ["https://example.com/x"] * 21},
        {"content": "hi", "replyToMessageId": str(message["id"])}, {"content": "hi", "replyToMessageId": 0},
        {"content": "hi", "replyToMessageId": -1}, {"content": "hi", "replyToMessageId": 2**64},
        {"content": "hi", "replyToMessageId": 1.5}, {"content": "hi", "replyToMessageId": True},
        {"content": "hi", "podId": pod["id"]}, {"content": "hi", "text": "alias only"}, {"content": "a\x00b"},
        {"content": "hi", "attachments": ["https://example.com/\x00"]},
    ]
    for body in bad_bodies:
        response = await client.post(f"/api/pods/{pod['id']}/messages", json=body, headers=alice.headers)
        error = assert_error(response, 400)
        assert error["error"] in ("validation_error", "invalid_reply"), (body, error)
        assert error["error"] == "invalid_reply" or error.get("details"), (body, error)
    for body in ({}, {"text": ""}, {"text": 5}, {"content": "", "text": " "}, {"text": "x" * 20_001}, {"txt": "hi"}):
        response = await client.post(f"/api/messages/{pod['id']}", json=body, headers=alice.headers)
        assert_error(response, 400, "validation_error")
    # unknown fields are named in the details
    body = assert_error(await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "hi", "color": "red"},
                                          headers=alice.headers), 400, "validation_error")
    assert [item["field"] for item in body["details"]] == ["color"]
    assert await stored() == before
    # the longest message is fine
    longest = await client.post(f"/api/pods/{pod['id']}/messages", json={"content": "x" * 20_000},
                                headers=alice.headers)
    assert longest.status_code == 201 and len(longest.json()["content"]) == 20_000


async def test_bad_pod_asset_and_memory_bodies(client, setup, assert_error):
    alice, pod, _, asset = setup
    before = await stored()
    cases = [
        ("POST", "/api/pods", [{"name": "x", "extra": 1}, {"name": ["x"]}, {"name": "x", "description": None},
                               {"name": "x", "joinPolicy": 1}, {"name": "x\x00"}]),
        ("PUT", f"/api/pods/{pod['id']}", [{"name": 5}, {"members": []}, {"joinPolicy": "secret"}, {"type": 1}]),
        ("POST", f"/api/pods/{pod['id']}/assets", [
            {"type": "Not A Type"}, {"type": ""}, {"type": "x" * 41}, {"title": "x" * 301}, {"tags": "a"},
            {"tags": [""]}, {"tags": ["x" * 61]}, {"tags": ["t"] * 51}, {"metadata": "x"}, {"metadata": []},
            {"status": "archived"}, {"content": 5}, {"sourceRef": "x" * 501}, {"owner": "me"},
            {"title": "\x00"}, {"tags": ["a\x00"]}, {"metadata": {"note": "a\x00b"}},
        ]),
        ("PATCH", f"/api/pods/{pod['id']}/assets/{asset['id']}", [
            {"status": "deleted"}, {"tags": "a"}, {"podId": NO_POD}, {"type": "UPPER"}, {"title": 1},
            {"metadata": {"deep": ["\x00"]}},
        ]),
        ("POST", f"/api/v1/memory/{pod['id']}", [
            {"target": "note", "content": 5}, {"target": ["note"], "content": "x"},
            {"target": "note", "content": "x", "title": "x" * 301}, {"target": "note", "content": "x\x00"},
        ]),
    ]
    for method, url, bodies in cases:
        for body in bodies:
            response = await client.request(method, url, json=body, headers=alice.headers)
            assert_error(response, 400, "validation_error")
            assert response.json()["details"], (method, url, body)
    assert await stored() == before
    assert (await client.get(f"/api/pods/{pod['id']}/assets/{asset['id']}", headers=alice.headers)).json() == asset


async def test_malformed_json_and_bodies_that_are_not_objects(client, setup, assert_error):
    alice, pod, _, asset = setup
    before = await stored()
    urls = [("POST", f"/api/pods/{pod['id']}/messages"), ("POST", f"/api/messages/{pod['id']}"),
            ("POST", "/api/pods"), ("PUT", f"/api/pods/{pod['id']}"), ("POST", f"/api/pods/{pod['id']}/assets"),
            ("PATCH", f"/api/pods/{pod['id']}/assets/{asset['id']}"), ("POST", f"/api/v1/memory/{pod['id']}")]
    raw_bodies = [b"{", b"not json", b'{"content": }', b'{"content": "\xff\xfe"}', b"[]", b'"hello"', b"42",
                  b"null", b'{"a":1}{"b":2}']
    for method, url in urls:
        for raw in raw_bodies:
            response = await client.request(method, url, content=raw,
                                            headers={**alice.headers, "Content-Type": "application/json"})
            assert_error(response, 400)
        # An empty body is an empty object (the original clients send the header on bodiless calls):
        # a create names its missing fields, an update changes nothing.
        empty = await client.request(method, url, content=b"", headers={**alice.headers,
                                                                        "Content-Type": "application/json"})
        if method == "POST":
            assert assert_error(empty, 400, "validation_error")["details"], empty.text
        else:
            assert empty.status_code == 200, empty.text
        big = await client.request(method, url, json={"content": "x" * (1024 * 1024 + 10)}, headers=alice.headers)
        assert_error(big, 413, "payload_too_large")
    assert await stored() == before


async def test_bad_ids_are_404_and_store_nothing(client, setup, assert_error):
    alice, _, message, asset = setup
    before = await stored()
    for bad in (NO_POD, "nope", "12", "0" * 40, NO_POD.upper() + "0"):
        for method, path, body in (
            ("GET", "/api/pods/{}", None), ("PUT", "/api/pods/{}", {"name": "x"}),
            ("DELETE", "/api/pods/{}", None), ("POST", "/api/pods/{}/join", None),
            ("POST", "/api/pods/{}/leave", None), ("GET", "/api/pods/{}/messages", None),
            ("POST", "/api/pods/{}/messages", {"content": "x"}), ("GET", "/api/messages/{}", None),
            ("POST", "/api/messages/{}", {"text": "x"}), ("GET", "/api/pods/{}/context", None),
            ("GET", "/api/pods/{}/context/search?query=x", None), ("POST", "/api/v1/memory/{}",
                                                                  {"target": "note", "content": "x"}),
            ("GET", "/api/pods/{}/assets", None), ("POST", "/api/pods/{}/assets", {"title": "x"}),
            ("GET", f"/api/pods/{{}}/assets/{asset['id']}", None),
            ("DELETE", f"/api/pods/{{}}/messages/{message['id']}", None),
            ("DELETE", f"/api/pods/{{}}/members/{alice.id}", None),
        ):
            response = await client.request(method, path.format(bad), json=body, headers=alice.headers)
            assert_error(response, 404, "pod_not_found")
    assert await stored() == before


@pytest.mark.parametrize("commonly_settings", [{"COMMONLY_ASSET_MAX_CHARS": "100"}])
async def test_asset_size_limit_and_other_refusals(client, setup, assert_error):
    alice, pod, message, asset = setup
    before = await stored()
    assets = f"/api/pods/{pod['id']}/assets"
    assert_error(await client.post(assets, json={"content": "x" * 101}, headers=alice.headers), 400, "asset_too_large")
    assert_error(await client.patch(f"{assets}/{asset['id']}", json={"content": "x" * 101}, headers=alice.headers),
                 400, "asset_too_large")
    assert_error(await client.post(f"/api/v1/memory/{pod['id']}", json={"target": "note", "content": "x" * 101},
                                   headers=alice.headers), 400, "asset_too_large")
    assert await stored() == before
    assert (await client.post(assets, json={"content": "x" * 100}, headers=alice.headers)).status_code == 201
    # a wrong method on a known path
    assert_error(await client.patch(f"/api/pods/{pod['id']}", json={"name": "x"}, headers=alice.headers), 405)
    assert_error(await client.put(f"/api/pods/{pod['id']}/messages", json={}, headers=alice.headers), 405)
    assert_error(await client.get(f"/api/v1/memory/{pod['id']}", headers=alice.headers), 405)
    # the original CLI sends Content-Type: application/json with empty GET and DELETE bodies
    headers = {**alice.headers, "Content-Type": "application/json"}
    assert (await client.get(f"/api/pods/{pod['id']}/messages", headers=headers)).status_code == 200
    assert (await client.post(f"/api/pods/{pod['id']}/join", headers=headers)).status_code == 200
    response = await client.delete(f"/api/pods/{pod['id']}/messages/{message['id']}", headers=headers)
    assert response.status_code == 200
    # NUL characters in query parameters are refused too
    for path, params in ((f"/api/pods/{pod['id']}/context", {"task": "a\x00"}),
                         (f"/api/pods/{pod['id']}/context/search", {"query": "a\x00"}),
                         (f"/api/pods/{pod['id']}/assets", {"type": "a\x00"})):
        assert_error(await client.get(path, params=params, headers=alice.headers), 400, "validation_error")
