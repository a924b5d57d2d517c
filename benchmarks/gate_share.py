"""Benchmark: the quality gate's share of the transform stage's wall time (issue 4; goal <= 15%).

    .venv/bin/python benchmarks/gate_share.py --scale 1 --out /tmp/lakeforge-gate

Generates `--scale` of sample data, runs `lakeforge run --cmd ingest`, then `--cmd transform --json`,
and divides the time of the transform's gates (the GE suites of the silver batches and the quarantine
ratio; each gate times only its own work, the batch is cached before it) by the stage's wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

CLI = Path(sys.executable).parent / "lakeforge"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lakeforge-gate"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    landing, lake = args.out / "landing", args.out / "lake"
    subprocess.run([str(CLI), "generate", "--scale", str(args.scale), "--out", str(landing)], check=True)
    cfg = args.out / "bench.yaml"
    cfg.write_text(
        f"paths:\n  landing: {landing}\n  lakehouse: {lake}\n"
        "spark:\n  master: local[*]\n  shuffle_partitions: 4\n  driver_memory: 6g\n"
        "environments:\n  local: {}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEFORGE_")}
    base = [str(CLI), "run", "--config", str(cfg), "--json", "--cmd"]
    subprocess.run([*base, "ingest"], check=True, env=env, capture_output=True)
    out = subprocess.run([*base, "transform"], check=True, env=env, capture_output=True, text=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    stage = report["stage_seconds"]["transform"]
    gates = {g["suite"]: g["duration_s"] for g in report["gates"]}
    total = sum(gates.values())
    print(
        json.dumps(
            {
                "scale": args.scale,
                "transform_s": stage,
                "gates_s": gates,
                "gate_share": round(total / stage, 3),
            }
        )
    )


if __name__ == "__main__":
    main()
