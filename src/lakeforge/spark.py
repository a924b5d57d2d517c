"""The one SparkSession factory: Delta enabled, UTC, UI off, sized for the data, Delta jars cached.

    spark = build_spark(settings.spark)

The Delta jars come from Maven Central through Spark's package resolution into an Ivy cache
(`spark.jars_cache`, default `~/.cache/lakeforge/ivy`). Once they are there, later sessions put the cached
jars on the classpath directly (`spark.jars`) and start without any network access.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import sys
from collections.abc import MutableMapping
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from lakeforge.config.models import SparkSettings
from lakeforge.errors import JavaNotFoundError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

MIN_JAVA = 17


def delta_coordinate() -> str:
    """The Maven coordinate of the delta-spark jar matching the installed pyspark and delta-spark."""
    import pyspark

    spark_minor = ".".join(pyspark.__version__.split(".")[:2])
    return f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def default_jars_cache() -> Path:
    """`LAKEFORGE_JARS_CACHE`, else `$XDG_CACHE_HOME/lakeforge/ivy`, else `~/.cache/lakeforge/ivy`."""
    if os.environ.get("LAKEFORGE_JARS_CACHE"):
        return Path(os.environ["LAKEFORGE_JARS_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "lakeforge" / "ivy"


def fetch_jars(settings: SparkSettings) -> list[Path]:
    """Resolve the Delta jars into the cache once (a tiny local session); later sessions need no network."""
    cache = (settings.jars_cache or default_jars_cache()).expanduser().absolute()
    jars = cached_delta_jars(cache)
    if jars:
        return jars
    spark = build_spark(settings.model_copy(update={"master": "local[1]"}))
    spark.stop()
    jars = cached_delta_jars(cache)
    if not jars:
        raise RuntimeError(f"Spark resolved {delta_coordinate()} but no jars arrived in {cache / 'jars'}")
    return jars


def java_binary() -> str | None:
    """The `java` Spark will start: JAVA_HOME's, else the first on PATH; None when there is none."""
    home = os.environ.get("JAVA_HOME")
    candidate = Path(home) / "bin" / "java" if home else None
    return str(candidate) if candidate and candidate.is_file() else shutil.which("java")


def java_version(java: str | None = None) -> tuple[str, int]:
    """Find `java` (JAVA_HOME first, then PATH) and return its path and major version.

    Raises JavaNotFoundError with one clear line when there is none or it is older than 17.
    """
    if java is None:
        java = java_binary()
    if not java:
        raise JavaNotFoundError(
            f"Java {MIN_JAVA}+ is required to run Spark, but no `java` was found (JAVA_HOME unset or wrong, "
            "none on PATH)",
            hint=f"install OpenJDK {MIN_JAVA} or newer (e.g. apt-get install openjdk-17-jre-headless) "
            "and put it on PATH or set JAVA_HOME",
        )
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    except OSError as exc:
        raise JavaNotFoundError(f"cannot run {java}: {exc}", hint=f"install OpenJDK {MIN_JAVA}+") from exc
    text = out.stderr + out.stdout
    match = re.search(r'version "(\d+)(?:\.(\d+))?', text)
    if not match:
        raise JavaNotFoundError(f"cannot read the version of {java} from: {text.strip()[:200]!r}")
    major = int(match.group(1))
    if major == 1 and match.group(2):  # "1.8.0_392" style
        major = int(match.group(2))
    if major < MIN_JAVA:
        raise JavaNotFoundError(
            f"Java {MIN_JAVA}+ is required to run Spark, but {java} is Java {major}",
            hint=f"install OpenJDK {MIN_JAVA} or newer and point JAVA_HOME at it",
        )
    return java, major


def cached_delta_jars(cache: Path) -> list[Path]:
    """The jars a previous resolution left in the Ivy cache, if the delta-spark jar of our version is there."""
    jars_dir = cache / "jars"
    if not jars_dir.is_dir():
        return []
    group, artifact, ver = delta_coordinate().split(":")
    if not (jars_dir / f"{group}_{artifact}-{ver}.jar").is_file():
        return []
    return sorted(jars_dir.glob("*.jar"))


def _utf8_for_the_jvm(environ: MutableMapping[str, str] | None = None) -> None:
    """Start the JVM under a UTF-8 locale whatever ours is.

    Java takes the encoding of file names from the locale it starts under: under `LANG=C` a landing file
    named `café.csv` is "not found" by Spark. Python itself runs in UTF-8 mode there (PEP 538/540).
    """
    env = os.environ if environ is None else environ
    effective = env.get("LC_ALL") or env.get("LC_CTYPE") or env.get("LANG") or ""
    if "utf-8" not in effective.lower() and "utf8" not in effective.lower():
        env["LC_ALL"] = "C.UTF-8"


# Session settings a Spark Connect client can set on its own session; everything else is the server's
RUNTIME_CONF = (
    "spark.sql.session.timeZone",
    "spark.sql.shuffle.partitions",
    "spark.sql.execution.arrow.pyspark.enabled",
    "spark.databricks.delta.schema.autoMerge.enabled",
    "spark.databricks.delta.snapshotPartitions",
    "spark.sql.sources.parallelPartitionDiscovery.parallelism",
)


