"""lakeforge.classdata: the JVM class-data archive is mapped when it exists, and never breaks a start."""

from __future__ import annotations

import subprocess
from pathlib import Path

from lakeforge import classdata
from lakeforge.config.models import SparkSettings
from lakeforge.spark import java_binary, session_conf


def test_no_archive_no_option_and_an_archive_is_mapped_after_the_configured_options(tmp_path: Path) -> None:
    settings = SparkSettings(
        jars_cache=tmp_path,
        conf={"spark.driver.extraJavaOptions": "-Duser.timezone=UTC -XX:TieredStopAtLevel=1"},
    )
    assert classdata.java_options(settings) == ""
    assert (
        session_conf(settings)["spark.driver.extraJavaOptions"]
        == "-Duser.timezone=UTC -XX:TieredStopAtLevel=1"
    )

    archive = classdata.archive_path(settings)
    assert archive is not None and archive.parent == tmp_path / "cds"
    archive.parent.mkdir()
    archive.write_bytes(b"not really an archive")
    assert session_conf(settings)["spark.driver.extraJavaOptions"] == (
        f"-Duser.timezone=UTC -XX:TieredStopAtLevel=1 -XX:SharedArchiveFile={archive} -Xshare:auto -Xlog:cds*=off"
    )
    off = settings.model_copy(update={"class_data_sharing": False})
    assert "SharedArchiveFile" not in session_conf(off)["spark.driver.extraJavaOptions"]
    assert classdata.ensure_archive(off) is None


def test_the_archive_name_follows_the_jdk_and_the_jars(tmp_path: Path) -> None:
    settings = SparkSettings(jars_cache=tmp_path)
    first = classdata.archive_path(settings)
    jars = tmp_path / "jars"
    jars.mkdir()
    from lakeforge.spark import delta_coordinate

    group, artifact, version = delta_coordinate().split(":")
    (jars / f"{group}_{artifact}-{version}.jar").write_bytes(b"")
    assert classdata.archive_path(settings) != first  # other jars: another archive


def test_a_jvm_given_an_archive_that_does_not_match_starts_without_it_and_says_nothing(
    tmp_path: Path,
) -> None:
    bogus = tmp_path / "foreign.jsa"
    bogus.write_bytes(b"\0" * 4096)
    java = java_binary()
    assert java is not None
    out = subprocess.run(
        [java, f"-XX:SharedArchiveFile={bogus}", "-Xshare:auto", classdata.SILENT, "-version"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 0
    assert out.stdout == ""
    assert [line for line in out.stderr.splitlines() if "version" not in line and "Runtime" not in line
            and "VM" not in line] == []  # fmt: skip
