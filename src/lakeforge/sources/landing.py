"""The landing zone: list a source's files, fingerprint them, check headers, read them into bronze rows.

    files = list_files(landing, "orders")                     # lexical order, with size and SHA-256
    df = read_bronze_batch(spark, files, columns=[...])       # one row per record, raw text

Spark's own CSV reader maps columns by position across files, pads or truncates records with a wrong
number of fields without flagging them and escapes with a backslash (FACTS.md). So records are split
here, per file, with `csvparse` (RFC 4180) inside Spark tasks (`mapInArrow`): each file is read once
by an executor, each record keeps its number and, when malformed, its whole text.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlparse

from lakeforge.errors import ContractViolation
from lakeforge.sources.csvparse import TRIM_CHARS, decode, parse_csv_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EXTRA_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class LandingFile:
    source: str
    rel_path: str  # relative to the landing zone, forward slashes: "orders/orders_20260301.csv"
    path: Path
    size: int
    sha256: str
    header: tuple[str, ...] | None  # normalised; None for a zero-byte file


def _fingerprint(path: Path, rel_path: str) -> tuple[int, str, tuple[str, ...] | None]:
    data = path.read_bytes()
    try:
        text = decode(data)
    except UnicodeDecodeError as exc:
        raise ContractViolation(
            f"{rel_path} is not UTF-8: byte {exc.start} ({data[exc.start : exc.start + 1]!r}) cannot be decoded",
            hint="re-export the file as UTF-8; nothing from it was loaded",
        ) from exc
    header, _ = parse_csv_text(text)
    return len(data), hashlib.sha256(data).hexdigest(), tuple(header) if header is not None else None


def list_files(landing: Path, source: str) -> list[LandingFile]:
    """Every `<landing>/<source>/*.csv`, in lexical order of file name, fingerprinted."""
    folder = landing / source
    if not folder.is_dir():
        return []
    files = []
    for path in sorted(
        (p for p in folder.iterdir() if p.is_file() and p.name.endswith(".csv")), key=lambda p: p.name
    ):
        rel = f"{source}/{path.name}"
        size, sha, header = _fingerprint(path, rel)
        files.append(LandingFile(source, rel, path, size, sha, header))
    return files


def check_header_names(file: LandingFile, reserved: set[str]) -> None:
    """Refuse headers bronze cannot store faithfully: duplicates, empty or unsafe names."""
    if file.header is None:
        return
    seen: set[str] = set()
    for name in file.header:
        if name in seen:
            raise ContractViolation(f"{file.rel_path}: column '{name}' appears twice in the header")
        seen.add(name)
        if name in reserved:
            raise ContractViolation(
                f"{file.rel_path}: header column '{name}' clashes with a lineage column of bronze",
                hint="rename the column in the source export",
            )
        if not EXTRA_COLUMN_NAME.match(name):
            raise ContractViolation(
                f"{file.rel_path}: header column {name!r} is not a valid column name "
                "(lower-case letters, digits and _ , starting with a letter)",
                hint="fix the header row of the file",
            )


def _parser(files: dict[str, tuple[str, str, tuple[str, ...] | None]], columns: list[str]):  # type: ignore[no-untyped-def]
    """The mapInArrow function: binaryFile rows (path, content) -> one Arrow row per CSV record."""

    def parse(batches: Iterator) -> Iterator:  # type: ignore[type-arg]
        import pyarrow as pa

        width = len(columns)
        for batch in batches:
            paths = batch.column("path").to_pylist()
            contents = batch.column("content").to_pylist()
            for uri, content in zip(paths, contents, strict=True):
                local = unquote(urlparse(uri).path)
                rel, sha, header = files[local]
                if hashlib.sha256(content).hexdigest() != sha:
                    raise RuntimeError(f"{rel} changed while it was being ingested")
                values: list[list[str | None]] = [[] for _ in range(width)]
                raw_lines: list[str | None] = []
                malformed: list[bool] = []
                numbers: list[int] = []
                parsed_header, records = parse_csv_text(decode(content))
                positions = [(columns.index(n) if n in columns else -1) for n in (parsed_header or [])]
                missing = [i for i in range(width) if i not in positions]
                for record in records:
                    numbers.append(record.line_number)
                    if record.fields is None:
                        malformed.append(True)
                        raw_lines.append(record.raw)
                        for col in values:
                            col.append(None)
                    else:
                        malformed.append(False)
                        raw_lines.append(None)
                        for pos, value in zip(positions, record.fields, strict=True):
                            values[pos].append(value)
                        for i in missing:
                            values[i].append(None)
                n = len(numbers)
                arrays = [pa.array(v, pa.string()) for v in values]
                arrays += [
                    pa.array(raw_lines, pa.string()),
                    pa.array(malformed, pa.bool_()),
                    pa.array([rel] * n, pa.string()),
                    pa.array(numbers, pa.int64()),
                ]
                names = [*columns, "_raw_line", "_malformed", "_source_file", "_line_number"]
                yield pa.RecordBatch.from_arrays(arrays, names=names)

    return parse


def read_bronze_batch(spark: SparkSession, files: list[LandingFile], columns: list[str]) -> DataFrame:
    """One row per data record of `files`: `columns` as raw text (null where a file lacks one), plus
    `_raw_line`, `_malformed`, `_source_file`, `_line_number`. Files without records add no rows."""
    from pyspark.sql import types as T

    schema = T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [
            T.StructField("_raw_line", T.StringType()),
            T.StructField("_malformed", T.BooleanType(), False),
            T.StructField("_source_file", T.StringType(), False),
            T.StructField("_line_number", T.LongType(), False),
        ]
    )
    with_rows = [f for f in files if f.header is not None]
    if not with_rows:
        return spark.createDataFrame([], schema)
    lookup = {str(f.path.absolute()): (f.rel_path, f.sha256, f.header) for f in with_rows}
    raw = spark.read.format("binaryFile").load([str(f.path.absolute()) for f in with_rows])
    raw = raw.select("path", "content").repartition(min(len(with_rows), 64))
    return raw.mapInArrow(_parser(lookup, columns), schema)


__all__ = ["TRIM_CHARS", "LandingFile", "check_header_names", "list_files", "read_bronze_batch"]
