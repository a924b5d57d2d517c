"""Check that a lakehouse holds every published table of the pipeline as a non-empty Delta table.

Run with the pipeline's environment, after an end-to-end run::

    .venv/bin/python scripts/check_tables.py /tmp/lakehouse [--config config/local.yaml]

The tables come from the flow graph of the config (its contracts and `flows:`), not from a list here.
Prints one line per table (version, rows, columns) and exits 1 naming every table that is missing,
not a Delta table, or empty. Reads the Delta log only (delta-rs metadata): no Spark, no table scan.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from lakeforge import deltalog
from lakeforge.config import load_settings
from lakeforge.flows import load_graph


def check(lakehouse: Path, tables: list[str]) -> list[str]:
    """Return one problem per bad table; an empty list means every table is there with rows."""
    from deltalake import DeltaTable

    problems = []
    for name in tables:
        path = lakehouse.joinpath(*name.split(".", 1))
        version = deltalog.version(str(path))
        if version is None:
            problems.append(f"{name}: no Delta table at {path}")
            continue
        rows = deltalog.row_count(str(path)) or 0
        columns = [field.name for field in DeltaTable(str(path)).schema().fields]
        print(f"{name}: version {version}, {rows} rows, columns {', '.join(columns)}")
        if rows == 0:
            problems.append(f"{name}: Delta table at {path} has no rows (version {version})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("lakehouse", type=Path, help="the lakehouse directory (LAKEFORGE_LAKEHOUSE)")
    parser.add_argument("--config", type=Path, default=Path("config/local.yaml"))
    parser.add_argument("--env", default="local")
    args = parser.parse_args(argv)
    tables = load_graph(load_settings(args.config, env=args.env)).published()
    problems = check(args.lakehouse, tables)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if not problems:
        print(f"OK: {len(tables)} non-empty Delta tables under {args.lakehouse}")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1 if problems else 0)  # delta-rs may abort the interpreter at exit (FACTS.md)


if __name__ == "__main__":
    main()
