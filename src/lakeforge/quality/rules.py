"""Row rules as Column expressions: each returns the reason when a row fails and null when it passes.

    reasons = row_reasons(contract)          # one Column: array<string> of every reason, sorted
    checked = bronze_rows.withColumn("_reasons", reasons)

Built from the `source:` part of a bronze contract (SPEC §1): a required column that is empty after
trimming gives `missing:<col>` only; a present value that breaks its rule gives `invalid:<col>`; a
malformed record gives `malformed_line` and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from lakeforge.contracts.models import ColumnSpec, Rule, TableContract

if TYPE_CHECKING:
    from pyspark.sql import Column

TRIM_CHARS = " \t\r\n"
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss'Z'"
TIMESTAMP_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"
DATE_FORMAT = "yyyy-MM-dd"
DATE_SHAPE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
MALFORMED = "malformed_line"


def java_full_match(pattern: str) -> str:
    """Make a `^...$` pattern end at the very end of the value in Java, as it does in Python.

    Java's `$` also matches before a final line terminator (\\n, \\u2028, ...); `\\z` does not.
    """
    if pattern.endswith("$") and not pattern.endswith("\\$"):
        return pattern[:-1] + "\\z"
    return pattern


def trimmed(name: str) -> Column:
    """The value trimmed of spaces, tabs, CR and LF; empty becomes null."""
    from pyspark.sql import functions as F

    value = F.trim(F.col(name), F.lit(TRIM_CHARS))
    return F.when(value == "", F.lit(None)).otherwise(value)


def normalized(spec: ColumnSpec) -> Column:
    """The trimmed value with the column's case normalisation (email lower, country upper, ...)."""
    from pyspark.sql import functions as F

    value = trimmed(spec.name)
    assert spec.source is not None
    if spec.source.normalize == "lower":
        return F.lower(value)
    if spec.source.normalize == "upper":
        return F.upper(value)
    return value


def amount_cents(value: Column) -> Column:
    """A `^[0-9]+(\\.[0-9]+)?$` text as whole cents, rounded half up: `10.005` -> 1001 (decimal(38,0)).

    Exact for any length: only the integer part, two decimals and the third decimal are used.
    Null when the integer part has more than 35 digits (far beyond any decimal(12,2)).
    """
    from pyspark.sql import functions as F

    integer = F.regexp_extract(value, r"^([0-9]+)", 1)
    fraction = F.regexp_extract(value, r"\.([0-9]+)$", 1)
    two = F.rpad(F.substring(fraction, 1, 2), 2, "0")
    third = F.substring(fraction, 3, 1)
    digits = F.ltrim(F.concat(integer, two), F.lit("0"))
    base = F.when(digits == "", F.lit("0")).otherwise(digits)
    cents = F.when(F.length(base) <= 37, base.try_cast("decimal(38,0)"))
    return cents + F.when(third >= "5", F.lit(1)).otherwise(F.lit(0))


def rule_passes(rule: Rule, value: Column) -> Column:
    """True when a present, normalised value satisfies the rule."""
    from pyspark.sql import functions as F

    if rule.regex is not None:
        return F.regexp_like(value, F.lit(java_full_match(rule.regex)))
    if rule.date:
        # year 0000 parses in Spark's proleptic calendar but is no real date (there is no year 0)
        parsed = F.try_to_date(value, DATE_FORMAT)
        return F.regexp_like(value, F.lit(java_full_match(DATE_SHAPE))) & F.coalesce(
            F.year(parsed) >= 1, F.lit(False)
        )
    if rule.timestamp:
        stamp = F.try_to_timestamp(value, F.lit(TIMESTAMP_FORMAT))
        return F.regexp_like(value, F.lit(java_full_match(TIMESTAMP_SHAPE))) & F.coalesce(
            F.year(stamp) >= 1, F.lit(False)
        )
    if rule.in_ is not None:
        return value.isin(rule.in_)
    if rule.decimal is not None:
        limit = 10 ** (rule.decimal.precision)  # in cents when scale is 2: 10^12 cents = 10^10 units
        if rule.decimal.scale != 2:
            raise NotImplementedError("decimal rules round to 2 places (SPEC §1); other scales are not used")
        cents = amount_cents(value)
        return F.regexp_like(value, F.lit(java_full_match(rule.decimal.pattern))) & F.coalesce(
            cents < F.lit(limit), F.lit(False)
        )
    raise AssertionError(f"unhandled rule {rule}")


def column_reason(spec: ColumnSpec) -> Column:
    """`missing:<col>` / `invalid:<col>` / null for one landing column."""
    from pyspark.sql import functions as F

    assert spec.source is not None
    value = normalized(spec)
    reason = F.lit(None).cast("string")
    if spec.source.rule is not None:
        reason = F.when(
            value.isNotNull() & ~rule_passes(spec.source.rule, value), F.lit(f"invalid:{spec.name}")
        )
    if spec.source.required:
        reason = F.when(value.isNull(), F.lit(f"missing:{spec.name}")).otherwise(reason)
    return reason


def row_reasons(contract: TableContract) -> Column:
    """array<string> of every reason a bronze row fails, sorted; empty when the row is valid."""
    from pyspark.sql import functions as F

    per_column = F.array(*[column_reason(spec) for spec in contract.source_columns])
    reasons = F.array_sort(F.filter(per_column, lambda r: r.isNotNull()))
    return F.when(F.col("_malformed"), F.array(F.lit(MALFORMED))).otherwise(reasons)
