"""The README's plugin example runs as written (so the first thing a plugin author copies works)."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest

README = Path(__file__).parents[1] / "README.md"


def _readme_plugin() -> types.ModuleType:
    pattern = r"```python\n(# plugins/hello/commonly_hello/plugin\.py\n.*?)```"
    blocks = re.findall(pattern, README.read_text(), re.S)
    assert len(blocks) == 1, "the README's example plugin block moved or changed its heading line"
    module = types.ModuleType("hello")
    exec(compile(blocks[0], "README.md:hello/plugin.py", "exec"), module.__dict__)
    return module


@pytest.fixture
def commonly_plugins() -> list[object]:
    return ["auth", _readme_plugin()]


async def test_readme_example_plugin_serves_its_route(client, make_user) -> None:
    alice = await make_user(username="alice")
    response = await client.post("/api/hello", json={"greeting": "Hi"}, headers=alice.headers)
    assert response.status_code == 200
    assert response.json() == {"text": "Hi, alice!"}


async def test_readme_example_plugin_refuses_strangers_and_bad_bodies(client, make_user) -> None:
    assert (await client.post("/api/hello", json={"greeting": "Hi"})).status_code == 401
    alice = await make_user()
    response = await client.post("/api/hello", json={"greting": "Hi"}, headers=alice.headers)
    assert response.status_code == 400
    assert response.json()["error"] == "validation_error"
