"""OpenLineage run events of a run (START, then COMPLETE or FAIL), sent only when a transport is configured.

    OPENLINEAGE_URL=http://marquez:5000 lakeforge run --config config/local.yaml --cmd full
    # or in the config:  lineage: {namespace: lakeforge-prod, transport: {type: http, url: "http://marquez:5000"}}

One job per command: namespace `lineage.namespace` (default "lakeforge"), name `lakeforge.<command>`;
the run id is a UUID derived from lakeforge's run id and clock (the same run, the same id). Inputs are
the landing files the plan ingests and the tables the steps read; outputs the tables the plan writes
(START) or wrote (COMPLETE/FAIL, with an outputStatistics facet: rows inserted + updated, bytes and
files added). Dataset names follow OpenLineage's naming: a local path is namespace `file`, name the
absolute path; `s3a://bucket/key` is `s3://bucket`, `key`. Each table also carries a symlinks facet with
its logical name ("silver.orders") in the job's namespace.

`lineage_observer()` returns None, and imports nothing of openlineage, unless a transport is configured:
`lineage.transport` in the config, or the client's own mechanisms (OPENLINEAGE_URL,
OPENLINEAGE__TRANSPORT__*, OPENLINEAGE_CONFIG, ./openlineage.yml, ~/.openlineage/openlineage.yml).
OPENLINEAGE_DISABLED=true turns it off. The client's fallback (print events on the console) is never used.
"""

from __future__ import annotations

import os
import traceback
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lakeforge.config.models import LineageSettings
from lakeforge.ops.progress import PlannedStep, RunEnd, RunObserver, RunStart
from lakeforge.results import WriteMetrics

if TYPE_CHECKING:
    from openlineage.client import OpenLineageClient

OBJECT_STORES = {"s3": "s3", "s3a": "s3", "s3n": "s3", "gs": "gs"}


def lineage_configured(
    settings: LineageSettings,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    home: Path | None = None,
) -> bool:
    """Whether any OpenLineage transport is configured (and lineage is not disabled)."""
    env = os.environ if environ is None else environ
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return False
    if settings.transport is not None or env.get("OPENLINEAGE_URL"):
        return True
    if any(k.startswith("OPENLINEAGE__TRANSPORT") and v for k, v in env.items()):
        return True
    files = [Path(env["OPENLINEAGE_CONFIG"])] if env.get("OPENLINEAGE_CONFIG") else []
    files += [
        (cwd or Path.cwd()) / "openlineage.yml",
        (home or Path.home()) / ".openlineage" / "openlineage.yml",
    ]
    return any(f.is_file() for f in files)


def lineage_observer(
    settings: LineageSettings, environ: Mapping[str, str] | None = None
) -> LineageObserver | None:
    """An observer sending the run's events through the configured transport; None when there is none."""
    if not lineage_configured(settings, environ):
        return None
    from openlineage.client import OpenLineageClient

    config = None if settings.transport is None else {"transport": dict(settings.transport)}
    return LineageObserver(OpenLineageClient(config=config), settings.namespace, owns_client=True)


def dataset_name(uri: str) -> tuple[str, str]:
    """(namespace, name) of a location, after OpenLineage's dataset naming."""
    parts = urlsplit(uri)
    if parts.scheme in ("", "file") or len(parts.scheme) == 1:  # a path (a drive letter is not a scheme)
        return "file", str(Path(parts.path if parts.scheme == "file" else uri).absolute())
    scheme = OBJECT_STORES.get(parts.scheme, parts.scheme)
    if scheme in ("s3", "gs"):
        return f"{scheme}://{parts.netloc}", parts.path.lstrip("/")
    return f"{scheme}://{parts.netloc}", parts.path


def _unique(values: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(values))


