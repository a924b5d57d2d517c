"""Locations are URIs: a lakehouse and a landing zone given as `file:///...` or `s3a://bucket/...` are
used as given by every code path (Spark, delta-rs, pyarrow), never turned into a local path.

`file:` URIs run the whole pipeline with a JVM (Hadoop, delta-rs and pyarrow all serve them without a
server). The `s3a://` run is against moto's S3 API on loopback, with no JVM: planning, a run with
nothing new (its event-log commit, report and lock), status.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lakeforge import deltalog, storage
from lakeforge.sample.generator import generate
from tests.integration.helpers import (
    CLI,
    CLOCK,
    DATA_TABLES,
    SOURCES,
    naive_utc,
    rows,
    table_path,
    write_config,
)
from tests.oracle import expected_from_landing

pytestmark = pytest.mark.slow

BUCKET = "lakeforge-locations"
AS_OF = CLOCK.strftime("%Y-%m-%dT%H:%M:%SZ")


def config(path: Path, landing: str, lakehouse: str) -> Path:
    # Spark's workers, not the driver, read the landing files: by their URIs
    return write_config(
        path, landing, lakehouse, data_docs=True, extra="landing:\n  driver_parse_max_bytes: 0"
    )


def lakeforge(
    cwd: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """The real CLI in `cwd`, without the caller's LAKEFORGE_* or AWS_* settings."""
    child = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEFORGE_", "AWS_", "SPARK_CONNECT"))}
    child.update(env or {})
    return subprocess.run(
        [str(CLI), *args], cwd=cwd, env=child, capture_output=True, text=True, timeout=timeout
    )


def tree(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))


def uri_like(folder: Path, deep: bool = True) -> list[str]:
    """Anything in `folder` (and below, if `deep`) named like a URI turned into a path (`s3a:`, `file:`)."""
    found = folder.rglob("*") if deep else folder.iterdir()
    return sorted(str(p) for p in found if p.name.endswith(":") or p.name.startswith(("s3a:", "file:")))


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A landing zone of 3 files per source, plus one more orders file held back for later."""
    base = tmp_path_factory.mktemp("locations")
    landing = base / "landing"
    generate(landing, scale=0.0005, seed=5, files_per_source=4)
    held = base / "held"
    held.mkdir()
    last = sorted((landing / "orders").glob("*.csv"))[-1]
    shutil.move(last, held / last.name)
    return {"base": base, "landing": landing, "held": held / last.name}


@pytest.fixture(scope="module")
def file_run(sample: dict[str, Path]) -> dict[str, Any]:
    """`lakeforge run --cmd full` with both locations `file:///...` URIs, from an empty working directory."""
    base = sample["base"]
    lake, work = base / "lake", base / "work-file"
    work.mkdir()
    cfg = config(base / "file.yaml", f"file://{sample['landing']}", f"file://{lake}/")
    result = lakeforge(
        work, "run", "--config", str(cfg), "--cmd", "full", "--as-of", AS_OF, "--json",
        env={"LAKEFORGE_STATE_DIR": str(base / "state-file")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return {"lake": lake, "work": work, "config": cfg, "summary": json.loads(result.stdout)}


def test_a_run_on_file_uris_equals_the_oracle_and_leaves_the_cwd_alone(spark, sample, file_run) -> None:  # type: ignore[no-untyped-def]
    lake, summary = file_run["lake"], file_run["summary"]
    assert summary["status"] == "success" and summary["jvm_started"] is True
    assert tree(file_run["work"]) == []  # nothing created in the working directory
    assert not (sample["base"] / "state-file").exists()  # a local lakehouse keeps its lock in _ops
    assert (lake / "_ops" / "pipeline.lock").is_file()
    assert summary["run_report"] == f"file://{lake}/_ops/report.html"  # named as the lakehouse is
    assert summary["data_docs"] == f"file://{lake}/_ops/data_docs/index.html"
    assert (lake / "_ops" / "report.html").is_file()
    assert (lake / "_ops" / "data_docs" / "index.html").is_file()
    assert uri_like(sample["base"]) == [] and uri_like(Path.cwd(), deep=False) == []
    expected = expected_from_landing(sample["landing"])
    for source, key in (("customers", "customer_id"), ("orders", "order_id")):
        assert len(rows(spark, lake, f"bronze.{source}")) == expected[source].bronze_records
        got = {
            (r["_source_file"], r["_line_number"]): sorted(r["_reasons"])
            for r in rows(spark, lake, f"quarantine.{source}")
        }
        assert got == expected[source].quarantine
        silver = rows(spark, lake, f"silver.{source}", drop={"_ingested_at", "_run_id"})
        want = [{k: naive_utc(v) for k, v in r.items()} for r in expected[source].silver]
        assert sorted(silver, key=lambda r: r[key]) == sorted(want, key=lambda r: r[key])
    revenue = sorted(rows(spark, lake, "gold.daily_revenue"), key=lambda r: r["order_date"])
    assert revenue == sorted(expected.daily_revenue, key=lambda r: r["order_date"])
    ltv = sorted(rows(spark, lake, "gold.customer_ltv"), key=lambda r: r["customer_id"])
    assert ltv == sorted(
        ({k: naive_utc(v) for k, v in r.items()} for r in expected.customer_ltv),
        key=lambda r: r["customer_id"],
    )


@pytest.fixture(scope="module")
def s3() -> Iterator[dict[str, Any]]:
    """moto's S3 API on a free loopback port, one bucket; the environment the CLI needs to reach it."""
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request otherwise

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    client = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    try:
        yield {"env": env, "client": client}
    finally:
        server.stop()


