from __future__ import annotations

import pytest


@pytest.fixture
def commonly_plugins() -> list[str]:
    return ["auth"]
