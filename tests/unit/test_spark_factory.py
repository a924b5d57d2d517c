"""lakeforge.spark: the Java 17+ check that runs before any session, and the Delta jar coordinate."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import pytest

from lakeforge.errors import JavaNotFoundError
from lakeforge.spark import QUICK_JIT, cached_delta_jars, delta_coordinate, java_version, jit_options

REPO = Path(__file__).resolve().parents[2]
LAKEFORGE = Path(sys.executable).parent / "lakeforge"
NO_JAVA = (
    "JavaNotFoundError: Java 17+ is required to run Spark, but no `java` was found (JAVA_HOME unset or wrong, "
    "none on PATH) -- install OpenJDK 17 or newer (e.g. apt-get install openjdk-17-jre-headless) and put it on "
    "PATH or set JAVA_HOME"
)


def fake_java(directory: Path, output: str, to: str = "stderr") -> Path:
    """A `java` script that prints `output` the way `java -version` does (on stderr)."""
    directory.mkdir(parents=True, exist_ok=True)
    script = directory / "java"
    redirect = " >&2" if to == "stderr" else ""
    lines = " ".join(f"'{line}'" for line in output.splitlines())  # printf is a shell builtin: no PATH needed
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' {lines}{redirect}\n", encoding="utf-8")
    script.chmod(0o755)
    return script


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime Environment (build 17.0.15+6)', 17),
        ('openjdk version "21" 2023-09-19\nOpenJDK 64-Bit Server VM (build 21+35-2513)', 21),
        ('java version "22.0.1" 2024-04-16 LTS', 22),
        ('openjdk version "25-ea" 2025-09-16', 25),
    ],
    ids=["17.0.15", "21", "22.0.1", "25-ea"],
)
def test_java_version_reads_the_major_version(tmp_path: Path, output: str, major: int) -> None:
    java = fake_java(tmp_path / "bin", output)
    assert java_version(str(java)) == (str(java), major)


def test_java_version_also_reads_stdout(tmp_path: Path) -> None:
    java = fake_java(tmp_path / "bin", 'openjdk version "17.0.2"', to="stdout")
    assert java_version(str(java)) == (str(java), 17)


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "1.8.0_392"\nOpenJDK Runtime Environment', 8),
        ('openjdk version "11.0.22" 2024-01-16', 11),
    ],
    ids=["1.8.0_392", "11.0.22"],
)
def test_java_older_than_17_is_refused(tmp_path: Path, output: str, major: int) -> None:
    java = fake_java(tmp_path / "bin", output)
    with pytest.raises(JavaNotFoundError) as info:
        java_version(str(java))
    assert info.value.one_line() == (
        f"JavaNotFoundError: Java 17+ is required to run Spark, but {java} is Java {major} -- "
        "install OpenJDK 17 or newer and point JAVA_HOME at it"
    )
    assert info.value.exit_code == 2


def test_unreadable_version_output_is_refused(tmp_path: Path) -> None:
    java = fake_java(tmp_path / "bin", "no version here")
    with pytest.raises(JavaNotFoundError) as info:
        java_version(str(java))
    assert info.value.message == f"cannot read the version of {java} from: 'no version here'"


def test_a_java_that_cannot_run_is_refused(tmp_path: Path) -> None:
    java = tmp_path / "java"
    java.write_text("not executable", encoding="utf-8")
    with pytest.raises(JavaNotFoundError) as info:
        java_version(str(java))
    assert info.value.message.startswith(f"cannot run {java}: [Errno 13] Permission denied")
    assert info.value.hint == "install OpenJDK 17+"


def test_java_home_comes_before_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    home_java = fake_java(tmp_path / "jdk" / "bin", 'openjdk version "21.0.1"')
    fake_java(tmp_path / "path", 'openjdk version "17.0.1"')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "jdk"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert java_version() == (str(home_java), 21)


def test_a_java_home_without_java_falls_back_to_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path_java = fake_java(tmp_path / "path", 'openjdk version "17.0.1"')
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "empty-jdk"))
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert java_version() == (str(path_java), 17)


def test_no_java_anywhere_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    with pytest.raises(JavaNotFoundError) as info:
        java_version()
    assert info.value.one_line() == NO_JAVA
    assert info.value.exit_code == 2


def _cli_without_java(tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": "/nonexistent",
        "HOME": str(tmp_path),
        "LAKEFORGE_LAKEHOUSE": str(tmp_path / "lakehouse"),
        "LAKEFORGE_LANDING": str(tmp_path / "landing"),
    }
    result = subprocess.run(
        [str(LAKEFORGE), "run", "--config", str(REPO / "config" / "local.yaml"), "--cmd", "ingest"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    return result


def test_cli_without_java_exits_2_with_one_line_when_there_is_work(tmp_path: Path) -> None:
    (tmp_path / "landing" / "orders").mkdir(parents=True)
    (tmp_path / "landing" / "orders" / "orders_1.csv").write_text(
        "order_id,customer_id,order_ts,status,total_amount,updated_at\n"
        "O1,C1,2026-03-01T10:00:00Z,placed,1.00,2026-03-01T10:00:00Z\n"
    )
    result = _cli_without_java(tmp_path)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("lakeforge:")]
    assert errors == [f"lakeforge: {NO_JAVA}"]
    assert result.stderr.splitlines()[-1] == errors[0]
    assert result.stdout == ""


def test_cli_with_nothing_to_do_needs_no_java(tmp_path: Path) -> None:
    result = _cli_without_java(tmp_path)  # an empty landing zone: nothing to ingest
    assert result.returncode == 0, result.stderr
    assert "nothing to do: no Spark session was started" in result.stdout


# --- the Delta jar ----------------------------------------------------------------------------------------
def test_delta_coordinate_matches_the_installed_pyspark_and_delta() -> None:
    spark_minor = ".".join(version("pyspark").split(".")[:2])
    assert delta_coordinate() == f"io.delta:delta-spark_{spark_minor}_2.13:{version('delta-spark')}"


def test_installed_versions_are_the_pinned_ones() -> None:
    """pyproject.toml declares ranges; requirements/constraints.txt pins what CI installs and tests."""
    from packaging.requirements import Requirement

    ranges = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    specs = {Requirement(r).name: Requirement(r).specifier for r in ranges}
    pins = (REPO / "requirements" / "constraints.txt").read_text(encoding="utf-8").splitlines()
    for name, pinned_as in (("pyspark", "pyspark"), ("delta-spark", "delta_spark")):
        assert f"{pinned_as}=={version(name)}" in pins
        assert version(name) in specs[name]
    assert delta_coordinate() == "io.delta:delta-spark_4.2_2.13:4.4.0"


def test_cached_jars_are_used_only_when_our_delta_jar_is_there(tmp_path: Path) -> None:
    assert cached_delta_jars(tmp_path) == []
    jars = tmp_path / "jars"
    jars.mkdir()
    (jars / "io.delta_delta-storage-4.4.0.jar").write_text("", encoding="utf-8")
    assert cached_delta_jars(tmp_path) == []
    group, artifact, ver = delta_coordinate().split(":")
    ours = jars / f"{group}_{artifact}-{ver}.jar"
    ours.write_text("", encoding="utf-8")
    assert cached_delta_jars(tmp_path) == sorted([ours, jars / "io.delta_delta-storage-4.4.0.jar"])


def test_this_machine_has_java_17_or_newer() -> None:
    path, major = java_version()  # the Spark tests need it
    assert Path(path).name == "java" and major >= 17


@pytest.mark.parametrize(
    ("jit", "input_bytes", "expected"),
    [
        ("auto", 0, QUICK_JIT),
        ("auto", 32 << 20, QUICK_JIT),
        ("auto", (32 << 20) + 1, ""),
        ("auto", None, ""),  # unknown: the JVM's default
        ("quick", 10 << 30, QUICK_JIT),
        ("full", 0, ""),
    ],
)
def test_the_jit_is_c1_only_for_runs_that_read_little(
    jit: str, input_bytes: int | None, expected: str
) -> None:
    from lakeforge.config.models import SparkSettings

    assert jit_options(SparkSettings(jit=jit), input_bytes) == expected  # type: ignore[arg-type]


def test_a_run_processes_its_new_files_and_the_inputs_it_recomputes_whole(tmp_path: Path) -> None:
    import pyarrow as pa

    from lakeforge import deltalog
    from lakeforge.config.models import PathsSettings, Settings, SparkSettings
    from lakeforge.contracts.registry import Catalog
    from lakeforge.flows import load_graph
    from lakeforge.pipeline.planner import LakehouseState, Plan, Step
    from lakeforge.pipeline.runner import _input_bytes
    from lakeforge.sources.landing import LandingFile

    settings = Settings(paths=PathsSettings(landing=tmp_path / "landing", lakehouse=tmp_path / "lake"))
    graph = load_graph(settings)
    catalog = Catalog(settings.paths.lakehouse, graph.registry)
    uri = catalog.uri("bronze.orders")
    deltalog.append_arrow(uri, pa.table({"x": list(range(1000))}))
    deltalog.append_arrow(uri, pa.table({"x": [1, 2, 3]}))
    stored = sum(f.stat().st_size for f in (tmp_path / "lake" / "bronze" / "orders").glob("*.parquet"))
    assert deltalog.size_bytes(uri) == stored > 0
    assert deltalog.size_bytes(str(tmp_path / "none")) == 0
    state = LakehouseState.load(catalog, graph)

    files = [
        LandingFile("orders", f"orders/o{i}.csv", f"/x/o{i}.csv", 1000 + i, "0" * 64, None) for i in (1, 2)
    ]
    ingest = Step("ingest", "ingest", "bronze.orders", "2 new files", files=files)
    # bronze.orders read from its change feed after a valid watermark: only the new files count
    increment = Step("transform", "cleanse", "silver.orders", "v0..v1 new", inputs={"bronze.orders": (0, 1)})
    assert _input_bytes(settings, Plan("full", [ingest, increment]), state) == 2003
    # no valid watermark: silver is recomputed from all of bronze, whose data files count too
    whole = Step("transform", "cleanse", "silver.orders", "recompute", inputs={"bronze.orders": (None, 1)})
    plan = Plan("full", [ingest, whole])
    assert _input_bytes(settings, plan, state) == stored + 2003
    # past the limit on the files alone no table is opened: the JIT is full whatever they hold
    small = settings.model_copy(update={"spark": SparkSettings(quick_jit_max_bytes=2000)})
    assert _input_bytes(small, plan, state) == 2003
    full = settings.model_copy(update={"spark": SparkSettings(jit="full")})
    assert _input_bytes(full, plan, state) is None
    remote = settings.model_copy(update={"spark": SparkSettings(remote="sc://localhost:15002")})
    assert _input_bytes(remote, plan, state) is None