def upload(client: Any, folder: Path, prefix: str) -> int:
    files = [p for p in sorted(folder.rglob("*")) if p.is_file()]
    for p in files:
        client.upload_file(str(p), BUCKET, f"{prefix}/{p.relative_to(folder).as_posix()}")
    return len(files)


def test_an_s3a_lakehouse_is_planned_run_and_read_with_no_local_path(sample, file_run, s3) -> None:  # type: ignore[no-untyped-def]
    base, lake = sample["base"], file_run["lake"]
    state, work = base / "state-s3", base / "work-s3"
    work.mkdir()
    assert upload(s3["client"], sample["landing"], "landing") == 7
    assert upload(s3["client"], lake, "lake") > 50
    cfg = config(base / "s3.yaml", f"s3a://{BUCKET}/landing", f"s3a://{BUCKET}/lake")
    env = {**s3["env"], "LAKEFORGE_STATE_DIR": str(state)}

    def cli(*args: str) -> Any:
        result = lakeforge(work, *args, "--config", str(cfg), env=env)
        assert result.returncode == 0, result.stderr[-3000:]
        return json.loads(result.stdout)

    # the plan: nothing new, as for the local copy (the landing files are re-hashed: their S3 mtimes differ)
    local_plan = json.loads(lakeforge(work, "plan", "--json", "--config", str(file_run["config"])).stdout)
    assert local_plan == {"command": "full", "has_work": False, "steps": [], "warnings": []}
    assert cli("plan", "--json") == local_plan

    # a run with nothing new: exit 0, no JVM, one event-log commit by delta-rs on S3, the lock on this host
    events_before = deltalog.version(table_path(lake, "_ops.events"))
    summary = cli("run", "--cmd", "full", "--as-of", AS_OF, "--json")
    assert (summary["status"], summary["jvm_started"], summary["delta_commits"]) == ("success", False, 1)
    assert summary["run_report"] == f"s3a://{BUCKET}/lake/_ops/report.html"
    key = storage.key(f"s3a://{BUCKET}/lake")
    assert tree(state) == [
        "locks", f"locks/{key}.lock", "metrics", f"metrics/{key}", f"metrics/{key}/lakeforge_full.prom"
    ]  # fmt: skip
    page = s3["client"].get_object(Bucket=BUCKET, Key="lake/_ops/report.html")["Body"].read().decode("utf-8")
    assert summary["run_id"] in page

    # status reads every table from S3: the versions and rows of the local copy, the event log one further
    status = cli("status", "--json")
    assert (status["lakehouse"], status["landing"]) == (f"s3a://{BUCKET}/lake", f"s3a://{BUCKET}/landing")
    assert status["lock"] == "free"
    found = {t["table"]: (t["version"], t["rows"]) for t in status["tables"]}
    for table in DATA_TABLES:
        uri = table_path(lake, table)
        assert found[table] == (deltalog.version(uri), deltalog.row_count(uri)), table
    assert found["_ops.events"][0] == (events_before or 0) + 1
    runs = {r["run_id"]: r["status"] for r in status["runs"]}
    assert runs == {file_run["summary"]["run_id"]: "success", summary["run_id"]: "success"}
    # status compares size and modification time only (no hashing): the copies' S3 times differ from the
    # ledger's, so it lists them, where the plan (which hashes them) found nothing new
    copied = {s: [f"{s}/{p.name}" for p in sorted((sample["landing"] / s).glob("*.csv"))] for s in SOURCES}
    assert {s["source"]: s["waiting"] for s in status["sources"]} == copied

    # one new landing file: the plan names it, and status lists it as waiting
    held = sample["held"]
    s3["client"].upload_file(str(held), BUCKET, f"landing/orders/{held.name}")
    plan = cli("plan", "--json")
    assert plan["has_work"] is True
    ingest = [s for s in plan["steps"] if s["kind"] == "ingest"]
    assert [(s["table"], s["files"]) for s in ingest] == [("bronze.orders", [f"orders/{held.name}"])]
    waiting = {s["source"]: s["waiting"] for s in cli("status", "--json")["sources"]}
    assert waiting == {**copied, "orders": [*copied["orders"], f"orders/{held.name}"]}

    # nothing named after the URI on the local disk
    assert tree(work) == []
    assert uri_like(base) == [] and uri_like(Path.cwd(), deep=False) == []
