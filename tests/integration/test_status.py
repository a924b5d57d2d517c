"""`lakeforge status` and `lakeforge history` answer from metadata alone: checked against a real
lakehouse, with no Java on PATH (a code path that started Spark would fail with exit 2)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lakeforge import deltalog
from lakeforge.sample.generator import generate
from tests.integration.helpers import DATA_TABLES, run, settings_for, table_path

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CLI = BIN / "lakeforge"


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("status")
    generate(root / "generated", scale=0.0005, seed=31)
    landing = root / "landing"
    for source in ("customers", "orders"):
        (landing / source).mkdir(parents=True)
        for day in (1, 2):
            name = f"{source}_2026030{day}.csv"
            shutil.copy2(root / "generated" / source / name, landing / source / name)
    assert run(settings_for(landing, root / "lake", max_ratio=0.5)).status == "success"
    shutil.copy2(root / "generated" / "orders" / "orders_20260303.csv", landing / "orders")  # waiting
    config = root / "c.json"
    config.write_text(
        json.dumps(
            {
                "paths": {"landing": str(landing), "lakehouse": str(root / "lake")},
                "environments": {"local": {}},
            }
        )
    )
    return landing, root / "lake", config


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("JAVA_HOME", "PATH") and not k.startswith("LAKEFORGE_")
    }
    env["PATH"] = str(BIN)  # the virtualenv's scripts only: no `java` anywhere
    assert shutil.which("java", path=env["PATH"]) is None
    return subprocess.run([str(CLI), *args], env=env, capture_output=True, text=True, timeout=120)


def test_status_reports_runs_tables_waiting_files_and_the_lock(spark, lake) -> None:  # type: ignore[no-untyped-def]
    landing, lakehouse, config = lake
    result = _cli("status", "--config", str(config), "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)
    assert [(r["command"], r["status"], r["exit_code"]) for r in found["runs"]] == [("full", "success", 0)]
    tables = {t["table"]: t for t in found["tables"]}
    assert set(tables) == {*DATA_TABLES, "_ops.events"}
    for name in DATA_TABLES:
        assert tables[name]["version"] == deltalog.version(table_path(lakehouse, name))
        assert tables[name]["rows"] == spark.read.format("delta").load(table_path(lakehouse, name)).count()
        assert tables[name]["operation"] == deltalog.last_commit(table_path(lakehouse, name))["operation"]
    waiting = {s["source"]: s["waiting"] for s in found["sources"]}
    assert waiting == {"customers": [], "orders": ["orders/orders_20260303.csv"]}
    assert found["lock"] == "free"

    text = _cli("status", "--config", str(config))
    assert text.returncode == 0, text.stderr
    assert "orders: 1 file(s) waiting: orders_20260303.csv" in text.stdout


def test_status_names_the_lock_holder(lake) -> None:  # type: ignore[no-untyped-def]
    _, lakehouse, config = lake
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path; from lakeforge.pipeline.lock import PipelineLock; "
         "l = PipelineLock(Path(sys.argv[1]), holder='run r9 (ingest)'); l.acquire(); print('locked', flush=True); "
         "time.sleep(60)", str(lakehouse / "_ops" / "pipeline.lock")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        found = json.loads(_cli("status", "--config", str(config), "--json").stdout)
        assert found["lock"].startswith(f"held by run r9 (ingest) (pid {holder.pid} on ")
    finally:
        holder.kill()
        holder.wait(timeout=10)
        if holder.stdout is not None:
            holder.stdout.close()
    found = json.loads(_cli("status", "--config", str(config), "--json").stdout)
    assert found["lock"].startswith("free (left behind by run r9 (ingest)")


def test_history_lists_runs_and_a_tables_commits(lake) -> None:  # type: ignore[no-untyped-def]
    _, lakehouse, config = lake
    runs = json.loads(_cli("history", "--config", str(config), "--json").stdout)
    assert [(r["command"], r["status"]) for r in runs] == [("full", "success")]

    result = _cli("history", "silver.orders", "--config", str(config), "--json", "--limit", "5")
    assert result.returncode == 0, result.stderr
    commits = json.loads(result.stdout)
    want = deltalog.commits(table_path(lakehouse, "silver.orders"), 5)
    assert [(c["version"], c["operation"]) for c in commits] == [(c["version"], c["operation"]) for c in want]
    assert commits[0]["metrics"] == want[0]["operationMetrics"]

    unknown = _cli("history", "silver.nope", "--config", str(config))
    assert unknown.returncode == 2
    assert "unknown table 'silver.nope'" in unknown.stderr
