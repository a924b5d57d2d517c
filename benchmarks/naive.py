"""Naive baseline: the medallion transforms as one plain PySpark script, whole tables overwritten.

    .venv/bin/python benchmarks/naive.py --config /tmp/lakeforge-bench/scale1/naive.yaml

What a competent engineer would write without lakeforge: read every landing CSV of a source in one
`spark.read.csv` (all strings, no inferSchema), write bronze, apply lakeforge's own pure transforms
(`lakeforge.transforms.silver`, `lakeforge.transforms.gold`) and overwrite silver and gold. No gates, no
ledger, no reconciliation, no quarantine table, no change data feed, no merges. `bench.py` divides the
pipeline's full rebuild by this script's wall time (measure 3).

Sources and tables come from the contract registry: every bronze contract with a `source`, its
`silver.<source>`, and the gold tables listed in `_gold_builds` below (the one place that names tables). Locations
are the pipeline's (`<lakehouse>/<layer>/<name>`), under the config's `paths.lakehouse`; use a lakehouse
of its own, this script overwrites.

Spark's CSV reader maps columns by position across the files of one read, and the sample files list
their columns in different orders (FACTS.md). So each file's header is read here in Python (one line per
file), the read uses positional all-string columns `_c0..`, and each contract column is taken from the
position its file's header gives it (`_metadata.file_name`). `_malformed` is always false (Spark's
reader flags nothing) and `_line_number` is `monotonically_increasing_id()`, which keeps the order of
the records within a file: enough for `latest_by`'s tie-break, not the pipeline's line numbers.

Prints one JSON line: seconds per layer.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

    from lakeforge.contracts.models import TableContract

TRIM = " \t\r\n"
RUN_ID = "naive"


# --- the one hand-written place: the gold tables and the lakeforge transforms that build them -------------
# Keep in step with the gold contracts (main() refuses to run if a gold contract is missing here).
def _gold_builds() -> dict[str, Callable[[dict[str, DataFrame]], DataFrame]]:
    from lakeforge.transforms.gold import customer_ltv, daily_revenue

    return {
        "gold.daily_revenue": lambda silver: daily_revenue(silver["silver.orders"]),
        "gold.customer_ltv": lambda silver: customer_ltv(silver["silver.customers"], silver["silver.orders"]),
    }


# -----------------------------------------------------------------------------------------------------------


def read_header(path: Path) -> list[str]:
    """The file's header names, trimmed and lower-cased as lakeforge matches them (BOM dropped)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        first = next(csv.reader(handle), [])
    return [name.strip(TRIM).lower() for name in first]


def positions(headers: dict[str, list[str]], columns: list[str]) -> dict[str, dict[int, list[str]]]:
    """column -> {position in the file: [file names]}; a file without the column is in no list.

    >>> positions({"a.csv": ["x", "y"], "b.csv": ["y", "x"]}, ["x"])
    {'x': {0: ['a.csv'], 1: ['b.csv']}}
    """
    out: dict[str, dict[int, list[str]]] = {c: {} for c in columns}
    for name in sorted(headers):
        header = headers[name]
        for column in columns:
            if column in header:
                out[column].setdefault(header.index(column), []).append(name)
    return out


def _by_position(file: Column, where: dict[int, list[str]], n_files: int) -> Column:
    from pyspark.sql import functions as F

    if not where:
        return F.lit(None).cast("string")
    if len(where) == 1 and len(next(iter(where.values()))) == n_files:
        return F.col(f"_c{next(iter(where))}")
    expr: Column | None = None
    for pos, names in sorted(where.items()):
        cond = file.isin(names)
        expr = F.when(cond, F.col(f"_c{pos}")) if expr is None else expr.when(cond, F.col(f"_c{pos}"))
    assert expr is not None
    return expr


