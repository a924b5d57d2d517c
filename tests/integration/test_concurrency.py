"""Two runs at once, and a run started the moment another was killed: the lock covers the whole run.

- Two CLI runs started together on one lakehouse (both `--wait`): one waits for the other; each file is
  in the ledger once, bronze holds each record once, silver each key once.
- A run whose Python process is SIGKILLed while its JVM is frozen mid-work (SIGSTOP: the JVM cannot
  notice its parent died and finish whatever commit it was in): a `--wait` run started at once waits for
  that JVM, names it, and starts only after it has exited; the tables then equal a clean run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from lakeforge.sample.generator import generate
from tests.integration.helpers import (
    CLOCK,
    DATA_TABLES,
    RUN_COLUMNS,
    SOURCES,
    events,
    rows,
    run,
    settings_for,
)

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).parent / "lakeforge"


def _config(path: Path, landing: Path, lake: Path) -> Path:
    path.write_text(
        json.dumps(
            {
                "paths": {"landing": str(landing), "lakehouse": str(lake)},
                "spark": {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "1g"},
                "quality": {"max_quarantine_ratio": 0.5, "data_docs": False},
                "lock": {"wait_timeout_seconds": 600, "poll_seconds": 0.2},
                "environments": {"local": {}},
            }
        )
    )
    return path


def _start(config: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFORGE_")}
    return subprocess.Popen(
        [str(CLI), "run", "--config", str(config), "--cmd", "full", "--wait",
         "--as-of", CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ")],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("concurrency")
    generate(root, scale=0.0005, seed=29)
    return root


@pytest.fixture(scope="module")
def clean(spark, landing: Path, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    lake = tmp_path_factory.mktemp("clean")
    assert run(settings_for(landing, lake, max_ratio=0.5)).status == "success"
    return {t: rows(spark, lake, t, drop=RUN_COLUMNS) for t in DATA_TABLES}


def test_two_runs_at_once_load_each_file_once(spark, landing, clean, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    config = _config(tmp_path / "c.json", landing, lake)
    first, second = _start(config), _start(config)
    results = [p.communicate(timeout=900) for p in (first, second)]
    assert (first.returncode, second.returncode) == (0, 0), [err[-2000:] for _, err in results]

    ledger = Counter(r["path"] for r in events(spark, lake, "file"))
    assert ledger == Counter(
        f"{p.parent.name}/{p.name}" for s in SOURCES for p in (landing / s).glob("*.csv")
    )
    for source in SOURCES:
        bronze = rows(spark, lake, f"bronze.{source}")
        assert len({(r["_source_file"], r["_line_number"]) for r in bronze}) == len(bronze)
    for table in DATA_TABLES:
        assert rows(spark, lake, table, drop=RUN_COLUMNS) == clean[table], table
    # one of the two did the work; the other waited, then found nothing to do
    runs = events(spark, lake, "run")
    assert sorted(r["status"] for r in runs) == ["success", "success"]


def _lock_info(lake: Path) -> dict[str, object]:
    text = (lake / "_ops" / "pipeline.lock").read_text(encoding="utf-8")
    return json.loads(text) if text else {}


def test_a_run_started_as_another_is_killed_waits_for_its_jvm(spark, landing, clean, tmp_path) -> None:  # type: ignore[no-untyped-def]
    lake = tmp_path / "lake"
    config = _config(tmp_path / "c.json", landing, lake)
    doomed = _start(config)
    deadline = time.monotonic() + 300
    jvm = None
    while time.monotonic() < deadline and jvm is None:  # the run names its JVM once Spark is up
        time.sleep(0.2)
        if (lake / "_ops" / "pipeline.lock").exists():
            child = _lock_info(lake).get("child_pid")
            jvm = child if isinstance(child, int) else None
    assert jvm is not None, "the run never recorded its Spark driver"
    while time.monotonic() < deadline and not (lake / "bronze" / "orders" / "_delta_log").exists():
        time.sleep(0.2)  # into its commits
    os.kill(jvm, signal.SIGSTOP)  # frozen mid-work: it cannot see its parent die, nor finish yet
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait(timeout=60)  # not communicate(): the frozen JVM still holds its pipes open
    waiter = _start(config)
    try:
        time.sleep(8)
        assert waiter.poll() is None, "the waiter ran while the killed run's JVM was still alive"
        assert Path(f"/proc/{jvm}").exists()
    finally:
        os.kill(jvm, signal.SIGCONT)  # it now sees the closed pipe and exits
    out, err = waiter.communicate(timeout=900)
    for stream in (doomed.stdout, doomed.stderr):
        if stream is not None:
            stream.close()
    assert waiter.returncode == 0, err[-3000:]
    assert f"waiting for the Spark driver (pid {jvm})" in err
    gone = (
        not Path(f"/proc/{jvm}").exists()
        or Path(f"/proc/{jvm}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    )
    assert gone
    for table in DATA_TABLES:
        assert rows(spark, lake, table, drop=RUN_COLUMNS) == clean[table], table
