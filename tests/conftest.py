"""Shared fixtures: one Spark session for the whole test run (local[2], UTC, UI off, Delta enabled)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest

os.environ["TZ"] = "UTC"
time.tzset()


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Code under test configures the root logger (the CLI does): give the next tests theirs back."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    from lakeforge.config.models import SparkSettings
    from lakeforge.spark import build_spark

    session = build_spark(SparkSettings(master="local[2]", shuffle_partitions=2, driver_memory="2g"))
    yield session
    session.stop()


CONNECT_SETTINGS = {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "2g"}


def start_connect_server(port: int) -> dict[str, str]:
    """`lakeforge server start` on loopback `port` (state under LAKEFORGE_STATE_DIR); its url and pid."""
    from lakeforge import server
    from lakeforge.config.models import SparkSettings

    info = server.start(SparkSettings(**CONNECT_SETTINGS), "127.0.0.1", port)
    return {"url": str(info["url"]), "pid": str(info["pid"]), "port": str(port)}


@pytest.fixture(scope="session")
def connect_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A Spark Connect server (`lakeforge server start`) for the remote-mode tests, on a free loopback port.

    Yields its URL, pid and port, and what a client CLI needs in its environment (`LAKEFORGE_STATE_DIR`:
    where the server's token is). A test that kills the server starts it again (`start_connect_server`).
    """
    import socket

    from lakeforge import server

    state = tmp_path_factory.mktemp("connect-state")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    old = os.environ.get("LAKEFORGE_STATE_DIR")
    os.environ["LAKEFORGE_STATE_DIR"] = str(state)
    try:
        yield {**start_connect_server(port), "LAKEFORGE_STATE_DIR": str(state)}
    finally:
        server.stop()
        if old is None:
            os.environ.pop("LAKEFORGE_STATE_DIR", None)
        else:
            os.environ["LAKEFORGE_STATE_DIR"] = old
