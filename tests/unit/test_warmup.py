"""lakeforge.pipeline.warmup: the sample run that `lakeforge server start` sends through a new server."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from lakeforge.pipeline.warmup import child_environment, warm_up

# a stand-in for the CLI: records its arguments, environment and the landing it was given, then exits
FAKE = """
import json, os, sys, pathlib
args = sys.argv[1:]
config = args[args.index("--config") + 1]
landing = pathlib.Path(os.path.dirname(config)) / "landing"
files = sorted(str(p.relative_to(landing)) for p in landing.rglob("*.csv"))
pathlib.Path(os.environ["RECORD"]).write_text(json.dumps(
    {"args": args, "config": open(config).read(), "files": files, "lineage": os.environ.get("OPENLINEAGE_DISABLED"),
     "otel": os.environ.get("OTEL_SDK_DISABLED"), "landing_env": os.environ.get("LAKEFORGE_LANDING")}))
if os.environ.get("FAIL"):
    print("lakeforge: SparkUnavailable: cannot reach the server", file=sys.stderr)
    sys.exit(1)
"""


def test_the_child_gets_no_path_remote_or_telemetry_from_the_environment() -> None:
    env = child_environment(
        {"PATH": "/bin", "LAKEFORGE_LANDING": "/real", "LAKEFORGE_LAKEHOUSE": "/lake",
         "LAKEFORGE_SPARK_REMOTE": "sc://x:1", "LAKEFORGE_STATE_DIR": "/state"}
    )  # fmt: skip
    assert env == {
        "PATH": "/bin",
        "LAKEFORGE_STATE_DIR": "/state",  # where the server's token is
        "OPENLINEAGE_DISABLED": "true",
        "OTEL_SDK_DISABLED": "true",
    }


def test_a_warm_up_runs_full_through_the_server_on_a_generated_sample_then_cleans_up(
    tmp_path: Path, monkeypatch
) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE, encoding="utf-8")
    record = tmp_path / "record.json"
    monkeypatch.setenv("RECORD", str(record))
    monkeypatch.setenv("LAKEFORGE_LANDING", str(tmp_path / "real-landing"))
    scratch = tmp_path / "state" / "warm-up"

    done = warm_up("sc://localhost:15002", scratch, cli=[sys.executable, str(fake)])

    assert (done.ok, done.detail) == (True, "")
    seen = json.loads(record.read_text())
    assert seen["args"][0] == "run"
    assert seen["args"][seen["args"].index("--cmd") + 1] == "full"
    assert seen["args"][seen["args"].index("--remote") + 1] == "sc://localhost:15002"
    config = yaml.safe_load(seen["config"])
    assert config["paths"] == {"landing": str(scratch / "landing"), "lakehouse": str(scratch / "lakehouse")}
    assert config["quality"]["data_docs"] is False
    assert seen["files"] == [
        "customers/customers_20260301.csv", "customers/customers_20260302.csv",
        "orders/orders_20260301.csv", "orders/orders_20260302.csv",
    ]  # fmt: skip
    assert (seen["lineage"], seen["otel"], seen["landing_env"]) == ("true", "true", None)
    assert not scratch.exists()


def test_a_failed_warm_up_says_why_and_cleans_up(tmp_path: Path, monkeypatch) -> None:
    fake = tmp_path / "fake.py"
    fake.write_text(FAKE, encoding="utf-8")
    monkeypatch.setenv("RECORD", str(tmp_path / "record.json"))
    monkeypatch.setenv("FAIL", "1")
    scratch = tmp_path / "warm-up"

    done = warm_up("sc://localhost:1", scratch, cli=[sys.executable, str(fake)])

    assert not done.ok
    assert done.detail == "exit 1: lakeforge: SparkUnavailable: cannot reach the server"
    assert not scratch.exists()
