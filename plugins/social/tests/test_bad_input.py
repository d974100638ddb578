"""Bad input of any shape never gives a 500 and never writes: property tests over arbitrary JSON
bodies against every social route with a body, plus the limits of each field."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FIELD_NAMES = ["content", "image", "media", "tags", "podId", "category", "source", "text", "replyToCommentId",
               "bio", "avatar", "profilePicture", "interests", "username", "activityId", "all"]

scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=12,
)
field_objects = st.dictionaries(st.sampled_from(FIELD_NAMES) | st.text(max_size=8),
                                json_values | st.sampled_from(["", " ", "x" * 10_001, "#tag", "1", "abc",
                                                               "00000000-0000-4000-8000-000000000000"]),
                                max_size=5)
bodies = json_values | field_objects
PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, database=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


async def counts(client, user):
    """What a write could have changed, as the user sees it."""
    posts = (await client.get("/api/posts", params={"limit": 100}, headers=user.headers)).json()
    feed = (await client.get("/api/activity/feed", headers=user.headers)).json()
    profile = (await client.get(f"/api/users/{user.id}", headers=user.headers)).json()
    return ([(post["id"], post["content"], post["commentCount"], post["tags"], post["image"]) for post in posts],
            feed["unreadCount"], profile["username"], profile["bio"])


@pytest.fixture
async def setting(client, make_user):
    alice = await make_user(username="alice")
    post = (await client.post("/api/posts", json={"content": "seed"}, headers=alice.headers)).json()
    return alice, post


@given(body=bodies)
@PROPERTY_SETTINGS
async def test_arbitrary_bodies_never_500(client, setting, body):
    alice, post = setting
    for method, url in [("POST", "/api/posts"), ("PUT", f"/api/posts/{post['id']}"),
                        ("POST", f"/api/posts/{post['id']}/comments"), ("PUT", f"/api/users/{alice.id}"),
                        ("POST", "/api/activity/mark-read")]:
        response = await client.request(method, url, json=body, headers=alice.headers)
        assert response.status_code < 500, (method, url, body, response.text)


BAD_POSTS = [
    {}, {"content": ""}, {"content": "   \n"}, {"content": "x" * 10_001}, {"content": 5}, {"content": None},
    {"content": ["x"]}, {"content": "x", "unknown": 1}, {"content": "x", "tags": "a,b"}, {"content": "x", "tags": [""]},
    {"content": "x", "tags": ["a,b"]}, {"content": "x", "tags": [f"t{n}" for n in range(21)]},
    {"content": "x", "category": ""}, {"content": "x", "image": "a", "media": "b"}, {"content": "x", "image": 5},
    {"content": "x", "source": {"type": "robot"}}, {"content": "x", "source": {"type": "user", "extra": 1}},
    {"content": "x", "source": "user"}, {"content": "x\u0000y"}, {"content": "x", "podId": 5},
]


@pytest.mark.parametrize("body", BAD_POSTS)
async def test_bad_posts_are_400_and_write_nothing(client, setting, assert_error, body):
    alice, _ = setting
    before = await counts(client, alice)
    assert_error(await client.post("/api/posts", json=body, headers=alice.headers), 400)
    assert await counts(client, alice) == before


BAD_UPDATES = [{"content": ""}, {"content": None}, {"content": "x" * 10_001}, {"category": None}, {"tags": [5]},
               {"likes": 5}, {"podId": "x"}, {"image": "a", "media": "b"}]


@pytest.mark.parametrize("body", BAD_UPDATES)
async def test_bad_updates_are_400_and_write_nothing(client, setting, assert_error, body):
    alice, post = setting
    before = await counts(client, alice)
    assert_error(await client.put(f"/api/posts/{post['id']}", json=body, headers=alice.headers), 400)
    assert await counts(client, alice) == before


async def test_content_of_exactly_10000_characters_is_fine(client, setting):
    alice, _ = setting
    response = await client.post("/api/posts", json={"content": "é" * 10_000}, headers=alice.headers)
    assert response.status_code == 201


async def test_malformed_bodies(client, setting, assert_error):
    alice, post = setting
    before = await counts(client, alice)
    json_headers = {**alice.headers, "Content-Type": "application/json"}
    for raw in [b"{", b"[]", b"null", b'"text"', b"\xff\xfe", b'{"content": "x"} trailing']:
        assert_error(await client.post("/api/posts", content=raw, headers=json_headers), 400)
    assert_error(await client.post("/api/posts", content=b"x" * (1024 * 1024 + 10), headers=json_headers), 413)
    # an empty body with a JSON content type on a route without one is not malformed JSON
    assert (await client.post(f"/api/posts/{post['id']}/follow", headers=json_headers)).status_code == 200
    assert (await client.get("/api/posts", headers=json_headers)).status_code == 200
    assert await counts(client, alice) == before


async def test_search(client, make_user, make_post, assert_error):
    alice, bob = await make_user(), await make_user()
    first = await make_post(alice, content="All about Python", tags=["Code"])
    second = await make_post(alice, content="Gardening", tags=["outdoor", "Plants"])
    third = await make_post(bob, content="Nothing here")
    await client.post(f"/api/posts/{third['id']}/comments", json={"text": "try PYTHON 100%"}, headers=alice.headers)

    async def search(**params):
        response = await client.get("/api/posts/search", params=params, headers=alice.headers)
        assert response.status_code == 200, response.text
        return [post["id"] for post in response.json()]

    assert await search(query="python") == [third["id"], first["id"]]
    assert await search(query="plants") == [second["id"]]
    assert await search(q="GARDEN") == [second["id"]]
    assert await search(tags="code,PLANTS") == [second["id"], first["id"]]
    assert await search(tags="#outdoor") == [second["id"]]
    assert await search(query="100%") == [third["id"]]
    assert await search(query="_") == []
    assert await search(query="python", category="Other") == []
    assert len(await search()) == 3
    assert_error(await client.get("/api/posts/search", params={"limit": 101}, headers=alice.headers), 400)
