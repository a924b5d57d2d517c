"""A killed Spark Connect client leaves its query running on the server; the next run stops it before it
writes anything, whether that run is remote or embedded (here: embedded, with nothing to do)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.helpers import cli_run, write_config

pytestmark = pytest.mark.slow

PYTHON = sys.executable
# a client of session argv[2] that runs a command of minutes (2 cores, 10 ms a row), then is killed: a
# command (a write) goes on without its client, where a query streaming results to a gone client fails.
# (A `range` written to `noop` would not do: its tasks never look whether their job was cancelled, and they
# kept the server's two cores for minutes after the operation had ended.)
LONG_QUERY = """
import sys, time
from pyspark.sql.functions import udf
from lakeforge import remote
spark = remote._open(sys.argv[1], sys.argv[2])
slow = udf(lambda i: time.sleep(0.01) or i, "long")  # Python tasks: a cancelled job's tasks end at once
spark.range(0, 100_000, numPartitions=2).select(slow("id").alias("id")).write.format("noop").mode("append").save()
"""
# what the server runs for session argv[2]: the ids of its running operations, "closed" once released,
# "unknown" before the client created it
STATUS = """
import json, sys
from lakeforge import remote
try:
    spark = remote._open(sys.argv[1], sys.argv[2])
    print(json.dumps(remote._active(spark.client)))
except Exception as exc:
    text = str(exc)
    print(json.dumps("closed" if "SESSION_CLOSED" in text else "unknown" if "NOT_FOUND" in text else text))
"""


def _env(server: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFORGE_")}
    env["LAKEFORGE_STATE_DIR"] = server["LAKEFORGE_STATE_DIR"]
    return env


def _status(server: dict[str, str], session_id: str) -> object:
    out = subprocess.run(
        [PYTHON, "-c", STATUS, server["url"], session_id],
        env=_env(server), capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_next_run_stops_a_killed_clients_query_and_releases_its_session(
    connect_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    session_id = "0a1b2c3d-0000-4000-8000-00000000c0de"
    client = subprocess.Popen(
        [PYTHON, "-c", LONG_QUERY, connect_server["url"], session_id],
        env=_env(connect_server), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        running: object = []
        while not (isinstance(running, list) and running) and time.monotonic() < deadline:
            assert client.poll() is None, client.stderr.read() if client.stderr else ""
            running = _status(connect_server, session_id)
            time.sleep(0.5)
        assert isinstance(running, list) and running, running  # the query (and what runs it) is running
    finally:
        os.killpg(client.pid, signal.SIGKILL)
        client.wait(timeout=30)
    time.sleep(2)
    after = _status(connect_server, session_id)
    assert isinstance(after, list) and set(after) & set(running), (
        after
    )  # the client is gone, its query is not

    # the killed run held the lakehouse lock and recorded its session there
    landing, lake = tmp_path / "landing", tmp_path / "lake"
    for source in ("customers", "orders"):
        (landing / source).mkdir(parents=True)
    (lake / "_ops").mkdir(parents=True)
    (lake / "_ops" / "pipeline.lock").write_text(
        json.dumps({
            "holder": "run killed (full)", "pid": client.pid, "host": socket.gethostname(),
            "since": "2026-03-11T06:00:00Z",
            "remote_session": {"url": connect_server["url"], "session_id": session_id},
        })
    )  # fmt: skip
    result = cli_run(write_config(tmp_path / "c.yaml", landing, lake), env=_env(connect_server))
    assert result.returncode == 0, result.stderr[-3000:]
    said = re.search(
        rf"left (\d+) operation\(s\) running on {connect_server['url']} \(session {session_id}\)",
        result.stderr,
    )
    assert said and int(said.group(1)) >= 1, result.stderr[-3000:]
    assert (
        "nothing to do" in result.stdout + result.stderr
    )  # an embedded run with no work: no JVM, yet it settled first
    assert _status(connect_server, session_id) == "closed"  # interrupted, awaited, released
    assert "orphan_sessions" not in (lake / "_ops" / "pipeline.lock").read_text()