def session_conf(settings: SparkSettings) -> dict[str, str]:
    """Every Spark setting lakeforge runs with, for an embedded session and a Connect server alike."""
    cache = (settings.jars_cache or default_jars_cache()).expanduser().absolute()
    conf = {
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.session.timeZone": "UTC",
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
        "spark.ui.enabled": str(settings.ui_enabled).lower(),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.default.parallelism": str(settings.shuffle_partitions),
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.databricks.delta.schema.autoMerge.enabled": "false",
        # Delta rebuilds table state with this many partitions (default 50): far too many for small tables
        "spark.databricks.delta.snapshotPartitions": str(settings.shuffle_partitions),
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": str(settings.shuffle_partitions),
        "spark.jars.ivy": str(cache),
        # Python workers run the interpreter that runs lakeforge (the project's virtualenv), not `python3`
        "spark.pyspark.python": sys.executable,
        "spark.pyspark.driver.python": sys.executable,
    }
    jars = cached_delta_jars(cache)
    if jars:
        conf["spark.jars"] = ",".join(str(j) for j in jars)
    else:
        log.info("resolving %s from Maven Central into %s (first run only)", delta_coordinate(), cache)
        conf["spark.jars.packages"] = delta_coordinate()
    conf.update(settings.conf)
    from lakeforge.classdata import java_options

    _add_driver_options(conf, java_options(settings), unless=("SharedArchiveFile", "ArchiveClassesAtExit"))
    return conf


def _add_driver_options(conf: dict[str, str], options: str, unless: tuple[str, ...]) -> bool:
    """Append JVM `options` to the driver's, unless they are empty or the driver's already name one of
    `unless` (a choice made in `spark.conf` wins); True when appended."""
    driver = conf.get("spark.driver.extraJavaOptions", "")
    if not options or any(flag in driver for flag in unless):
        return False
    conf["spark.driver.extraJavaOptions"] = f"{driver} {options}".strip()
    return True


def pyspark_jars() -> list[Path]:
    """The jars PySpark puts on the driver's class path."""
    import pyspark

    return sorted((Path(pyspark.__file__).parent / "jars").glob("*.jar"))


# C1 only: measured on 2 cores, a sample `--cmd full` (10k orders) took 29-35 s with it against 39-43 s
# without, a scale-1 rebuild (1M orders) 120 s against 82 s. Its code cache gets room: the ergonomic 48 MB
# filled up once ("CodeCache is full. Compiler has been disabled") and the interpreted driver then failed.
QUICK_JIT = "-XX:TieredStopAtLevel=1 -XX:ReservedCodeCacheSize=256m"


def jit_options(settings: SparkSettings, input_bytes: int | None) -> str:
    """The embedded driver's JIT options: QUICK_JIT for `quick`, and for `auto` when the run processes at
    most `quick_jit_max_bytes` (None: unknown, full); "" for the JVM's default."""
    if settings.jit == "quick":
        return QUICK_JIT
    if settings.jit == "auto" and input_bytes is not None and input_bytes <= settings.quick_jit_max_bytes:
        return QUICK_JIT
    return ""


def build_spark(settings: SparkSettings, input_bytes: int | None = None) -> SparkSession:
    """Build (or return the running) SparkSession for these settings, with Delta Lake enabled.

    With `settings.remote` (`sc://host:port`) the session is a Spark Connect client of that server
    (`lakeforge.remote`); otherwise Spark runs embedded, in a JVM this process starts, its JIT chosen by
    `jit_options` from `input_bytes`, the bytes the run processes.
    """
    if settings.remote:
        from lakeforge.remote import connect

        return connect(settings)
    java_version()
    from pyspark.sql import SparkSession

    # Python workers must run this interpreter (the project's virtualenv, where lakeforge is installed);
    # PySpark reads the choice from the environment when the context starts.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    _utf8_for_the_jvm()
    builder = SparkSession.builder.master(settings.master).appName(settings.app_name)
    conf = session_conf(settings)
    if _add_driver_options(conf, jit_options(settings, input_bytes), unless=("TieredStopAtLevel",)):
        said = "" if input_bytes is None else f", the run processes {input_bytes} bytes"
        log.info("JIT: C1 only (spark.jit=%s%s)", settings.jit, said)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def is_remote(spark: SparkSession) -> bool:
    """True for a Spark Connect client session (no local JVM, no SparkContext)."""
    return type(spark).__module__.startswith("pyspark.sql.connect")


def driver_pid(spark: SparkSession) -> int | None:
    """The pid of the local JVM that runs this session's driver; None when the driver is remote."""
    jvm = getattr(spark, "_jvm", None)
    if jvm is None:
        return None
    return int(jvm.java.lang.ProcessHandle.current().pid())


@contextmanager
def persisted(df: DataFrame) -> Iterator[DataFrame]:
    """Cache a DataFrame that several actions read, and release it afterwards.

    with persisted(batch) as batch:
        n = batch.count(); batch.write...
    """
    from pyspark import StorageLevel

    df = df.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        yield df
    finally:
        df.unpersist()


@contextmanager
def job_group(spark: SparkSession | None, name: str) -> Iterator[Callable[[], int]]:
    """Tag the Spark jobs started inside with a job group; yields a function counting them so far.

    with job_group(spark, "transform") as jobs:
        ...
    jobs()   # 23
    Without a session (a stage that needs none) it counts 0.
    """
    if spark is None:
        yield lambda: 0
        return
    import uuid

    group = f"lakeforge-{name}-{uuid.uuid4().hex[:8]}"
    if is_remote(spark):
        # Spark Connect has no SparkContext: the stage's operations carry a tag instead (which also lets
        # a later client interrupt them), and their jobs are not counted
        spark.addTag(group)
        try:
            yield lambda: 0
        finally:
            spark.removeTag(group)
        return
    sc = spark.sparkContext
    sc.setJobGroup(group, name)
    try:
        yield lambda: len(sc.statusTracker().getJobIdsForGroup(group))
    finally:
        sc.setLocalProperty("spark.jobGroup.id", None)  # type: ignore[arg-type]
        sc.setLocalProperty("spark.job.description", None)  # type: ignore[arg-type]
