"""The floor of any Spark + Delta process here: start the pipeline's own session, write a 1-row table, exit.

    .venv/bin/python benchmarks/floor.py --config /tmp/lakeforge-bench/sample/config.yaml --table DIR

`bench.py` times this whole process (start to exit) and divides by it or subtracts it. The session is the
one the pipeline builds (`lakeforge.spark.build_spark` with the `spark:` settings of the same config file,
its JIT chosen for a run that reads nothing), so the floor moves when the session does. `--table` must
not exist: every floor creates a new table.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, required=True, help="the config file the pipeline run uses")
    parser.add_argument("--env", default="local")
    parser.add_argument("--table", type=Path, required=True, help="where to create the 1-row Delta table")
    args = parser.parse_args()

    # as the CLI does before anything else
    os.environ["TZ"] = "UTC"
    time.tzset()

    from lakeforge.config import load_settings
    from lakeforge.spark import build_spark

    settings = load_settings(args.config, env=args.env)
    # it reads nothing: `spark.jit` chooses for it as it would for a run reading 0 bytes
    spark = build_spark(settings.spark, input_bytes=0)
    # default save mode (error if the path exists): every floor does the same work, a new table
    spark.range(1).write.format("delta").save(str(args.table.absolute()))
    # no spark.stop(): the CLI does not stop its session either, the process exit ends the JVM


if __name__ == "__main__":
    main()
