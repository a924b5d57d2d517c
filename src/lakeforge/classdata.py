"""A class-data-sharing archive of the JVM classes a pipeline run loads: the Spark driver starts faster.

    archive = ensure_archive(spark_settings)   # `lakeforge fetch-jars` (make install): once per JDK and jars
    java_options(spark_settings)              # "-XX:SharedArchiveFile=... -Xlog:cds*=off", "" when none

Most of a short run's fixed cost is the JVM loading and verifying the same ~20k classes of Spark and
Delta every time. HotSpot's dynamic CDS archive (JDK 13+) keeps them parsed and verified in a file the
JVM maps at start: the floor (start the session, write a 1-row Delta table) went from 12-14 s to
8-9 s on 2 cores (benchmarks/floor.py, alternated runs with and without the archive). The archive is
made by running the pipeline itself on a tiny generated sample in a JVM started with
`-XX:ArchiveClassesAtExit`, so it holds what a real run loads.

It belongs to one JDK build and one class path: its name is a hash of the `java` binary and of the jars
Spark puts on its class path (their paths: each virtualenv has its own archive), so an upgrade of either
makes a new one (and the old is never used). The JVM itself also refuses an archive that does not match
(`-Xshare:auto`: it starts without one), silently (`-Xlog:cds*=off`), so a stale or foreign archive
costs speed, never a failure. `spark.class_data_sharing:
false` turns it off.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from lakeforge.config.models import SparkSettings

log = logging.getLogger(__name__)

SILENT = "-Xlog:cds*=off"  # a refused archive only means a slower start: no warning on stderr
WORKLOAD_SCALE = 0.0005  # the sample the archive is made from: every stage and write mode, in seconds


def _java_binary() -> Path | None:
    from lakeforge.spark import java_binary

    java = java_binary()
    return Path(java).resolve() if java else None


def archive_path(settings: SparkSettings) -> Path | None:
    """Where the archive for this JDK and these jars lives (in the jars cache); None without Java."""
    from lakeforge.spark import cached_delta_jars, default_jars_cache, pyspark_jars

    cache = (settings.jars_cache or default_jars_cache()).expanduser().absolute()
    java = _java_binary()
    if java is None:
        return None
    digest = hashlib.sha256()
    stat = java.stat()
    digest.update(f"{java}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    for jar in [*pyspark_jars(), *cached_delta_jars(cache)]:  # where they are: the class path must match
        digest.update(str(jar.absolute()).encode() + b"\0")
    return cache / "cds" / f"lakeforge-{digest.hexdigest()[:16]}.jsa"


def java_options(settings: SparkSettings) -> str:
    """The driver JVM options that map the archive, or "" when it is off or not made yet."""
    if not settings.class_data_sharing:
        return ""
    archive = archive_path(settings)
    if archive is None or not archive.is_file():
        log.debug("no class-data archive for this JDK and these jars: `lakeforge fetch-jars` makes one")
        return ""
    return f"-XX:SharedArchiveFile={archive} -Xshare:auto {SILENT}"


def ensure_archive(settings: SparkSettings, timeout: float = 900.0) -> Path | None:
    """Make the archive unless it exists: a child process runs the pipeline on a tiny sample and its JVM
    writes the archive as it exits. Returns the archive, None when it is off or could not be made (the
    reason is logged; runs are then only slower)."""
    if not settings.class_data_sharing:
        return None
    archive = archive_path(settings)
    if archive is None or archive.is_file():
        return archive
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(f".{archive.name}.{os.getpid()}.partial")
    started = time.monotonic()
    spark = settings.model_dump(mode="json", exclude={"remote", "conf"})
    env = {**os.environ, "LAKEFORGE_CLASSDATA_SETTINGS": json.dumps(spark)}
    env.pop("LAKEFORGE_SPARK_REMOTE", None)
    result = subprocess.run(  # noqa: S603 - this interpreter, our own module
        [sys.executable, "-m", "lakeforge.classdata", str(partial)],
        env=env, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    if result.returncode != 0 or not partial.is_file():
        partial.unlink(missing_ok=True)
        tail = (result.stderr or "").strip().splitlines()[-3:]
        log.warning(
            "no class-data archive made (runs start slower): %s", " | ".join(tail) or result.returncode
        )
        return None
    os.replace(partial, archive)
    log.info(
        "class-data archive %s made in %.0f s (%.0f MB)",
        archive, time.monotonic() - started, archive.stat().st_size / 1e6,
    )  # fmt: skip
    return archive


def _dump(target: Path) -> None:
    """In the child: run the pipeline on a tiny sample in a JVM that archives its classes at exit, then
    close the JVM and wait until it has written the archive."""
    from pyspark import SparkContext

    from lakeforge.config.models import PathsSettings, QualitySettings, Settings
    from lakeforge.pipeline.context import RunContext
    from lakeforge.pipeline.runner import run_command
    from lakeforge.sample.generator import generate

    os.environ["TZ"] = "UTC"
    time.tzset()
    spark_json = json.loads(os.environ["LAKEFORGE_CLASSDATA_SETTINGS"])
    spark_json["class_data_sharing"] = False
    spark_json["conf"] = {
        "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -XX:ArchiveClassesAtExit={target} {SILENT}"
    }
    work = Path(tempfile.mkdtemp(prefix="lakeforge-classdata-"))
    try:
        generate(work / "landing", scale=WORKLOAD_SCALE, seed=1)
        settings = Settings(
            paths=PathsSettings(landing=str(work / "landing"), lakehouse=str(work / "lakehouse")),
            spark=SparkSettings(**spark_json),
            quality=QualitySettings(max_quarantine_ratio=1.0, data_docs=False),
        )
        clock = datetime(2026, 3, 31, tzinfo=UTC)
        ctx = RunContext.create(command="full", env="classdata", clock=clock, run_id="classdata")
        run_command(settings, ctx)
        proc = getattr(SparkContext._gateway, "proc", None)
        if SparkContext._active_spark_context is not None:
            SparkContext._active_spark_context.stop()
        if proc is not None and proc.stdin is not None:
            proc.stdin.close()  # the gateway JVM exits when its stdin closes, and writes the archive
            proc.wait(timeout=300)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    _dump(Path(sys.argv[1]))
