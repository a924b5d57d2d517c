"""Typed settings. A bad config fails at load time naming the file and the key (exit 2).

settings = load_settings(Path("config/local.yaml"), env="local")
settings.paths.lakehouse          # "/abs/path" or a URI as given ("s3a://bucket/lake"): lakeforge.storage
settings.quality.max_quarantine_ratio
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from lakeforge.results import DriftPolicy


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _location(value: Any) -> Any:
    from lakeforge.errors import ConfigError
    from lakeforge.storage import location

    if not isinstance(value, str | Path):
        return value  # str validation names the key and the wrong type
    try:
        return location(value)
    except ConfigError as exc:
        raise ValueError(exc.message) from None


# a local path (made absolute) or a URI kept as given: s3a://bucket/lake, file:///srv/lake, ...
Location = Annotated[str, BeforeValidator(_location)]


class PathsSettings(_Strict):
    landing: Location
    lakehouse: Location


class LandingSettings(_Strict):
    settle_seconds: float = Field(default=0.0, ge=0)  # a file modified more recently waits for a later run
    # a delivery of at most this many bytes is parsed in the driver (no Python workers, no count job)
    driver_parse_max_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    # a header with more columns stops the run (exit 4) naming the file
    max_columns: int = Field(default=1000, ge=1)
    # a larger file stops the run (exit 4) naming it: one Python worker parses a file whole, and holds
    # several times its size while it does
    max_file_bytes: int = Field(default=256 * 1024 * 1024, ge=1)


class SparkSettings(_Strict):
    master: str = "local[*]"
    app_name: str = "lakeforge"
    shuffle_partitions: int = Field(default=4, ge=1)
    driver_memory: str = "2g"
    ui_enabled: bool = False
    # a Spark Connect server (sc://host:port) to run through instead of an embedded Spark; `--remote` or
    # LAKEFORGE_SPARK_REMOTE set it per run. No token here: it comes from the environment (lakeforge.remote)
    remote: str | None = None
    jars_cache: Path | None = None  # where the Delta jars are cached; default ~/.cache/lakeforge/ivy
    conf: dict[str, str] = Field(default_factory=dict)
    # map the JVM class-data archive `lakeforge fetch-jars` makes (lakeforge.classdata): a faster start
    class_data_sharing: bool = True
    # the embedded JVM's JIT: `quick` compiles with C1 only (a small run's code runs a few times: C2's
    # compilations on 2 cores cost more than they return), `full` is the JVM's default, `auto` picks quick
    # when the bytes a run processes (its new files, and the tables it recomputes from a snapshot) are at
    # most `quick_jit_max_bytes` (lakeforge.spark.jit_options). A Connect server always runs `full`.
    jit: Literal["auto", "quick", "full"] = "auto"
    quick_jit_max_bytes: int = Field(default=32 * 1024 * 1024, ge=0)
    # a batch known to hold at most this many rows is computed once and held on the driver as Arrow: its
    # gate runs on GE's pandas engine, and the steps after it plan against a local relation instead of a
    # cache (lakeforge.pipeline.engine). Larger batches, and whole tables, stay in Spark. 0: never
    local_max_rows: int = Field(default=100_000, ge=0)


class QualitySettings(_Strict):
    max_quarantine_ratio: float = Field(default=0.05, ge=0.0, le=1.0)
    data_docs: bool = True


class DriftSettings(_Strict):
    bronze: DriftPolicy = DriftPolicy.ADDITIVE
    silver: DriftPolicy = DriftPolicy.NONE
    gold: DriftPolicy = DriftPolicy.NONE


class LockSettings(_Strict):
    wait_timeout_seconds: float = Field(default=600.0, ge=0)
    poll_seconds: float = Field(default=1.0, gt=0)


class MaintenanceSettings(_Strict):
    vacuum_retention_hours: int = Field(default=168, ge=0)
    optimize: bool = True


class LoggingSettings(_Strict):
    level: str = "INFO"
    json_format: bool = False


class MetricsSettings(_Strict):
    # each command writes <stem>_<command>.prom beside this name (or lakeforge_<command>.prom inside it, if
    # it is a folder); default <lakehouse>/_ops/metrics/lakeforge.prom (a lakehouse that is not local:
    # <state dir>/metrics/<hash>/lakeforge.prom) -> lakeforge_full.prom, ...
    prometheus_textfile: Path | None = None
    pushgateway_url: str | None = None


class LineageSettings(_Strict):
    """OpenLineage run events (docs/operations.md): sent only when a transport is configured."""

    namespace: str = Field(default="lakeforge", min_length=1)  # the job namespace
    # the client's own transport config, e.g. {type: http, url: "http://marquez:5000"}; without it,
    # OPENLINEAGE_URL, OPENLINEAGE_CONFIG, OPENLINEAGE__TRANSPORT__* or an openlineage.yml configure one
    transport: dict[str, Any] | None = None


class Settings(_Strict):
    """The whole configuration of one environment, after overlay and interpolation."""

    paths: PathsSettings
    landing: LandingSettings = Field(default_factory=LandingSettings)
    spark: SparkSettings = Field(default_factory=SparkSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    lock: LockSettings = Field(default_factory=LockSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    contracts_dir: Path | None = None  # default: the contracts shipped with the package
    # modules or .py files whose @table functions declare the derived tables (lakeforge.flows)
    flows: list[str] = Field(default_factory=lambda: ["lakeforge.transforms.gold"])
    env: str = "local"
