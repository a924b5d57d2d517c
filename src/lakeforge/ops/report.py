"""The run report: one self-contained HTML page of a run and the runs before it, from metadata alone.

    data = report_data(settings, graph, run_id=None)   # the newest run, or the run `run_id`
    write_report(data, Path("report.html"))            # one page, Chart.js inlined: opens offline
    path = write_run_report(settings, graph)           # after each run: <lakehouse>/_ops/report.html

What it shows: the run's stages end to end (wall time, Spark jobs, Delta commits), rows per table and
layer as the run left them, the reconciliation, quarantined rows by reason, the gate results, and the
trends of the last runs (duration, rows, quarantine ratio). Everything comes from the event log
(`_ops.events`: the run rows' `metrics` JSON and the reconciliation rows) and the tables' Delta logs,
read with delta-rs: no JVM, no Spark. The charts are drawn by Chart.js (vendored in `templates/vendor`
with its licence, inlined into the page); `assemble` is the pure part the unit tests feed by hand.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from lakeforge import storage
from lakeforge.errors import ConfigError
from lakeforge.ops.events import EVENTS

if TYPE_CHECKING:
    from lakeforge.config.models import Settings
    from lakeforge.contracts.registry import Catalog
    from lakeforge.results import RunReport


class FlowGraph(Protocol):
    """What the report needs of `lakeforge.flows.FlowGraph` (ops must not import flows: test_layers)."""

    @property
    def registry(self) -> Any: ...

    def tables(self) -> list[str]: ...


log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).parent / "templates"
CHART_JS = TEMPLATES / "vendor" / "chart.umd.min.js"
REPORT_FILE = "report.html"  # in <lakehouse>/_ops, beside data_docs/
TREND_RUNS = 20
STAGE_ORDER = ("settle", "plan", "spark", "ingest", "transform", "load", "validate", "maintenance", "record")
CHARTS = ("timeline", "rows", "quarantine", "trend-duration", "trend-rows", "trend-ratio")


@dataclass(frozen=True)
class TableRows:
    table: str
    version: int | None
    rows: int | None


def _iso(value: Any) -> str | None:
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return None if value is None else str(value)


def _metrics(row: dict[str, Any]) -> dict[str, Any]:
    try:
        found = json.loads(row.get("metrics") or "{}")
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def runs_of(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The run rows, oldest first (by end, then start), each with its parsed `metrics`."""
    runs = [dict(e, metrics=_metrics(e)) for e in events if e.get("kind") == "run"]
    far = datetime.min.replace(tzinfo=UTC)

    def when(r: dict[str, Any]) -> tuple[datetime, datetime]:
        def aware(v: Any) -> datetime:
            return far if v is None else v if v.tzinfo else v.replace(tzinfo=UTC)

        return aware(r.get("ended_at") or r.get("started_at")), aware(r.get("started_at"))

    return sorted(runs, key=when)


def select_run(runs: list[dict[str, Any]], run_id: str | None) -> int:
    """The index of `run_id` (default: the newest run); ConfigError when there is none."""
    if not runs:
        raise ConfigError("no runs recorded in the event log", hint="run `lakeforge run` first")
    if run_id is None:
        return len(runs) - 1
    for i in range(len(runs) - 1, -1, -1):
        if runs[i]["run_id"] == run_id:
            return i
    recent = ", ".join(r["run_id"] for r in runs[-5:])
    raise ConfigError(f"no run {run_id!r} in the event log", hint=f"recent runs: {recent}")


def versions_as_of(runs: list[dict[str, Any]], upto: int) -> dict[str, int]:
    """Each table's version after run `upto`: the newest version written by it or a run before it."""
    out: dict[str, int] = {}
    for run in runs[: upto + 1]:
        for w in run["metrics"].get("writes", []):
            version = w.get("version")
            if version is not None and not w.get("skipped"):
                out[w["table"]] = max(out.get(w["table"], -1), int(version))
    return out


