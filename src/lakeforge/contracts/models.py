"""Contract models: one YAML per table, validated when loaded.

contract = TableContract.model_validate(yaml.safe_load(text))
contract.keys            # ["order_id"]
contract.source_columns  # the landing columns with their rules (bronze contracts)
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WriteMode(StrEnum):
    """How the safe writer publishes a table."""

    APPEND = "append"
    MERGE = "merge"
    REPLACE_WHERE = "replace_where"
    INSERT_ONLY = "insert_only"


class DecimalRule(_Strict):
    pattern: str
    precision: int = Field(ge=1, le=38)
    scale: int = Field(ge=0, le=38)


class Rule(_Strict):
    """One rule of a landing column; exactly one field is set."""

    regex: str | None = None
    date: bool | None = None
    timestamp: bool | None = None
    in_: list[str] | None = Field(default=None, alias="in")
    decimal: DecimalRule | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _exactly_one(self) -> Rule:
        set_fields = [k for k in ("regex", "date", "timestamp", "in_", "decimal") if getattr(self, k)]
        if len(set_fields) != 1:
            raise ValueError(
                f"a rule sets exactly one of regex, date, timestamp, in, decimal; got {set_fields}"
            )
        return self


class SourceSpec(_Strict):
    """How a landing column is checked: required or not, normalisation, and its rule."""

    required: bool
    normalize: Literal["none", "lower", "upper"] = "none"
    rule: Rule | None = None


_TYPE = re.compile(r"^(string|long|int|boolean|double|date|timestamp|decimal\(\d+,\d+\)|array<string>)$")


class ColumnSpec(_Strict):
    name: str
    type: str
    nullable: bool = True
    description: str | None = None
    source: SourceSpec | None = None
    values: list[str] | None = None
    min: float | None = None
    derived_from: str | None = None  # e.g. order_date derived from order_ts

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not _TYPE.match(value):
            raise ValueError(f"unknown type {value!r}")
        return value


class TableContract(_Strict):
    """The contract of one table: grain, columns, types, rules and how it is written."""

    table: str
    version: int = Field(ge=1)
    layer: Literal["bronze", "silver", "gold", "quarantine", "ops"]
    source: str | None = None
    description: str | None = None
    grain: list[str]
    keys: list[str]
    order_by: list[str] = Field(default_factory=list)
    partition_by: list[str] = Field(default_factory=list)
    write_mode: WriteMode
    change_data_feed: bool = False
    # MERGE marks the rows it replaces in a small deletion-vector file instead of rewriting every data file
    # that holds one. Off by default: a 1% delivery into 1M orders took 53 s with them on the three merge
    # tables against 49-51 s without (160 Spark jobs against 125; benchmarks/README.md)
    deletion_vectors: bool = False
    columns: list[ColumnSpec]
    expectations: list[dict[str, object]] = Field(default_factory=list)

    @model_validator(mode="after")
    def _columns_known(self) -> TableContract:
        names = [c.name for c in self.columns]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate column names in {self.table}")
        for group in ("grain", "keys", "order_by", "partition_by"):
            unknown = [c for c in getattr(self, group) if c not in names]
            if unknown:
                raise ValueError(f"{group} names columns not in the contract: {unknown}")
        return self

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def source_columns(self) -> list[ColumnSpec]:
        return [c for c in self.columns if c.source is not None]

    @property
    def required_source_columns(self) -> list[str]:
        return [c.name for c in self.columns if c.source is not None and c.source.required]

    def column(self, name: str) -> ColumnSpec:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.table} has no column {name!r}")
