"""Warm a Spark Connect server that was just started: one small run of the reference pipeline through it.

    outcome = warm_up("sc://localhost:15002", scratch=state_folder / "warm-up")
    outcome.ok, outcome.seconds

A server's first run pays for what its JVM has not loaded, planned or compiled yet: measured here, the
sample's `--cmd ingest` took 9.5 s as the first task of a DAG on a fresh server and 2.8 s on a warm one.
`lakeforge server start` therefore runs this before it returns (unless `--no-warm-up`), so that the
stack comes up warm and the first DAG run of the day does not pay it.

The run is the CLI itself (`lakeforge run --cmd full --remote URL`, the very path of a DAG task), in a
child process, on a small generated sample (2,000 orders), into a scratch lakehouse under the server's
state folder, which is deleted afterwards. The child gets no path, remote or telemetry override from
the environment (its config names everything, and its events are not a real run's). A failed warm-up is
reported, never raised: the server works, only colder.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SCALE = 0.002  # 2,000 orders, 200 customers: every step of every stage, little data
SEED = 1
FILES = 2
TIMEOUT_S = 600.0
# what the child must not take from the environment: paths and server (its config names them), and
# telemetry (a warm-up is not a run anyone should see in lineage or traces)
DROPPED = ("LAKEFORGE_LANDING", "LAKEFORGE_LAKEHOUSE", "LAKEFORGE_SPARK_REMOTE", "LAKEFORGE_SPARK_MASTER")


@dataclass(frozen=True)
class WarmUp:
    ok: bool
    seconds: float
    detail: str  # the run's last error line when it failed, else ""


def _config(scratch: Path) -> Path:
    config = scratch / "warm-up.yaml"
    config.write_text(
        "paths:\n"
        f"  landing: {str(scratch / 'landing')!r}\n"
        f"  lakehouse: {str(scratch / 'lakehouse')!r}\n"
        "quality:\n"
        "  data_docs: false\n"
        "environments:\n"
        "  warm-up: {}\n",
        encoding="utf-8",
    )
    return config


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in (os.environ if environ is None else environ).items() if k not in DROPPED}
    env["OPENLINEAGE_DISABLED"] = "true"
    env["OTEL_SDK_DISABLED"] = "true"
    return env


def warm_up(url: str, scratch: Path, timeout_s: float = TIMEOUT_S, cli: list[str] | None = None) -> WarmUp:
    """Run the sample pipeline once through the server at `url`; the scratch folder is removed after.
    `cli`: the command that is `lakeforge` (default: this interpreter's)."""
    from lakeforge.sample.generator import generate

    started = time.monotonic()
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    try:
        generate(scratch / "landing", scale=SCALE, seed=SEED, files_per_source=FILES)
        cmd = [
            *(cli or [sys.executable, "-m", "lakeforge"]), "run", "--config", str(_config(scratch)),
            "--env", "warm-up", "--cmd", "full", "--remote", url,
        ]  # fmt: skip
        try:
            done = subprocess.run(  # noqa: S603 - our own CLI, argv list, no shell
                cmd,
                env=child_environment(),
                cwd=scratch,
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return WarmUp(False, time.monotonic() - started, f"no result within {timeout_s:.0f} s")
        seconds = time.monotonic() - started
        if done.returncode != 0:
            lines = [line for line in done.stderr.splitlines() if line.strip()]
            return WarmUp(False, seconds, f"exit {done.returncode}: {lines[-1] if lines else ''}")
        return WarmUp(True, seconds, "")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