def _stages(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    stages = metrics.get("stages") or {}
    names = [s for s in STAGE_ORDER if s in stages] + sorted(s for s in stages if s not in STAGE_ORDER)
    out, start = [], 0.0
    for name in names:
        s = stages[name]
        seconds = float(s.get("seconds") or 0.0)
        out.append(
            {
                "name": name,
                "start_s": round(start, 3),
                "seconds": round(seconds, 3),
                "spark_jobs": int(s.get("spark_jobs") or 0),
                "delta_commits": int(s.get("delta_commits") or 0),
            }
        )
        start += seconds
    return out


def _sum(rows: list[dict[str, Any]], stage: str, field: str) -> int:
    return sum(int(r.get(field) or 0) for r in rows if r.get("stage") == stage)


def _trend_point(run: dict[str, Any], recon: list[dict[str, Any]]) -> dict[str, Any]:
    read = _sum(recon, "transform", "records_read")
    quarantined = _sum(recon, "transform", "quarantined")
    started, ended = run.get("started_at"), run.get("ended_at")
    duration = (ended - started).total_seconds() if started is not None and ended is not None else None
    return {
        "run_id": run["run_id"],
        "command": run.get("command"),
        "status": run.get("status"),
        "started_at": _iso(started),
        "duration_s": None if duration is None else round(duration, 3),
        "landing_records": _sum(recon, "ingest", "records_read"),
        "records_checked": read,
        "valid": _sum(recon, "transform", "valid"),
        "quarantined": quarantined,
        "quarantine_ratio": round(quarantined / read, 6) if read else None,
    }


def assemble(
    events: list[dict[str, Any]],
    tables: list[TableRows],
    run_id: str | None = None,
    trend_runs: int = TREND_RUNS,
) -> dict[str, Any]:
    """Everything the page shows, as plain JSON-able data: the run, its figures and the trends.

    `events` are rows of `_ops.events`; `tables` the row counts at `versions_as_of` the run.
    """
    runs = runs_of(events)
    at = select_run(runs, run_id)
    run = runs[at]
    metrics = run["metrics"]
    recon_by_run: dict[str, list[dict[str, Any]]] = {}
    for e in events:
        if e.get("kind") == "reconciliation":
            recon_by_run.setdefault(e["run_id"], []).append(e)
    fields = ["source", "stage", "files", "records_read", "bronze_added", "valid", "quarantined",
              "inserted", "updated", "superseded", "balanced"]  # fmt: skip
    reconciliation = [
        {k: r.get(k) for k in fields}
        for r in sorted(
            recon_by_run.get(run["run_id"], []), key=lambda r: (r["stage"] != "ingest", r["source"])
        )
    ]
    written: dict[str, dict[str, int]] = {}
    for w in metrics.get("writes", []):
        if not w.get("skipped"):
            mine = written.setdefault(w["table"], {"inserted": 0, "updated": 0, "deleted": 0})
            for k in mine:
                mine[k] += int(w.get(k) or 0)
    table_rows: list[dict[str, Any]] = [
        {
            "table": t.table,
            "layer": t.table.partition(".")[0],
            "version": t.version,
            "rows": t.rows,
            **written.get(t.table, {"inserted": 0, "updated": 0, "deleted": 0}),
        }
        for t in tables
    ]
    layers: dict[str, int] = {}
    for t in table_rows:
        if t["rows"] is not None:
            layers[t["layer"]] = layers.get(t["layer"], 0) + t["rows"]
    quarantine = [
        {"table": table, "reason": reason, "rows": int(n)}
        for table, reasons in (metrics.get("quarantine_reasons") or {}).items()
        for reason, n in reasons.items()
    ]
    quarantine.sort(key=lambda q: (-q["rows"], q["table"], q["reason"]))
    started, ended = run.get("started_at"), run.get("ended_at")
    first = max(0, at + 1 - trend_runs)
    return {
        "lakehouse": None,
        "data_docs": None,  # set by report_data when the lakehouse has data docs
        "run": {
            "run_id": run["run_id"],
            "command": run.get("command"),
            "env": run.get("env"),
            "status": run.get("status"),
            "exit_code": run.get("exit_code"),
            "error": run.get("error"),
            "started_at": _iso(started),
            "ended_at": _iso(ended),
            "duration_s": _trend_point(run, [])["duration_s"],
            "jvm_started": bool(metrics.get("jvm_started")),
            "warnings": list(metrics.get("warnings") or []),
        },
        "stages": _stages(metrics),
        "tables": table_rows,
        "layers": layers,
        "reconciliation": reconciliation,
        "quarantine": quarantine,
        "quarantine_recorded": "quarantine_reasons" in metrics,
        "gates": [
            {
                k: g.get(k)
                for k in ("suite", "table", "success", "evaluated", "failed", "failures", "duration_s")
            }
            for g in metrics.get("gates", [])
        ],
        "trend": [_trend_point(r, recon_by_run.get(r["run_id"], [])) for r in runs[first : at + 1]],
    }


# --- reading the lakehouse (delta-rs, no JVM) --------------------------------------------------------


def _rows_at(uri: str, version: int | None) -> int | None:
    """Rows of a table at `version` (default: latest) from the log's file statistics; None: not readable."""
    from deltalake import DeltaTable
    from deltalake.exceptions import DeltaError, TableNotFoundError

    try:
        table = DeltaTable(uri, version=version)
    except (TableNotFoundError, DeltaError, OSError):
        return None
    adds = table.get_add_actions(flatten=True)
    return int(sum(v or 0 for v in adds.column("num_records").to_pylist())) if adds.num_rows else 0


def report_data(
    settings: Settings, graph: FlowGraph, run_id: str | None = None, trend_runs: int = TREND_RUNS
) -> dict[str, Any]:
    """The report of run `run_id` (default: the newest) read from the lakehouse of `settings`."""
    from lakeforge import deltalog
    from lakeforge.contracts.registry import Catalog

    catalog = Catalog(settings.paths.lakehouse, graph.registry)
    found = deltalog.read_arrow(catalog.uri(EVENTS))
    events = [] if found is None else found.to_pylist()
    runs = runs_of(events)
    versions = versions_as_of(runs, select_run(runs, run_id))
    tables = [
        TableRows(t, versions.get(t), _rows_at(catalog.uri(t), versions[t]) if t in versions else None)
        for t in graph.tables()
    ]
    data = assemble(events, tables, run_id, trend_runs)
    data["lakehouse"] = settings.paths.lakehouse
    docs = storage.join(settings.paths.lakehouse, "_ops", "data_docs", "index.html")
    data["data_docs"] = docs if storage.is_file(docs) else None
    return data


def quarantine_reasons(catalog: Catalog, report: RunReport, run_id: str) -> dict[str, dict[str, int]]:
    """Rows this run quarantined, per quarantine table and reason (a row with two reasons counts twice).

    Read from the files its quarantine commits added (only the `_reasons` column); recorded in the run's
    metrics. Never raises: a failure is logged and gives {} (the report then says it was not recorded).
    """
    try:
        from deltalake import DeltaTable

        out: dict[str, dict[str, int]] = {}
        for w in report.writes:
            if not w.table.startswith("quarantine.") or w.skipped or w.version is None:
                continue
            uri = catalog.uri(w.table)
            files = set(DeltaTable(uri, version=w.version).file_uris())
            if w.version > 0:
                files -= set(DeltaTable(uri, version=w.version - 1).file_uris())
            counts = out.setdefault(w.table, {})
            for reason, n in _reason_counts(sorted(files), run_id).items():
                counts[reason] = counts.get(reason, 0) + n
        return out
    except Exception as exc:  # noqa: BLE001 - a figure of the report must never fail the run
        log.warning("quarantine reasons not recorded: %s: %s", type(exc).__name__, exc)
        return {}


def _reason_counts(files: list[str], run_id: str) -> dict[str, int]:
    if not files:
        return {}
    import pyarrow.compute as pc

    table = storage.read_parquet(files, columns=["_reasons", "_quarantine_run_id"])
    mine = table.filter(pc.equal(table["_quarantine_run_id"], run_id))
    counts = pc.value_counts(pc.list_flatten(mine["_reasons"]))
    return {str(c["values"]): int(c["counts"]) for c in counts.to_pylist()}


# --- the page ----------------------------------------------------------------------------------------

_BANNER = re.compile(r"/\*!.*?\*/", re.S)


def chart_js() -> str:
    """Chart.js as inlined into the page: its licence banners kept, their links without a scheme.

    The page holds no `http(s)://` at all, so nothing in it can ask for the network.
    """
    text = CHART_JS.read_text(encoding="utf-8")
    return _BANNER.sub(lambda m: re.sub(r"https?://", "", m.group(0)), text)


def docs_link(docs: str, out_dir: str | Path | None) -> str:
    """The data docs' index as the page at `out_dir` (a location; None: the working directory) links it."""
    where = storage.location(out_dir) if out_dir is not None else str(Path.cwd())
    if storage.is_local(docs) and storage.is_local(where):
        return os.path.relpath(storage.local_path(docs), storage.local_path(where)).replace(os.sep, "/")
    if docs.startswith(where + "/"):
        return docs[len(where) + 1 :]
    return docs


def render(data: dict[str, Any], out_dir: str | Path | None = None) -> str:
    """The page of `data` (`assemble`), Chart.js inlined; links relative to `out_dir` (the page's folder)."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = lambda v: "-" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
    template = env.get_template("report.html.j2")
    docs = data.get("data_docs")
    docs_href = None if not docs else docs_link(docs, out_dir)
    return template.render(data=data, charts=CHARTS, chart_js=chart_js(), docs_href=docs_href)


def write_report(data: dict[str, Any], out: Path) -> Path:
    """Write the page atomically (a reader never sees half a page); returns its path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(render(data, out.parent.absolute()), encoding="utf-8")
    tmp.replace(out)
    return out


def write_run_report(settings: Settings, graph: FlowGraph, run_id: str) -> str | None:
    """After a run: its report at `<lakehouse>/_ops/report.html`. Never raises: failure is a warning."""
    folder = storage.join(settings.paths.lakehouse, "_ops")
    try:
        data = report_data(settings, graph, run_id)
        path = storage.join(folder, REPORT_FILE)  # named as the lakehouse is
        if storage.is_local(folder):
            write_report(data, storage.local_path(folder) / REPORT_FILE)
        else:
            storage.write_bytes(path, render(data, folder).encode("utf-8"))
    except Exception as exc:  # noqa: BLE001 - the report must never hide or change the run's outcome
        log.warning("run report not written: %s: %s", type(exc).__name__, exc)
        return None
    log.info("run report: %s", path, extra={"event": "report"})
    return path
