"""Locations are strings: local paths as always, any URI verbatim, and nothing of a URI on the local disk."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from lakeforge import storage
from lakeforge.config import load_settings
from lakeforge.contracts.registry import Catalog, ContractRegistry
from lakeforge.errors import ConfigError, PipelineLocked
from lakeforge.ops.report import docs_link
from lakeforge.pipeline.engine import docs_dir
from lakeforge.pipeline.lock import PipelineLock, lock_file
from lakeforge.pipeline.runner import default_textfile
from lakeforge.pipeline.status import lock_state
from lakeforge.sources.landing import candidates, fingerprint

KEY = hashlib.sha256(b"s3a://bucket/lake").hexdigest()[:16]


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "state"
    monkeypatch.setenv("LAKEFORGE_STATE_DIR", str(folder))
    monkeypatch.chdir(tmp_path)
    return folder


def config(tmp_path: Path, landing: str, lakehouse: str, extra: str = "") -> Path:
    path = tmp_path / "lakeforge.yaml"
    path.write_text(f"paths:\n  landing: {landing}\n  lakehouse: {lakehouse}\n{extra}", encoding="utf-8")
    return path


def test_a_config_keeps_s3a_locations_verbatim(tmp_path: Path) -> None:
    settings = load_settings(config(tmp_path, "s3a://bucket/landing", "s3a://bucket/lake/"), environ={})
    assert (settings.paths.landing, settings.paths.lakehouse) == ("s3a://bucket/landing", "s3a://bucket/lake")


def test_the_environment_overrides_a_location_with_a_uri(tmp_path: Path) -> None:
    environ = {
        "LAKEFORGE_LAKEHOUSE": "gs://other/lake",
        "LAKEFORGE_LANDING": "abfss://c@acct.dfs.core.windows.net/in",
    }
    settings = load_settings(config(tmp_path, "/l", "/h"), environ=environ)
    assert (settings.paths.landing, settings.paths.lakehouse) == (
        "abfss://c@acct.dfs.core.windows.net/in",
        "gs://other/lake",
    )


def test_plain_paths_and_file_uris_behave_as_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config(tmp_path, "data/landing", "file:///srv/lake/"), environ={})
    assert settings.paths.landing == str(tmp_path / "data" / "landing")
    assert settings.paths.lakehouse == "file:///srv/lake"
    assert storage.is_local(settings.paths.landing) and storage.is_local(settings.paths.lakehouse)
    assert storage.local_path(settings.paths.lakehouse) == Path("/srv/lake")
    assert lock_file(settings.paths.lakehouse) == Path("/srv/lake/_ops/pipeline.lock")
    assert lock_file(settings.paths.landing) == tmp_path / "data" / "landing" / "_ops" / "pipeline.lock"
    assert default_textfile("file:///srv/lake") == Path("/srv/lake/_ops/metrics/lakeforge.prom")
    assert Catalog(tmp_path / "lake", ContractRegistry.default()).uri("silver.orders") == str(
        tmp_path / "lake" / "silver" / "orders"
    )


def test_an_empty_location_is_a_config_error_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(config(tmp_path, "''", "/h"), environ={})
    assert "paths.landing" in info.value.message and "a location must not be empty" in info.value.message


def test_the_catalog_joins_a_uri_by_string() -> None:
    catalog = Catalog("s3a://bucket/lake", ContractRegistry.default())
    assert catalog.uri("silver.orders") == "s3a://bucket/lake/silver/orders"
    assert catalog.uri("_ops.events") == "s3a://bucket/lake/_ops/events"
    assert storage.join("s3a://bucket/lake/", "_ops", "data_docs/") == "s3a://bucket/lake/_ops/data_docs"


@pytest.mark.parametrize(
    ("given", "kept", "local"),
    [
        ("s3a://bucket/lake/", "s3a://bucket/lake", False),
        ("s3://bucket/lake", "s3://bucket/lake", False),
        ("hdfs://namenode:8020/lake", "hdfs://namenode:8020/lake", False),
        ("file:///srv/lake", "file:///srv/lake", True),
        ("file://otherhost/srv/lake", "file://otherhost/srv/lake", False),
        ("/srv/lake/", "/srv/lake", True),
    ],
)
def test_locations_are_kept_or_made_absolute(given: str, kept: str, local: bool) -> None:
    assert storage.location(given) == kept
    assert storage.is_local(given) is local


def test_a_uri_is_never_taken_for_a_local_path() -> None:
    with pytest.raises(ConfigError) as info:
        storage.local_path("s3a://bucket/lake")
    assert info.value.one_line() == (
        "ConfigError: s3a://bucket/lake is not on the local file system -- this needs a local path or a "
        "file: URI"
    )


def test_the_lock_of_an_s3a_lakehouse_is_in_the_state_dir_and_names_it(state: Path) -> None:
    path = lock_file("s3a://bucket/lake")
    assert path == state / "locks" / f"{KEY}.lock"
    with PipelineLock(path, holder="run r1 (full)", lakehouse="s3a://bucket/lake"):
        held = json.loads(path.read_text(encoding="utf-8"))
        assert (held["lakehouse"], held["holder"], held["pid"]) == (
            "s3a://bucket/lake",
            "run r1 (full)",
            os.getpid(),
        )
        assert lock_state("s3a://bucket/lake").startswith(f"held by run r1 (full) (pid {os.getpid()} on ")
        with pytest.raises(PipelineLocked) as info:
            PipelineLock(path, holder="run r2 (full)", lakehouse="s3a://bucket/lake").acquire()
    assert info.value.message.startswith(
        f"another run holds the pipeline lock {path} of s3a://bucket/lake: run r1 (full) (pid {os.getpid()} on "
    )
    assert lock_state("s3a://bucket/lake") == "free"
    assert lock_file("s3a://bucket/other") != path  # each lakehouse its own lock
    assert sorted(p.relative_to(state).as_posix() for p in state.rglob("*")) == ["locks", f"locks/{KEY}.lock"]


def test_what_must_be_local_goes_to_the_state_dir_for_an_s3a_lakehouse(state: Path, tmp_path: Path) -> None:
    assert default_textfile("s3a://bucket/lake") == state / "metrics" / KEY / "lakeforge.prom"
    settings = load_settings(config(tmp_path, "s3a://bucket/landing", "s3a://bucket/lake"), environ={})
    assert docs_dir(settings) == state / "data_docs" / KEY
    local = load_settings(config(tmp_path, "/in", "/lake"), environ={})
    assert docs_dir(local) == Path("/lake/_ops/data_docs")
    assert default_textfile("/lake") == Path("/lake/_ops/metrics/lakeforge.prom")
    assert not state.exists()  # nothing is made until it is written


def test_report_links_the_data_docs_of_a_uri_relatively() -> None:
    docs = "s3a://bucket/lake/_ops/data_docs/index.html"
    assert docs_link(docs, "s3a://bucket/lake/_ops") == "data_docs/index.html"
    assert docs_link(docs, "/tmp/reports") == docs  # a local page names the remote docs as they are
    assert docs_link("/lake/_ops/data_docs/index.html", Path("/lake/_ops")) == "data_docs/index.html"


def test_a_landing_zone_given_as_a_file_uri_is_listed_with_the_same_rules(tmp_path: Path) -> None:
    folder = tmp_path / "landing" / "orders"
    folder.mkdir(parents=True)
    (folder / "orders_1.csv").write_text("order_id\no1\n", encoding="utf-8")
    (folder / "orders_0.csv").write_text("", encoding="utf-8")
    (folder / "_orders_2.csv").write_text("order_id\no2\n", encoding="utf-8")
    (folder / "link.csv").symlink_to(folder / "orders_1.csv")
    listing = candidates(f"file://{tmp_path}/landing/", "orders")
    assert [(c.rel_path, c.path, c.size) for c in listing.files] == [
        ("orders/orders_1.csv", f"file://{tmp_path}/landing/orders/orders_1.csv", 12)
    ]
    assert listing.warnings == [
        "orders/link.csv is a symbolic link: skipped (links are never followed)",
        "orders/orders_0.csv is empty (0 bytes): not arrived yet, left for a later run",
    ]
    f = fingerprint(listing.files[0])
    assert (f.sha256, f.header) == (hashlib.sha256(b"order_id\no1\n").hexdigest(), ("order_id",))


def test_uri_syntax_in_a_file_name_is_part_of_the_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert storage.local_path("file:///srv/landing/orders/a#1?x%41.csv") == Path(
        "/srv/landing/orders/a#1?x%41.csv"
    )
    assert storage.local_path("file://localhost/srv/lake") == Path("/srv/lake")
    made: list[tuple[str, str]] = []

    def remote_fs(arrow_scheme: str, authority: str) -> tuple[object, str]:
        made.append((arrow_scheme, authority))
        return object(), authority

    monkeypatch.setattr(storage, "_remote_fs", remote_fs)
    assert (
        storage.arrow_fs("s3a://bucket/landing/orders/a#1?x%41.csv")[1]
        == "bucket/landing/orders/a#1?x%41.csv"
    )
    assert storage.arrow_fs("s3://bucket")[1] == "bucket"
    assert made == [("s3", "bucket"), ("s3", "bucket")]  # s3a is pyarrow's s3
