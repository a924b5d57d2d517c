"""Typed settings. A bad config fails at load time naming the file and the key (exit 2).

settings = load_settings(Path("config/local.yaml"), env="local")
settings.paths.lakehouse          # absolute Path
settings.quality.max_quarantine_ratio
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DriftPolicy(StrEnum):
    """What a layer accepts when an arriving schema differs from its contract."""

    ADDITIVE = "additive"  # new columns and widenings are accepted and recorded; breaking changes refused
    NONE = "none"  # any difference is refused


class PathsSettings(_Strict):
    landing: Path
    lakehouse: Path


class SparkSettings(_Strict):
    master: str = "local[*]"
    app_name: str = "lakeforge"
    shuffle_partitions: int = Field(default=4, ge=1)
    driver_memory: str = "2g"
    ui_enabled: bool = False
    jars_cache: Path | None = None  # where the Delta jars are cached; default ~/.cache/lakeforge/ivy
    conf: dict[str, str] = Field(default_factory=dict)


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
    prometheus_textfile: Path | None = None  # written after every run when set
    pushgateway_url: str | None = None


class Settings(_Strict):
    """The whole configuration of one environment, after overlay and interpolation."""

    paths: PathsSettings
    spark: SparkSettings = Field(default_factory=SparkSettings)
    quality: QualitySettings = Field(default_factory=QualitySettings)
    drift: DriftSettings = Field(default_factory=DriftSettings)
    lock: LockSettings = Field(default_factory=LockSettings)
    maintenance: MaintenanceSettings = Field(default_factory=MaintenanceSettings)
    logging: LoggingSettings = Field(default_factory=LoggingSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    contracts_dir: Path | None = None  # default: the contracts shipped with the package
    env: str = "local"
