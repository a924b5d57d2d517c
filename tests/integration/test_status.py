"""`lakeforge status`, `history` and `report` answer from metadata alone: checked against a real
lakehouse, with no Java on PATH (a code path that started Spark would fail with exit 2)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lakeforge import deltalog
from lakeforge.sample.generator import generate
from tests.integration.helpers import DATA_TABLES, events, run, settings_for, table_path

pytestmark = pytest.mark.slow

BIN = Path(sys.executable).parent
CLI = BIN / "lakeforge"


@pytest.fixture(scope="module")
def lake(spark, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("status")
    generate(root / "generated", scale=0.0005, seed=31, dirt_rate=0.1)  # dirt: the report shows quarantine
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


def _canvases(dom: str) -> dict[str, dict[str, str]]:
    import html

    found = {}
    for attrs in re.findall(r"<canvas ([^>]*)>", dom):
        parsed = {k: html.unescape(v) for k, v in re.findall(r'([\w-]+)="([^"]*)"', attrs)}
        found[parsed["id"].removeprefix("chart-")] = parsed
    return found


def test_the_report_page_draws_the_lakehouse(spark, lake, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from pyspark.sql import functions as F

    from tests.integration.test_report import browse

    _, lakehouse, config = lake
    out = tmp_path / "report.html"
    result = _cli("report", "--config", str(config), "--out", str(out))  # no Java on PATH
    assert result.returncode == 0, result.stderr
    (run,) = events(spark, lakehouse, "run")
    assert result.stdout == f"run {run['run_id']} (success): {out}\n"
    page = out.read_text(encoding="utf-8")
    assert page == (lakehouse / "_ops" / "report.html").read_text(encoding="utf-8")  # the run wrote it too
    assert "http://" not in page and "https://" not in page

    dom, requested = browse(out, tmp_path / "browser")

    assert requested == []
    assert '<html lang="en" data-charts="6" data-charts-rendered="6">' in dom
    assert f"<title>lakeforge run {run['run_id']}: success [charts ready]</title>" in dom
    charts = _canvases(dom)
    assert sorted(charts) == sorted(
        ["timeline", "rows", "quarantine", "trend-duration", "trend-rows", "trend-ratio"]
    )
    assert all(c["data-rendered"] == "true" for c in charts.values())
    counts = [spark.read.format("delta").load(table_path(lakehouse, t)).count() for t in DATA_TABLES]
    assert json.loads(charts["rows"]["data-values"]) == [counts]
    duration = (run["ended_at"] - run["started_at"]).total_seconds()
    assert json.loads(charts["trend-duration"]["data-values"]) == [[round(duration, 3)]]
    metrics = json.loads(run["metrics"])
    assert len(json.loads(charts["timeline"]["data-values"])[0]) == len(metrics["stages"])

    reasons: dict[tuple[str, str], int] = {}
    for table in (t for t in DATA_TABLES if t.startswith("quarantine.")):
        df = spark.read.format("delta").load(table_path(lakehouse, table))
        for r in df.select(F.explode("_reasons").alias("reason")).groupBy("reason").count().collect():
            reasons[(table, r["reason"])] = r["count"]
    assert reasons  # the sample's dirt: some rows are quarantined
    data = json.loads(
        re.search(r'<script id="report-data" type="application/json">(.*?)</script>', dom, re.S)[1]
    )
    assert {(q["table"], q["reason"]): q["rows"] for q in data["quarantine"]} == reasons
    assert sum(map(sum, json.loads(charts["quarantine"]["data-values"]))) == sum(reasons.values())

    for r in events(spark, lakehouse, "reconciliation"):
        figures = [r[k] for k in ("files", "records_read", "bronze_added", "valid", "quarantined", "inserted",
                                  "updated", "superseded")]  # fmt: skip
        cells = "".join(f"<td>{'-' if v is None else f'{v:,}'}</td>" for v in figures)
        row = f'<tr data-source="{r["source"]}" data-stage="{r["stage"]}"><td>{r["source"]}</td><td class="text">{r["stage"]}</td>{cells}'
        assert row in dom, row
