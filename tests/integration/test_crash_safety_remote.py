"""Crash safety through a Spark Connect server: SIGKILL the thin client at random moments (its query goes on
running on the server) and at named points, and kill the server itself mid-run; rerun, and compare with a
clean embedded run. A file of its own, so that `pytest -n 2 --dist loadfile` runs it beside the embedded
crash test (tests/integration/test_crash_safety.py), whose helpers it uses.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from pathlib import Path

import pytest

from lakeforge.sample.generator import generate
from tests.integration.test_crash_safety import (
    SEED,
    _argv,
    _assert_equal_to_the_clean_run,
    _by_stage,
    _cli,
    _cli_group_killed_after,
    _config,
    _deliver,
    _env,
    _trace,
)

pytestmark = pytest.mark.slow

# remote mode: kills of the thin client (the server goes on running what it was doing), points per stage
REMOTE_PER_STAGE = {"ingest": 1, "transform": 1, "load": 1, "record": 1}


def test_remote_clients_killed_at_random_and_a_server_killed_mid_run_then_rerun_equals_a_clean_run(
    spark, connect_server, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """Through a Spark Connect server: SIGKILL the client at random moments (its query goes on running on
    the server) and at named points, start the next run at once; kill the server itself mid-run and start
    it again. Every table equals a clean embedded run's."""
    from tests.conftest import start_connect_server

    generated = tmp_path / "generated"
    generate(generated, scale=0.0005, seed=5)
    rng = random.Random(SEED + 1)
    crashed_landing, crashed_lake = tmp_path / "landing", tmp_path / "crashed"
    clean_landing, clean_lake = tmp_path / "clean_landing", tmp_path / "clean"
    config = _config(tmp_path / "crash.yaml", crashed_landing, crashed_lake)
    server = dict(connect_server)

    kills: list[str] = []
    logs: list[str] = []
    # one delivery of all ten days: the embedded test crosses a second one, on tables that exist
    _deliver(generated, clean_landing, range(1, 11))
    _deliver(generated, crashed_landing, range(1, 11))
    points = _trace(spark, clean_landing, clean_lake, tmp_path / "trace.txt")
    chosen = sorted(
        i for stage, group in _by_stage(points).items() for i in rng.sample(group, REMOTE_PER_STAGE[stage])
    )
    for _ in range(3):  # the client's process group at a random moment: the server keeps working
        delay = rng.uniform(1.0, 6.0)
        code, err = _cli_group_killed_after(config, delay, server)
        assert code in (-9, 0), (code, err[-3000:])
        logs.append(err)
        if code == -9:
            kills.append(f"client@{delay:.1f}s")
    # the server dies mid-run: the client fails, a new server, the next runs recover
    proc = subprocess.Popen(
        _argv(config, server), env=_env(server), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        start_new_session=True, text=True,
    )  # fmt: skip
    time.sleep(rng.uniform(1.0, 4.0))
    os.killpg(int(server["pid"]), signal.SIGKILL)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode in (0, 1), (proc.returncode, err[-3000:])
    kills.append(f"server({proc.returncode})")
    server.update(start_connect_server(int(server["port"])))
    for index in chosen:
        result = _cli(config, points[index], server)
        assert result.returncode in (-9, 0), (points[index], result.stderr[-6000:])
        logs.append(result.stderr)
        if result.returncode == -9:
            kills.append(points[index])
    final = _cli(config, None, server)
    assert final.returncode == 0, final.stderr[-3000:]
    logs.append(final.stderr)

    assert sum(k.startswith("client@") for k in kills) >= 3, kills
    # whether a random kill left a query running depends on timing: test_remote_orphans proves that case
    settled = sum("operation(s) running" in log for log in logs)
    print(f"runs that stopped a killed client's operations: {settled}; kills: {kills}")
    _assert_equal_to_the_clean_run(spark, crashed_lake, clean_lake, crashed_landing)
