"""Benchmark: full rebuild vs incremental runs that add ~10% and ~1% of the data (issue 3).

    .venv/bin/python benchmarks/incremental.py --scale 1 --out /tmp/lakeforge-bench

Generates `--scale` of data over 100 daily files per source (each file ~1% of the data), then times,
with the real CLI (one process per run, as in production):
  full     one run over all 100 files into an empty lakehouse
  +10%     a lakehouse holding files 1-89 gets files 90-99
  +1%      the same lakehouse gets file 100
and prints one JSON line with the wall times, the pipeline's own durations and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

CLI = Path(sys.executable).parent / "lakeforge"


def config(path: Path, landing: Path, lake: Path) -> Path:
    path.write_text(
        f"paths:\n  landing: {landing}\n  lakehouse: {lake}\n"
        "spark:\n  master: local[*]\n  shuffle_partitions: 4\n  driver_memory: 6g\n"
        "quality:\n  max_quarantine_ratio: 0.05\n  data_docs: true\n"
        "environments:\n  local: {}\n"
    )
    return path


def run(cfg: Path) -> dict[str, float]:
    started = time.monotonic()
    out = subprocess.run(
        [str(CLI), "run", "--config", str(cfg), "--cmd", "full", "--json"],
        capture_output=True,
        text=True,
        env={k: v for k, v in os.environ.items() if not k.startswith("LAKEFORGE_")},
        check=False,
    )
    wall = time.monotonic() - started
    if out.returncode != 0:
        sys.exit(f"run failed ({out.returncode}): {out.stderr.strip().splitlines()[-1]}")
    report = json.loads(out.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 1), **{f"{k}_s": v for k, v in report["stage_seconds"].items()}}


def deliver(src: Path, dst: Path, files: list[str]) -> None:
    for source in ("customers", "orders"):
        (dst / source).mkdir(parents=True, exist_ok=True)
    for name in files:
        source = name.split("_")[0]
        shutil.copy(src / source / name, dst / source / name)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--out", type=Path, default=Path("/tmp/lakeforge-bench"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    generated = args.out / "generated"
    subprocess.run(
        [
            str(CLI),
            "generate",
            "--scale",
            str(args.scale),
            "--seed",
            "1",
            "--files",
            "100",
            "--out",
            str(generated),
        ],
        check=True,
        capture_output=True,
    )
    names = {s: sorted(p.name for p in (generated / s).glob("*.csv")) for s in ("customers", "orders")}
    day = lambda i: [names["customers"][i], names["orders"][i]]  # noqa: E731

    full_landing = args.out / "full_landing"
    deliver(generated, full_landing, [n for i in range(100) for n in day(i)])
    full = run(config(args.out / "full.yaml", full_landing, args.out / "full_lake"))

    inc_landing = args.out / "inc_landing"
    cfg = config(args.out / "inc.yaml", inc_landing, args.out / "inc_lake")
    deliver(generated, inc_landing, [n for i in range(89) for n in day(i)])
    run(cfg)  # setup, not timed
    deliver(generated, inc_landing, [n for i in range(89, 99) for n in day(i)])
    ten = run(cfg)
    deliver(generated, inc_landing, day(99))
    one = run(cfg)
    print(
        json.dumps(
            {
                "scale": args.scale,
                "full": full,
                "plus_10pct": ten,
                "plus_1pct": one,
                "ratio_10pct": round(ten["wall_s"] / full["wall_s"], 3),
                "ratio_1pct": round(one["wall_s"] / full["wall_s"], 3),
            }
        )
    )


if __name__ == "__main__":
    main()
