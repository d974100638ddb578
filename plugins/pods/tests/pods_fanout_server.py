"""A Commonly app with ``auth`` and ``pods``, served in its own process by
``test_realtime_fanout.py``: ``python pods_fanout_server.py PORT DATABASE_URL REDIS_URL DATA_DIR``.
Every process started this way shares the JWT secret, so a token from one is valid on the others."""

from __future__ import annotations

import sys

import uvicorn

from commonly_kernel import Settings, create_app

JWT_SECRET = "pods-fanout-test-secret-long-enough-for-hs256-0123456789"


def main() -> None:
    port, database_url, redis_url, data_dir = sys.argv[1:5]
    settings = Settings.from_env(environ={}, DATABASE_URL=database_url, REDIS_URL=redis_url, JWT_SECRET=JWT_SECRET,
                                 COMMONLY_ENV="development", COMMONLY_DATA_DIR=data_dir,
                                 COMMONLY_MAIL_OUTBOX=f"{data_dir}/outbox", COMMONLY_RATE_LIMITS="0",
                                 COMMONLY_LOG_LEVEL="WARNING")
    app = create_app(settings, plugins=["auth", "pods"])
    uvicorn.run(app, host="127.0.0.1", port=int(port), log_level="warning", lifespan="on")


if __name__ == "__main__":
    main()
