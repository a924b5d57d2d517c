"""SPEC §1 with the real CLI: odd names under the C locale, files still being written, links, copies.

Each source's files get names holding every character a file name may hold; next to them lie files
that do not count (a `.` and a `_` name, a symbolic link to a file outside, an empty file) and a renamed
copy. The run loads each counted file exactly once, whether the driver parses the delivery or Spark's
Python workers do, and the tables equal the oracle, which applies the same rules independently.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lakeforge.sample.generator import generate
from lakeforge.sources.csvparse import decode, parse_csv_text
from tests.integration.helpers import (
    CLOCK,
    SOURCES,
    events,
    naive_utc,
    rows,
)
from tests.oracle import expected_from_landing

pytestmark = pytest.mark.slow

CLI = Path(sys.executable).parent / "lakeforge"
# one odd name per delivered day; the prefix keeps the days in lexical order
ODD = [
    "{s} 01 with spaces.csv",
    "{s}_02_#hash.csv",
    "{s}_03_%41percent.csv",
    "{s}_04_?question.csv",
    "{s}_05_*star.csv",
    "{s}_06_[brackets].csv",
    "{s}_07_{{braces}}.csv",
    "{s}_08_'single\"double.csv",
    "{s}_09_café_日本.csv",
    "{s}_10_back\\slash.csv",
]
SECRET = "THIS-LINE-MUST-NOT-BE-ECHOED"


def _landing(generated: Path, landing: Path, outside: Path) -> dict[str, list[str]]:
    """The counted files of each source, by name; the rest lie beside them."""
    counted: dict[str, list[str]] = {}
    outside.mkdir(parents=True, exist_ok=True)
    for source in SOURCES:
        folder = landing / source
        folder.mkdir(parents=True)
        names = []
        for day, pattern in enumerate(ODD, start=1):
            name = pattern.format(s=source)
            shutil.copy(generated / source / f"{source}_202603{day:02d}.csv", folder / name)
            names.append(name)
        counted[source] = names
        shutil.copy(
            folder / names[0], folder / f"{source}_99_renamed copy.csv"
        )  # a copy: recorded, not loaded
        shutil.copy(folder / names[1], folder / f".{source}_11.csv")  # still being written
        shutil.copy(folder / names[2], folder / f"_{source}_12.csv")
        (folder / f"{source}_13_arriving.csv").touch()  # not arrived yet
        target = outside / f"{source}_secret.csv"
        target.write_text(f"{SECRET}\n")
        (folder / f"{source}_14_link.csv").symlink_to(target)
    return counted


def _config(
    path: Path, landing: Path, lake: Path, driver_parse_max_bytes: int, json_logs: bool = False
) -> Path:
    path.write_text(
        json.dumps(
            {
                "paths": {"landing": str(landing), "lakehouse": str(lake)},
                "spark": {"master": "local[2]", "shuffle_partitions": 2, "driver_memory": "1g"},
                "landing": {"driver_parse_max_bytes": driver_parse_max_bytes},
                "quality": {"max_quarantine_ratio": 0.5, "data_docs": False},
                "logging": {"json_format": json_logs},
                "environments": {"local": {}},
            }
        )
    )
    return path


def _cli(config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEFORGE_", "LC_", "LANG"))}
    env["LC_ALL"] = "C"  # the locale of many a cron job and container
    return subprocess.run(
        [str(CLI), "run", "--config", str(config), "--cmd", "full", "--json",
         "--as-of", CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ")],
        env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("odd")
    generate(root / "generated", scale=0.0005, seed=23)
    counted = _landing(root / "generated", root / "landing", root / "outside")
    return root / "landing", counted


@pytest.mark.parametrize("parser", ["driver", "workers"])
def test_every_counted_file_loads_exactly_once_under_the_c_locale(spark, landing, tmp_path, parser) -> None:  # type: ignore[no-untyped-def]
    landing_dir, counted = landing
    lake = tmp_path / "lake"
    json_logs = parser == "workers"  # and the log as JSON lines (`logging.json_format`)
    config = _config(tmp_path / "c.json", landing_dir, lake, 64 << 20 if parser == "driver" else 0, json_logs)
    first = _cli(config)
    assert first.returncode == 0, first.stderr[-3000:]
    assert SECRET not in first.stderr and SECRET not in first.stdout
    assert "JIT: C1 only (spark.jit=auto" in first.stderr  # a few kB: `spark.jit: auto` picks C1
    if json_logs:
        ours = [json.loads(line) for line in first.stderr.splitlines() if line.startswith('{"time"')]
        writes = {(r["stage"], r["table"]) for r in ours if r.get("event") == "write"}
        assert {("ingest", f"bronze.{s}") for s in SOURCES} <= writes
        assert {("transform", f"silver.{s}") for s in SOURCES} <= writes
        assert all(r["run_id"] == ours[-1]["run_id"] for r in ours if "run_id" in r)
        assert any(r.get("event") == "plan" for r in ours)
    for source in SOURCES:
        assert f"{source}/{source}_14_link.csv is a symbolic link: skipped" in first.stderr
        assert f"{source}/{source}_13_arriving.csv is empty (0 bytes): not arrived yet" in first.stderr

        # bronze: every record of every counted file, once
        bronze = rows(spark, lake, f"bronze.{source}")
        per_file: dict[str, int] = {}
        for r in bronze:
            per_file[r["_source_file"]] = per_file.get(r["_source_file"], 0) + 1
        want = {}
        for name in counted[source]:
            _, records = parse_csv_text(decode((landing_dir / source / name).read_bytes()))
            want[f"{source}/{name}"] = sum(1 for _ in records)
        assert per_file == want
        assert len({(r["_source_file"], r["_line_number"]) for r in bronze}) == len(bronze)

        # the ledger: the counted files, and the copy recorded as a duplicate of the first
        ledger = {r["path"]: r["duplicate_of"] for r in events(spark, lake, "file") if r["source"] == source}
        assert ledger == {
            **{f"{source}/{name}": None for name in counted[source]},
            f"{source}/{source}_99_renamed copy.csv": f"{source}/{counted[source][0]}",
        }

    # silver and gold equal the oracle, which applies the same landing rules on its own
    expected = expected_from_landing(landing_dir)
    for source, key in (("customers", "customer_id"), ("orders", "order_id")):
        got = rows(spark, lake, f"silver.{source}", drop={"_ingested_at", "_run_id"})
        want_rows = [{k: naive_utc(v) for k, v in r.items()} for r in expected[source].silver]
        assert sorted(got, key=lambda r: r[key]) == sorted(want_rows, key=lambda r: r[key])
    daily = sorted(rows(spark, lake, "gold.daily_revenue"), key=lambda r: r["order_date"])
    assert daily == sorted(expected.daily_revenue, key=lambda r: r["order_date"])

    # a rerun recognises every file (and the copy) without starting a JVM
    again = _cli(config)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)
    assert summary["jvm_started"] is False

    if parser == "driver":  # the empty file has arrived once it has content: it loads then
        arriving = landing_dir / "orders" / "orders_13_arriving.csv"
        arriving.write_text(
            "order_id,customer_id,order_ts,status,total_amount,updated_at\n"
            "O77000001,C0000001,2026-03-13T10:00:00Z,placed,12.50,2026-03-13T10:00:00Z\n"
        )
        try:
            later = _cli(config)
        finally:
            arriving.write_bytes(b"")  # the module's landing zone, as the other parameter expects it
        assert later.returncode == 0, later.stderr[-3000:]
        bronze = [
            r
            for r in rows(spark, lake, "bronze.orders")
            if r["_source_file"] == "orders/orders_13_arriving.csv"
        ]
        assert [(r["order_id"], r["_line_number"]) for r in bronze] == [("O77000001", 1)]
        assert "O77000001" in {r["order_id"] for r in rows(spark, lake, "silver.orders")}