def read_bronze(
    spark: SparkSession, landing: Path, contract: TableContract, ingested_at: datetime
) -> DataFrame:
    """Every record of `<landing>/<source>/*.csv` as the bronze contract's columns, values as text."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    source = contract.source
    assert source is not None
    files = sorted((landing / source).glob("*.csv"))
    if not files:
        sys.exit(f"naive: no CSV files in {landing / source}")
    headers = {p.name: read_header(p) for p in files}
    width = max(len(h) for h in headers.values())
    schema = T.StructType([T.StructField(f"_c{i}", T.StringType()) for i in range(width)])
    raw = spark.read.csv(
        [str(p) for p in files], schema=schema, header=True, multiLine=True, escape='"', mode="PERMISSIVE"
    )
    file = F.col("_metadata.file_name")
    data_columns = [c.name for c in contract.source_columns]
    values = {
        c: _by_position(file, where, len(files)) for c, where in positions(headers, data_columns).items()
    }
    values |= {
        "_raw_line": F.lit(None),
        "_malformed": F.lit(False),
        "_source_file": F.concat(F.lit(f"{source}/"), file),
        "_line_number": F.monotonically_increasing_id(),
        "_ingested_at": F.lit(ingested_at),
        "_run_id": F.lit(RUN_ID),
        "ingest_date": F.lit(ingested_at.date()),
    }
    unknown = [c.name for c in contract.columns if c.name not in values]
    if unknown:
        sys.exit(f"naive: {contract.table} has columns this script does not fill: {unknown}; update naive.py")
    return raw.select(*[values[c.name].cast(c.type).alias(c.name) for c in contract.columns])


def write(df: DataFrame, location: Path, contract: TableContract) -> None:
    writer = df.write.format("delta").mode("overwrite")
    if contract.partition_by:
        writer = writer.partitionBy(*contract.partition_by)
    writer.save(str(location))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--env", default="local")
    args = parser.parse_args()

    # as the CLI does before anything else
    os.environ["TZ"] = "UTC"
    time.tzset()

    from lakeforge.config import load_settings
    from lakeforge.contracts.registry import Catalog, ContractRegistry
    from lakeforge.spark import build_spark
    from lakeforge.transforms.silver import latest_by, typed, valid_rows, with_reasons

    settings = load_settings(args.config, env=args.env)
    registry = (
        ContractRegistry(settings.contracts_dir) if settings.contracts_dir else ContractRegistry.default()
    )
    catalog = Catalog(settings.paths.lakehouse, registry)
    bronze = [registry.get(t) for t in registry.names() if registry.get(t).layer == "bronze"]
    bronze = [c for c in bronze if c.source is not None]
    gold = _gold_builds()
    missing = sorted({t for t in registry.names() if registry.get(t).layer == "gold"} - set(gold))
    if missing:
        sys.exit(f"naive: no build for the gold tables {missing}; add them to _gold_builds() in {__file__}")

    seconds: dict[str, float] = {}
    started = time.monotonic()
    spark = build_spark(settings.spark)
    seconds["session"] = time.monotonic() - started
    ingested_at = datetime.now(UTC).replace(microsecond=0)

    mark = time.monotonic()
    for contract in bronze:
        batch = read_bronze(spark, Path(settings.paths.landing), contract, ingested_at)
        write(batch, catalog.location(contract.table), contract)
    seconds["bronze"] = time.monotonic() - mark

    mark = time.monotonic()
    silver: dict[str, DataFrame] = {}
    for contract in bronze:
        target = registry.get(f"silver.{contract.source}")
        current = (
            spark.read.format("delta")
            .load(str(catalog.location(contract.table)))
            .transform(with_reasons(contract))
            .transform(valid_rows)
            .transform(typed(contract, target))
            .transform(latest_by(target.keys, target.order_by))
        )
        write(current, catalog.location(target.table), target)
        silver[target.table] = spark.read.format("delta").load(str(catalog.location(target.table)))
    seconds["silver"] = time.monotonic() - mark

    mark = time.monotonic()
    for table, build in gold.items():
        write(build(silver), catalog.location(table), registry.get(table))
    seconds["gold"] = time.monotonic() - mark

    seconds["total"] = time.monotonic() - started
    print(json.dumps({"seconds": {k: round(v, 3) for k, v in seconds.items()}}), flush=True)


if __name__ == "__main__":
    main()