class LineageObserver(RunObserver):
    """Sends START when the plan is made and COMPLETE or FAIL when the run ends."""

    def __init__(
        self, client: OpenLineageClient, namespace: str = "lakeforge", owns_client: bool = False
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.owns_client = owns_client
        self._run: RunStart | None = None
        self._run_uuid = ""
        self._steps: list[PlannedStep] = []
        self._written: dict[str, list[int]] = {}  # table -> [rows, bytes, files]
        self._started = False

    # --- callbacks ------------------------------------------------------------------------------------
    def run_started(self, run: RunStart) -> None:
        from openlineage.client.uuid import generate_static_uuid

        self._run = run
        self._run_uuid = str(generate_static_uuid(run.clock, run.run_id.encode("utf-8")))

    def planned(self, steps: Sequence[PlannedStep]) -> None:
        self._steps = list(steps)
        planned_outputs = _unique([t for s in self._steps for t in s.outputs])
        self._emit("START", self._inputs(), [self._output(t) for t in planned_outputs])

    def table_written(self, write: WriteMetrics) -> None:
        if write.skipped:
            return
        totals = self._written.setdefault(write.table, [0, 0, 0])
        totals[0] += write.inserted + write.updated
        totals[1] += write.bytes_added
        totals[2] += write.files_added

    def run_finished(self, end: RunEnd) -> None:
        try:
            if self._run is None:
                return
            if not self._started:  # planning failed: the run still starts, then fails
                self._emit("START", [], [])
            outputs = [self._output(t, stats=True) for t in self._written]
            self._emit("COMPLETE" if end.error is None else "FAIL", self._inputs(), outputs, end.error)
        finally:
            if self.owns_client:
                self.client.close(timeout=10.0)

    # --- events -----------------------------------------------------------------------------------------
    def _table(self, table: str) -> tuple[str, str, dict[str, Any]]:
        from openlineage.client.facet_v2 import symlinks_dataset

        assert self._run is not None
        namespace, name = dataset_name(self._run.locations.get(table, table))
        link = symlinks_dataset.Identifier(namespace=self.namespace, name=table, type="TABLE")
        return namespace, name, {"symlinks": symlinks_dataset.SymlinksDatasetFacet(identifiers=[link])}

    def _inputs(self) -> list[Any]:
        from openlineage.client.event_v2 import InputDataset

        assert self._run is not None
        out = []
        landing = self._run.landing
        for rel in _unique([f for s in self._steps for f in s.files]):
            namespace, name = dataset_name(f"{landing.rstrip('/')}/{rel}")
            out.append(InputDataset(namespace=namespace, name=name))
        for table in _unique([t for s in self._steps for t in s.inputs]):
            namespace, name, facets = self._table(table)
            out.append(InputDataset(namespace=namespace, name=name, facets=facets))
        return out

    def _output(self, table: str, stats: bool = False) -> Any:
        from openlineage.client.event_v2 import OutputDataset
        from openlineage.client.facet_v2 import output_statistics_output_dataset as output_stats

        namespace, name, facets = self._table(table)
        output_facets: dict[str, Any] = {}
        if stats and table in self._written:
            rows, size, files = self._written[table]
            output_facets["outputStatistics"] = output_stats.OutputStatisticsOutputDatasetFacet(
                rowCount=rows, size=size, fileCount=files
            )
        return OutputDataset(namespace=namespace, name=name, facets=facets, outputFacets=output_facets)

    def _emit(
        self, state: str, inputs: list[Any], outputs: list[Any], error: BaseException | None = None
    ) -> None:
        from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import error_message_run, job_type_job, nominal_time_run

        assert self._run is not None
        run_facets: dict[str, Any] = {}
        if self._run.logical_date is not None:
            run_facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
                nominalStartTime=f"{self._run.logical_date.isoformat()}T00:00:00Z"
            )
        if error is not None:
            run_facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                message=f"{type(error).__name__}: {error}",
                programmingLanguage="python",
                stackTrace="".join(traceback.format_exception(error)) or None,
            )
        job_facets: dict[str, Any] = {
            "jobType": job_type_job.JobTypeJobFacet(
                processingType="BATCH", integration="LAKEFORGE", jobType="JOB"
            )
        }
        self.client.emit(
            RunEvent(
                eventType=RunState(state),
                eventTime=datetime.now(UTC).isoformat(),  # the event's own time, not the run's clock
                run=Run(runId=self._run_uuid, facets=run_facets),
                job=Job(namespace=self.namespace, name=f"lakeforge.{self._run.command}", facets=job_facets),
                inputs=inputs,
                outputs=outputs,
            )
        )
        self._started = True
