"""Check that a lakehouse holds the six medallion tables as non-empty Delta tables.

Run with the pipeline's environment (it needs ``deltalake``), after an end-to-end run::

    .venv/bin/python scripts/check_tables.py /tmp/lakehouse

Prints one line per table (version, rows, columns) and exits 1 naming every table that is
missing, not a Delta table, or empty.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deltalake import DeltaTable, QueryBuilder

TABLES = (
    "bronze/customers",
    "bronze/orders",
    "silver/customers",
    "silver/orders",
    "gold/daily_revenue",
    "gold/customer_ltv",
)


def row_count(table: DeltaTable) -> int:
    """Exact rows of the current version (a scan through DataFusion honours deletion vectors)."""
    result = QueryBuilder().register("t", table).execute("SELECT count(*) AS n FROM t").read_all()
    return int(result.column("n")[0].as_py())


def check(lakehouse: Path, tables: tuple[str, ...] = TABLES) -> list[str]:
    """Return one problem per bad table; an empty list means every table is there with rows."""
    problems = []
    for name in tables:
        path = lakehouse / name
        if not DeltaTable.is_deltatable(str(path)):
            problems.append(f"{name}: no Delta table at {path}")
            continue
        table = DeltaTable(str(path))
        rows = row_count(table)
        columns = [field.name for field in table.schema().fields]
        print(f"{name}: version {table.version()}, {rows} rows, columns {', '.join(columns)}")
        if rows == 0:
            problems.append(f"{name}: Delta table at {path} has no rows (version {table.version()})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lakehouse", type=Path, help="the lakehouse directory (LAKEFORGE_LAKEHOUSE)")
    args = parser.parse_args(argv)
    problems = check(args.lakehouse)
    for problem in problems:
        print(f"FAIL {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"OK: {len(TABLES)} non-empty Delta tables under {args.lakehouse}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
