"""The run report: its figures from hand-built events, the page it renders, and the CLI on a delta-rs lake.

No JVM anywhere here: the event logs and quarantine tables are written with delta-rs.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from lakeforge.cli import main
from lakeforge.config.models import PathsSettings, Settings
from lakeforge.contracts.registry import Catalog, ContractRegistry
from lakeforge.errors import ConfigError
from lakeforge.flows import load_graph
from lakeforge.ops.events import EVENTS, RunInfo, append_events, run_events
from lakeforge.ops.report import (
    CHARTS,
    assemble,
    quarantine_reasons,
    render,
    report_data,
    runs_of,
    versions_as_of,
    write_report,
    write_run_report,
)
from lakeforge.results import GateResult, Reconciliation, RunReport, StageStats, WriteMetrics

T0 = datetime(2026, 3, 1, 6, 0, tzinfo=UTC)


def write(
    table: str, version: int | None, inserted: int = 0, updated: int = 0, skipped: bool = False
) -> WriteMetrics:
    return WriteMetrics(
        table, "append", inserted + updated, inserted, updated, 0, 1, 100, 0.1, version, skipped
    )


def run_row(
    run_id: str, minute: int, seconds: float, status: str = "success", **metrics: Any
) -> dict[str, Any]:
    started = T0 + timedelta(minutes=minute)
    return {
        "kind": "run", "run_id": run_id, "command": "full", "env": "test", "status": status,
        "exit_code": 0 if status == "success" else 3, "error": None if status == "success" else "gate failed",
        "started_at": started, "ended_at": started + timedelta(seconds=seconds),
        "recorded_at": started + timedelta(seconds=seconds), "metrics": json.dumps(metrics, sort_keys=True),
    }  # fmt: skip


def recon(run_id: str, source: str, stage: str, read: int, **figures: int) -> dict[str, Any]:
    return {"kind": "reconciliation", "run_id": run_id, "source": source, "stage": stage, "records_read": read,
            "balanced": True, **figures}  # fmt: skip


STAGES = {  # sort_keys=True in the log: the report puts them back in the order a run takes them
    "record": {"seconds": 0.5, "spark_jobs": 0, "delta_commits": 1},
    "ingest": {"seconds": 4.0, "spark_jobs": 3, "delta_commits": 2},
    "plan": {"seconds": 0.25, "spark_jobs": 0, "delta_commits": 0},
    "spark": {"seconds": 9.0, "spark_jobs": 0, "delta_commits": 0},
    "transform": {"seconds": 6.0, "spark_jobs": 12, "delta_commits": 4},
}
EVENTS_ROWS = [
    run_row("r1", 0, 30.0, writes=[{"table": "bronze.orders", "version": 0, "inserted": 100, "updated": 0, "deleted": 0}]),
    recon("r1", "orders", "ingest", 100, bronze_added=100),
    recon("r1", "orders", "transform", 100, valid=96, quarantined=4),
    run_row(
        "r2", 10, 20.0,
        stages=STAGES,
        writes=[
            {"table": "bronze.orders", "version": 1, "inserted": 50, "updated": 0, "deleted": 0},
            {"table": "silver.orders", "version": 3, "inserted": 40, "updated": 7, "deleted": 0},
            {"table": "silver.orders", "version": 4, "inserted": 1, "updated": 0, "deleted": 0},
            {"table": "gold.daily_revenue", "version": 9, "inserted": 5, "updated": 0, "deleted": 0, "skipped": True},
        ],
        gates=[{"suite": "silver.orders.batch", "table": "silver.orders", "success": True, "evaluated": 14,
                "failed": 0, "failures": [], "duration_s": 1.5}],
        quarantine_reasons={"quarantine.orders": {"invalid:status": 1, "missing:order_id": 2},
                            "quarantine.customers": {"malformed_line": 2}},
        jvm_started=True, warnings=["late file"],
    ),
    recon("r2", "orders", "transform", 50, valid=48, quarantined=2, inserted=40, updated=7, superseded=1),
    recon("r2", "customers", "transform", 10, valid=8, quarantined=2, inserted=8, updated=0, superseded=0),
    recon("r2", "orders", "ingest", 50, files=1, bronze_added=50),
    run_row("r3", 20, 5.0, status="failed", gates=[
        {"suite": "silver.orders.batch", "table": "silver.orders", "success": False, "evaluated": 14, "failed": 1,
         "failures": ["expect_column_values_to_be_unique(order_id): 2 of 9 rows unexpected"], "duration_s": 0.5}]),
    {"kind": "watermark", "run_id": "r2", "consumer": "silver.orders", "input": "bronze.orders"},
]  # fmt: skip


def test_runs_are_ordered_by_their_end_and_carry_their_metrics() -> None:
    shuffled = [EVENTS_ROWS[7], EVENTS_ROWS[0], EVENTS_ROWS[3]]
    runs = runs_of(shuffled)
    assert [r["run_id"] for r in runs] == ["r1", "r2", "r3"]
    assert runs[1]["metrics"]["jvm_started"] is True


def test_versions_as_of_a_run_are_the_newest_written_up_to_it() -> None:
    runs = runs_of(EVENTS_ROWS)
    assert versions_as_of(runs, 0) == {"bronze.orders": 0}
    assert versions_as_of(runs, 2) == {"bronze.orders": 1, "silver.orders": 4}  # skipped writes do not count


def test_the_newest_run_by_default_with_its_gates_and_the_trend() -> None:
    data = assemble(EVENTS_ROWS, [])
    assert data["run"] == {
        "run_id": "r3", "command": "full", "env": "test", "status": "failed", "exit_code": 3,
        "error": "gate failed", "started_at": "2026-03-01T06:20:00Z", "ended_at": "2026-03-01T06:20:05Z",
        "duration_s": 5.0, "jvm_started": False, "warnings": [],
    }  # fmt: skip
    assert data["gates"][0]["failures"] == [
        "expect_column_values_to_be_unique(order_id): 2 of 9 rows unexpected"
    ]
    assert data["quarantine"] == [] and data["quarantine_recorded"] is False
    assert data["reconciliation"] == [] and data["stages"] == []
    assert [(t["run_id"], t["status"], t["duration_s"]) for t in data["trend"]] == [
        ("r1", "success", 30.0), ("r2", "success", 20.0), ("r3", "failed", 5.0)
    ]  # fmt: skip
    assert data["trend"][0] == {
        "run_id": "r1", "command": "full", "status": "success", "started_at": "2026-03-01T06:00:00Z",
        "duration_s": 30.0, "landing_records": 100, "records_checked": 100, "valid": 96, "quarantined": 4,
        "quarantine_ratio": 0.04,
    }  # fmt: skip
    assert data["trend"][1]["quarantine_ratio"] == round(4 / 60, 6)  # both sources of the run
    assert data["trend"][2]["quarantine_ratio"] is None  # no record checked: no ratio, not 0


def test_a_chosen_run_shows_its_stages_tables_reconciliation_and_quarantine() -> None:
    from lakeforge.ops.report import TableRows

    tables = [TableRows("bronze.orders", 1, 150), TableRows("silver.orders", 4, 44),
              TableRows("quarantine.orders", None, None)]  # fmt: skip
    data = assemble(EVENTS_ROWS, tables, run_id="r2", trend_runs=2)
    assert [(s["name"], s["start_s"], s["seconds"], s["spark_jobs"], s["delta_commits"]) for s in data["stages"]] == [
        ("plan", 0.0, 0.25, 0, 0), ("spark", 0.25, 9.0, 0, 0), ("ingest", 9.25, 4.0, 3, 2),
        ("transform", 13.25, 6.0, 12, 4), ("record", 19.25, 0.5, 0, 1),
    ]  # fmt: skip
    assert data["tables"] == [
        {"table": "bronze.orders", "layer": "bronze", "version": 1, "rows": 150, "inserted": 50, "updated": 0, "deleted": 0},
        {"table": "silver.orders", "layer": "silver", "version": 4, "rows": 44, "inserted": 41, "updated": 7, "deleted": 0},
        {"table": "quarantine.orders", "layer": "quarantine", "version": None, "rows": None, "inserted": 0, "updated": 0, "deleted": 0},
    ]  # fmt: skip
    assert data["layers"] == {"bronze": 150, "silver": 44}
    assert [(r["source"], r["stage"], r["records_read"]) for r in data["reconciliation"]] == [
        ("orders", "ingest", 50), ("customers", "transform", 10), ("orders", "transform", 50)
    ]  # fmt: skip
    assert data["quarantine"] == [
        {"table": "quarantine.customers", "reason": "malformed_line", "rows": 2},
        {"table": "quarantine.orders", "reason": "missing:order_id", "rows": 2},
        {"table": "quarantine.orders", "reason": "invalid:status", "rows": 1},
    ]
    assert data["run"]["warnings"] == ["late file"] and data["run"]["jvm_started"] is True
    assert [t["run_id"] for t in data["trend"]] == ["r1", "r2"]  # up to the chosen run, at most 2


def test_no_runs_or_an_unknown_run_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no runs recorded in the event log"):
        assemble([], [])
    with pytest.raises(ConfigError, match="no run 'r9' in the event log") as exc:
        assemble(EVENTS_ROWS, [], run_id="r9")
    assert exc.value.hint == "recent runs: r1, r2, r3"


def test_the_page_is_self_contained_escaped_and_carries_its_data() -> None:
    data = assemble(EVENTS_ROWS, [], run_id="r2")
    data["run"]["error"] = "</script><script>alert(1)</script>"
    page = render(data)
    assert "http://" not in page and "https://" not in page  # nothing in it can reach the network
    assert re.search(r"<(script|link|img|iframe)[^>]*\s(src|href)=", page) is None
    assert "Chart.js v4.5.1" in page and "Released under the MIT License" in page  # inlined, licence kept
    assert "<script>alert(1)" not in page and "&lt;/script&gt;&lt;script&gt;alert(1)" in page
    embedded = re.search(r'<script id="report-data" type="application/json">(.*?)</script>', page, re.S)
    assert embedded is not None and json.loads(embedded.group(1)) == json.loads(json.dumps(data))
    assert f'data-charts="{len(CHARTS)}"' in page
    assert all(f'<canvas id="chart-{c}">' in page for c in CHARTS)
    assert (
        '<tr data-source="orders" data-stage="transform"><td>orders</td><td class="text">transform</td><td>-</td><td>50</td>'
        in page
    )


def _quarantine_batch(run_id: str, reasons: list[list[str]]) -> pa.Table:
    return pa.table(
        {
            "_line_number": pa.array(range(len(reasons)), pa.int64()),
            "_reasons": pa.array(reasons, pa.list_(pa.string())),
            "_quarantine_run_id": pa.array([run_id] * len(reasons), pa.string()),
        }
    )


def test_quarantine_reasons_come_from_the_files_the_run_added(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    uri = str(lake / "quarantine" / "orders")
    write_deltalake(uri, _quarantine_batch("old", [["invalid:status"]] * 5))  # v0: an earlier run
    write_deltalake(uri, _quarantine_batch("r2", [["invalid:status", "missing:order_id"], ["malformed_line"]]),
                    mode="append")  # fmt: skip
    write_deltalake(uri, _quarantine_batch("r2", [["malformed_line"]]), mode="append")  # v2
    report = RunReport(writes=[write("quarantine.orders", 1, 2), write("quarantine.orders", 2, 1),
                               write("silver.orders", 7, 3), write("quarantine.customers", None)])  # fmt: skip
    catalog = Catalog(lake, ContractRegistry.default())
    assert quarantine_reasons(catalog, report, "r2") == {
        "quarantine.orders": {"invalid:status": 1, "missing:order_id": 1, "malformed_line": 2}
    }


def test_quarantine_reasons_never_fail_the_run(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    report = RunReport(writes=[write("quarantine.orders", 3, 1)])  # no such table
    with caplog.at_level(logging.WARNING, logger="lakeforge.ops.report"):
        assert quarantine_reasons(Catalog(tmp_path, ContractRegistry.default()), report, "r1") == {}
    assert "quarantine reasons not recorded: TableNotFoundError" in caplog.text


def _settings(lake: Path) -> Settings:
    return Settings(paths=PathsSettings(landing=lake.parent / "landing", lakehouse=lake), env="test")


def _record(lake: Path, run_id: str, minute: int, report: RunReport, status: str = "success") -> None:
    registry = ContractRegistry.default()
    started = T0 + timedelta(minutes=minute)
    info = RunInfo(run_id, "full", "test", date(2026, 3, 1), started, started + timedelta(seconds=12.5), status,
                   0 if status == "success" else 3, None if status == "success" else "suite failed")  # fmt: skip
    append_events(Catalog(lake, registry).uri(EVENTS), registry, run_events(info, report))


@pytest.fixture
def delta_lake(tmp_path: Path) -> Path:
    """A lakehouse of delta-rs tables: bronze.orders at v0 (3 rows) and v1 (5 rows), two runs recorded."""
    lake = tmp_path / "lake"
    uri = str(lake / "bronze" / "orders")
    write_deltalake(uri, pa.table({"order_id": ["o1", "o2", "o3"]}))
    write_deltalake(uri, pa.table({"order_id": ["o4", "o5"]}), mode="append")
    _record(lake, "r1", 0, RunReport(writes=[write("bronze.orders", 0, 3)],
                                     stages={"ingest": StageStats(2.0, 3, 1)}))  # fmt: skip
    second = RunReport(
        writes=[write("bronze.orders", 1, 2)],
        reconciliation=[Reconciliation("orders", "ingest", 1, 2, 2),
                        Reconciliation("orders", "transform", None, 2, None, 1, 1, 1, 0, 0)],
        gates=[GateResult("silver.orders.batch", "silver.orders", False, 14, 1, ["unique(order_id): 2 of 2"])],
        stages={"ingest": StageStats(1.5, 2, 1), "transform": StageStats(3.0, 9, 2)},
        quarantine_reasons={"quarantine.orders": {"invalid:total_amount": 1}},
    )  # fmt: skip
    _record(lake, "r2", 5, second, status="failed")
    return lake


def test_report_data_reads_the_event_log_and_the_tables_as_the_run_left_them(delta_lake: Path) -> None:
    settings = _settings(delta_lake)
    graph = load_graph(settings)
    first = report_data(settings, graph, run_id="r1")
    assert [(t["table"], t["version"], t["rows"]) for t in first["tables"] if t["version"] is not None] == [
        ("bronze.orders", 0, 3)
    ]
    last = report_data(settings, graph)
    assert last["run"]["run_id"] == "r2" and last["run"]["status"] == "failed"
    assert [(t["table"], t["version"], t["rows"]) for t in last["tables"] if t["version"] is not None] == [
        ("bronze.orders", 1, 5)
    ]
    assert last["quarantine"] == [{"table": "quarantine.orders", "reason": "invalid:total_amount", "rows": 1}]
    assert [(g["suite"], g["success"]) for g in last["gates"]] == [("silver.orders.batch", False)]
    assert [(t["run_id"], t["duration_s"], t["quarantine_ratio"]) for t in last["trend"]] == [
        ("r1", 12.5, None), ("r2", 12.5, 0.5)
    ]  # fmt: skip
    assert last["lakehouse"] == str(delta_lake) and last["data_docs"] is None


def test_the_report_command_writes_the_page(
    delta_lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], restore_logging: None
) -> None:
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"paths": {"landing": str(tmp_path / "landing"), "lakehouse": str(delta_lake)},
                                  "environments": {"local": {}}}))  # fmt: skip
    out = tmp_path / "out" / "report.html"
    assert main(["report", "--config", str(config), "--run", "r1", "--out", str(out)]) == 0
    assert capsys.readouterr().out == f"run r1 (success): {out}\n"
    page = out.read_text(encoding="utf-8")
    assert "<title>lakeforge run r1: success</title>" in page
    assert '<tr data-table="bronze.orders"><td>bronze.orders</td><td>0</td><td class="rows">3</td>' in page

    assert main(["report", "--config", str(config), "--run", "nope", "--out", str(out)]) == 2
    assert "no run 'nope' in the event log -- recent runs: r1, r2" in capsys.readouterr().err
    assert main(["report", "--config", str(config), "--runs", "0", "--out", str(out)]) == 2
    assert "--runs must be 1 or more, not 0" in capsys.readouterr().err


def test_an_empty_lakehouse_has_no_report(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    settings = _settings(tmp_path / "lake")
    with pytest.raises(ConfigError, match="no runs recorded"):
        report_data(settings, load_graph(settings))
    with caplog.at_level(logging.WARNING, logger="lakeforge.ops.report"):
        assert write_run_report(settings, load_graph(settings), "r1") is None  # never raises after a run
    assert "run report not written: ConfigError: no runs recorded in the event log" in caplog.text
    assert not (tmp_path / "lake" / "_ops" / "report.html").exists()


def test_the_page_is_replaced_whole(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    out.write_text("old", encoding="utf-8")
    write_report(assemble(EVENTS_ROWS, []), out)
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temporary file left behind


# --- Great Expectations data docs, offline (lakeforge.quality.docs_assets) ----------------------------


def _fake_cache(root: Path) -> Path:
    from lakeforge.quality.docs_assets import PACKAGES

    for package in PACKAGES:
        for rel in package.files:
            (root / package.key / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / package.key / rel).write_text(f"/* {package.key} {rel} */", encoding="utf-8")
        (root / package.key / "LICENSE").write_text(f"licence of {package.name}", encoding="utf-8")
    return root


GE_PAGE = """<html><head>
<link href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css" rel="stylesheet">
<link rel="stylesheet" href="https://cdnjs.cloudflare.com/ajax/libs/font-awesome/6.6.0/css/all.min.css"/>
<script src="https://cdn.jsdelivr.net/npm/vega@5"></script>
<script src="https://cdn.jsdelivr.net/npm/vega-lite@5"></script>
<script src='https://code.jquery.com/jquery-3.7.1.min.js'></script>
<style>.navbar-brand a { background: url('https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/full_logo_dark.png') }</style>
</head><body><img src="https://great-expectations-web-assets.s3.us-east-2.amazonaws.com/logo-long.png?d=20260301T060000Z">
<a href="https://greatexpectations.io">GX</a></body></html>
"""


def _site(root: Path) -> Path:
    (root / "static" / "images").mkdir(parents=True)
    (root / "static" / "images" / "logo-long.png").write_bytes(b"png")
    (root / "index.html").write_text(GE_PAGE, encoding="utf-8")
    nested = root / "validations" / "silver" / "orders" / "run1"
    nested.mkdir(parents=True)
    (nested / "page.html").write_text(GE_PAGE, encoding="utf-8")
    return root


def test_data_docs_pages_point_at_local_copies(tmp_path: Path) -> None:
    from lakeforge.quality.docs_assets import cdn_references, make_offline

    cache, site = _fake_cache(tmp_path / "cache"), _site(tmp_path / "site")
    assert set(cdn_references(site)) == {"index.html", "validations/silver/orders/run1/page.html"}

    assert make_offline(site, cache).pages == 2
    index = (site / "index.html").read_text(encoding="utf-8")
    assert (
        '<link href="./static/vendor/bootstrap@4.3.1/dist/css/bootstrap.min.css" rel="stylesheet">' in index
    )
    assert '<script src="./static/vendor/vega@5.33.1/build/vega.min.js"></script>' in index
    assert "<script src='./static/vendor/jquery@3.7.1/dist/jquery.min.js'></script>" in index
    assert "url('./static/images/logo-long.png')" in index  # the dark logo is not shipped: the light one
    assert '<img src="./static/images/logo-long.png">' in index
    assert '<a href="https://greatexpectations.io">' in index  # a link, not a load: left alone
    nested = (site / "validations/silver/orders/run1/page.html").read_text(encoding="utf-8")
    assert 'href="../../../../static/vendor/@fortawesome/fontawesome-free@6.6.0/css/all.min.css"' in nested
    assert cdn_references(site) == {}
    vendor = site / "static" / "vendor"
    assert (vendor / "@fortawesome/fontawesome-free@6.6.0/webfonts/fa-solid-900.woff2").read_text() == (
        "/* @fortawesome/fontawesome-free@6.6.0 webfonts/fa-solid-900.woff2 */"
    )
    assert (vendor / "jquery@3.7.1" / "LICENSE").read_text() == "licence of jquery"
    assert make_offline(site, cache).pages == 0  # already local: nothing to rewrite


def test_data_docs_without_the_cache_keep_their_links_and_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from lakeforge.quality.docs_assets import PACKAGES, make_offline

    site = _site(tmp_path / "site")
    with caplog.at_level(logging.WARNING, logger="lakeforge.quality"):
        done = make_offline(site, tmp_path / "no-cache")
    assert done.pages == 0 and done.missing == [p.key for p in PACKAGES]
    assert (site / "index.html").read_text(encoding="utf-8") == GE_PAGE
    assert "data docs keep their CDN links" in caplog.text and "run `make web-assets`" in caplog.text


def _tarball(files: dict[str, bytes]) -> bytes:
    import io
    import tarfile

    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def _integrity(data: bytes) -> str:
    import base64
    import hashlib

    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def test_fetch_checks_the_tarball_and_extracts_the_listed_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakeforge.quality import docs_assets
    from lakeforge.quality.docs_assets import Package, fetch_assets, missing

    data = _tarball({"package/dist/x.min.js": b"x()", "package/LICENSE": b"MIT", "package/src/x.js": b"src"})
    registry = tmp_path / "registry"
    (registry / "@scope" / "x" / "-").mkdir(parents=True)
    (registry / "@scope" / "x" / "-" / "x-1.0.0.tgz").write_bytes(data)
    good = Package("@scope/x", "1.0.0", _integrity(data), ("dist/x.min.js",))
    monkeypatch.setattr(docs_assets, "PACKAGES", (good,))
    cache = tmp_path / "cache"

    assert fetch_assets(cache, registry=registry.as_uri()) == cache
    assert sorted(p.relative_to(cache).as_posix() for p in cache.rglob("*") if p.is_file()) == [
        "@scope/x@1.0.0/LICENSE", "@scope/x@1.0.0/dist/x.min.js"
    ]  # fmt: skip
    assert missing(cache) == []
    (registry / "@scope" / "x" / "-" / "x-1.0.0.tgz").unlink()
    fetch_assets(cache, registry=registry.as_uri())  # cached: no download

    (registry / "@scope" / "x" / "-" / "x-1.0.0.tgz").write_bytes(data)
    tampered = Package("@scope/x", "1.0.0", _integrity(b"other"), ("dist/x.min.js",))
    monkeypatch.setattr(docs_assets, "PACKAGES", (tampered,))
    with pytest.raises(ValueError, match=r"@scope/x@1.0.0: sha512 .* differs from the registry's"):
        fetch_assets(tmp_path / "cache2", registry=registry.as_uri())
    assert not (tmp_path / "cache2" / "@scope" / "x@1.0.0").exists()

    lacking = Package("@scope/x", "1.0.0", _integrity(data), ("dist/x.min.js", "dist/y.css"))
    monkeypatch.setattr(docs_assets, "PACKAGES", (lacking,))
    with pytest.raises(ValueError, match=r"@scope/x@1.0.0: the tarball has no dist/y.css"):
        fetch_assets(tmp_path / "cache3", registry=registry.as_uri())
    assert list((tmp_path / "cache3" / "@scope").iterdir()) == []  # nothing half-written


def test_every_cdn_url_of_the_ge_templates_is_mapped() -> None:
    """The pinned GE version's templates load nothing from a CDN that `CDN` does not map to a file."""
    from importlib.util import find_spec

    from lakeforge.quality.docs_assets import CDN, PACKAGES

    spec = find_spec("great_expectations")  # found, not imported (an import costs seconds)
    assert spec is not None and spec.submodule_search_locations
    templates = Path(spec.submodule_search_locations[0]) / "render" / "view" / "templates"
    loaded = set()
    for path in templates.glob("*.j2"):
        loaded |= set(re.findall(r"""(?:src|href)=["'](https://(?:unpkg|cdn|code|maxcdn|stackpath|cdnjs)[^"']+)""",
                                 path.read_text(encoding="utf-8")))  # fmt: skip
    assert loaded and loaded <= set(CDN)
    files = {(p.key, f) for p in PACKAGES for f in p.files}
    assert set(CDN.values()) <= files


def test_the_run_summary_names_the_report() -> None:
    import io

    from rich.console import Console

    from lakeforge.console import print_summary
    from lakeforge.ops.progress import RunEnd

    out = io.StringIO()
    report = RunReport(run_report="/lake/_ops/report.html", data_docs="/lake/_ops/data_docs/index.html")
    print_summary(Console(file=out, width=160), RunEnd("success", 0, 1.0, report), "r1", "full", "/lake")
    lines = out.getvalue().splitlines()
    assert lines[-2:] == ["data docs: /lake/_ops/data_docs/index.html", "run report: /lake/_ops/report.html"]
    out = io.StringIO()
    print_summary(Console(file=out, width=160), RunEnd("success", 0, 1.0, RunReport()), "r1", "full", "/lake")
    assert "run report" not in out.getvalue()
