"""The contract registry and catalog: logical table names -> contracts, Spark schemas and locations.

registry = ContractRegistry.default()
schema = registry.get_schema("silver.orders")          # StructType built from the YAML
registry.validate_dataframe_schema(df, "silver.orders") # raises SchemaDriftError on a difference
Catalog(lakehouse, registry).uri("silver.orders")      # <lakehouse>/silver/orders
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from pydantic import ValidationError

from lakeforge import storage
from lakeforge.contracts.models import TableContract
from lakeforge.errors import ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame
    from pyspark.sql.types import DataType, StructType

    from lakeforge.contracts.drift import DriftReport

PACKAGED_CONTRACTS = Path(__file__).parent / "tables"
_DECIMAL = re.compile(r"^decimal\((\d+),(\d+)\)$")


def spark_type(name: str) -> DataType:
    """Map a contract type name to a Spark DataType (no SparkContext needed)."""
    from pyspark.sql import types as T

    simple: dict[str, DataType] = {
        "string": T.StringType(),
        "long": T.LongType(),
        "int": T.IntegerType(),
        "boolean": T.BooleanType(),
        "double": T.DoubleType(),
        "date": T.DateType(),
        "timestamp": T.TimestampType(),
        "array<string>": T.ArrayType(T.StringType(), containsNull=True),
    }
    if name in simple:
        return simple[name]
    match = _DECIMAL.match(name)
    if match:
        return T.DecimalType(int(match.group(1)), int(match.group(2)))
    raise ValueError(f"unknown contract type {name!r}")


class ContractRegistry:
    """Contracts loaded from one folder of `<layer>.<name>.yaml` files."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._contracts: dict[str, TableContract] = {}
        if not directory.is_dir():
            raise ConfigError(f"contracts folder {directory} does not exist")
        for path in sorted(directory.glob("*.yaml")):
            try:
                contract = TableContract.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
            except (ValidationError, yaml.YAMLError) as exc:
                raise ConfigError(f"contract {path} is invalid: {' '.join(str(exc).split())}") from exc
            if f"{contract.table}.yaml" != path.name:
                raise ConfigError(
                    f"contract {path} declares table {contract.table!r}; name the file after it"
                )
            self._contracts[contract.table] = contract

    @staticmethod
    @cache
    def default() -> ContractRegistry:
        return ContractRegistry(PACKAGED_CONTRACTS)

    def names(self) -> list[str]:
        return sorted(self._contracts)

    def get(self, table: str) -> TableContract:
        try:
            return self._contracts[table]
        except KeyError:
            raise ConfigError(f"no contract for table {table!r} in {self.directory}") from None

    def get_schema(self, table: str) -> StructType:
        from pyspark.sql import types as T

        return T.StructType(
            [T.StructField(c.name, spark_type(c.type), c.nullable) for c in self.get(table).columns]
        )

    def validate_dataframe_schema(
        self, df: DataFrame, expected_table: str, fail_on_mismatch: bool = True, allow_additive: bool = False
    ) -> DriftReport:
        """Diff a DataFrame's schema against the table's contract; raise SchemaDriftError if refused."""
        from lakeforge.contracts.drift import diff_schemas

        report = diff_schemas(self.get_schema(expected_table), df.schema, table=expected_table)
        if fail_on_mismatch:
            report.raise_if_refused(allow_additive=allow_additive)
        return report


def get_schema(table: str) -> StructType:
    """The Spark schema of a table from the packaged contracts."""
    return ContractRegistry.default().get_schema(table)


def validate_dataframe_schema(
    df: DataFrame, expected_table: str, fail_on_mismatch: bool = True
) -> DriftReport:
    """Compare `df` with the packaged contract of `expected_table` (see ContractRegistry)."""
    return ContractRegistry.default().validate_dataframe_schema(df, expected_table, fail_on_mismatch)


class Catalog:
    """Logical names to locations: `<layer>.<name>` lives at `<lakehouse>/<layer>/<name>`.

    The lakehouse is a location (lakeforge.storage): a local path or a URI such as `s3a://bucket/lake`,
    joined by string so that a URI is never turned into a local path.
    """

    def __init__(self, lakehouse: str | Path, registry: ContractRegistry) -> None:
        self.lakehouse = storage.location(lakehouse)
        self.registry = registry

    def location(self, table: str) -> str:
        layer, _, name = table.partition(".")
        if not name:
            raise ConfigError(f"table name {table!r} is not <layer>.<name>")
        return storage.join(self.lakehouse, layer, name)

    def uri(self, table: str) -> str:
        """The table's location as the string Spark and delta-rs open."""
        return self.location(table)

    def contract(self, table: str) -> TableContract:
        return self.registry.get(table)
