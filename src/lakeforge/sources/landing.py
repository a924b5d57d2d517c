"""The landing zone: list a source's files, fingerprint them, check headers, read them into bronze rows.

    for c in candidates(landing, "orders"): ...     # lexical order, from a directory listing (stat only)
    f = fingerprint(c)                               # SHA-256 and header, streamed
    df = read_bronze_batch(spark, files, columns=[...])       # one row per record, raw text

Which files count (SPEC §1): regular `*.csv` files directly under `<landing>/<source>/`; names starting
with `.` or `_` are still being written (ignored); symbolic links are skipped with a warning that names
the link and nothing of its target; a zero-byte file has not arrived yet; a file modified less than
`settle_seconds` ago is left for a later run. A file already in the ledger with the same size and
modification time is recognised without reading it.

The landing zone is a location (lakeforge.storage): a local one is listed with `os.scandir`, any other
(`s3a://bucket/landing`) with pyarrow's file system, where no links exist and the other rules hold the
same. A file's `path` is its location: Spark reads it as given.

Spark's own CSV reader maps columns by position across files, pads or truncates records with a wrong
number of fields without flagging them and escapes with a backslash (FACTS.md). So records are split
here, per file, with `csvparse` (RFC 4180) inside Spark tasks (`mapInArrow`): each file is read once
by an executor, each record keeps its number and, when malformed, its whole text.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from lakeforge import storage
from lakeforge.errors import ContractViolation
from lakeforge.sources.csvparse import TRIM_CHARS, decode, parse_csv_text

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

EXTRA_COLUMN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
CHUNK = 1 << 20


@dataclass(frozen=True)
class Candidate:
    """A landing file as the directory listing shows it (nothing read yet)."""

    source: str
    rel_path: str  # relative to the landing zone, forward slashes: "orders/orders_20260301.csv"
    path: str  # its location: an absolute path, or a URI under a landing zone given as one
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class LandingFile:
    source: str
    rel_path: str
    path: str
    size: int
    sha256: str
    header: tuple[str, ...] | None  # normalised; None for a file without a header row
    mtime_ns: int = 0


@dataclass
class Listing:
    files: list[Candidate]
    warnings: list[str]


def candidates(
    landing: str | Path, source: str, settle_seconds: float = 0.0, now: float | None = None
) -> Listing:
    """Every file of `<landing>/<source>/` that counts and has arrived, in lexical order of file name."""
    now = time.time() if now is None else now
    if not storage.is_local(landing):
        return _remote_candidates(storage.location(landing), source, settle_seconds, now)
    folder = storage.local_path(landing) / source
    # under a file: URI the files are named by URI too (Spark gets them as given)
    base = storage.join(landing, source) if storage.scheme(landing) else None
    listing = Listing([], [])
    if not folder.is_dir():
        return listing
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        name = entry.name
        if not name.endswith(".csv") or name.startswith((".", "_")):
            continue
        rel = f"{source}/{name}"
        if entry.is_symlink():
            listing.warnings.append(f"{rel} is a symbolic link: skipped (links are never followed)")
            continue
        if not entry.is_file(follow_symlinks=False):
            continue
        stat = entry.stat(follow_symlinks=False)
        if not _arrived(listing, rel, stat.st_size, stat.st_mtime, settle_seconds, now):
            continue
        path = entry.path if base is None else f"{base}/{name}"
        listing.files.append(Candidate(source, rel, path, stat.st_size, stat.st_mtime_ns))
    return listing


def _arrived(listing: Listing, rel: str, size: int, mtime: float, settle_seconds: float, now: float) -> bool:
    """Whether a listed file counts now; if not, the warning that says why is added to `listing`."""
    if size == 0:
        listing.warnings.append(f"{rel} is empty (0 bytes): not arrived yet, left for a later run")
        return False
    if settle_seconds and now - mtime < settle_seconds:
        listing.warnings.append(
            f"{rel} was modified less than {settle_seconds:g} s ago: left for a later run"
        )
        return False
    return True


def _remote_candidates(landing: str, source: str, settle_seconds: float, now: float) -> Listing:
    """`candidates` on an object store or any non-local file system (pyarrow's file system)."""
    from pyarrow import fs as pafs

    filesystem, folder = storage.arrow_fs(storage.join(landing, source))
    listing = Listing([], [])
    infos = filesystem.get_file_info(pafs.FileSelector(folder, allow_not_found=True, recursive=False))
    for info in sorted(infos, key=lambda i: i.base_name):
        name = info.base_name
        if info.type != pafs.FileType.File or not name.endswith(".csv") or name.startswith((".", "_")):
            continue
        rel = f"{source}/{name}"
        size, mtime_ns = int(info.size or 0), int(info.mtime_ns or 0)
        if not _arrived(listing, rel, size, mtime_ns / 1e9, settle_seconds, now):
            continue
        listing.files.append(Candidate(source, rel, storage.join(landing, source, name), size, mtime_ns))
    return listing


@contextmanager
def _open_binary(loc: str) -> Iterator[IO[bytes]]:
    """A landing file opened for reading: a local one with `open`, another through pyarrow."""
    if storage.is_local(loc):
        with open(storage.local_path(loc), "rb") as fh:
            yield fh
        return
    filesystem, path = storage.arrow_fs(loc)
    with filesystem.open_input_stream(path) as stream:
        yield stream  # type: ignore[misc]


def _read_bytes(loc: str) -> bytes:
    with _open_binary(loc) as fh:
        return fh.read()


def fingerprint(c: Candidate, max_columns: int = 0, max_bytes: int = 0) -> LandingFile:
    """Hash the file and read its header, streaming (the driver holds one chunk at a time).

    Refuses (exit 4, naming the file) a file over `max_bytes`, a header over `max_columns` and a header
    row longer than the first MiB, before reading further: nothing about a file bounds its size.
    """
    if max_bytes and c.size > max_bytes:
        raise ContractViolation(
            f"{c.rel_path} is {c.size:,} bytes, over landing.max_file_bytes ({max_bytes:,}); nothing from it "
            "was loaded",
            hint="split the delivery into smaller files, or raise landing.max_file_bytes if the workers' "
            "memory allows (a file is parsed whole by one Python worker)",
        )
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    head: list[str] = []
    head_size = 0
    head_bytes = 0
    offset = 0
    size = 0
    with _open_binary(c.path) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
            try:
                text = decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                at = offset + exc.start
                raise ContractViolation(
                    f"{c.rel_path} is not UTF-8: byte {at} ({chunk[exc.start : exc.start + 1]!r}) cannot be decoded",
                    hint="re-export the file as UTF-8; nothing from it was loaded",
                ) from exc
            if head_size < CHUNK:
                head.append(text)
                head_size += len(text)
                head_bytes += len(chunk)
            offset += len(chunk)
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            raise ContractViolation(
                f"{c.rel_path} is not UTF-8: it ends inside a character",
                hint="re-export the file as UTF-8; nothing from it was loaded",
            ) from exc
    text = "".join(head)
    if size > head_bytes and "\n" not in text and "\r" not in text:
        raise ContractViolation(
            f"{c.rel_path}: its header row is longer than {CHUNK:,} bytes; nothing from it was loaded",
            hint=f"a header holds at most landing.max_columns columns ({max_columns or 'unbounded'})",
        )
    header, _ = parse_csv_text(text)
    if header is not None and max_columns and len(header) > max_columns:
        raise ContractViolation(
            f"{c.rel_path}: its header has {len(header):,} columns, over landing.max_columns "
            f"({max_columns:,}); nothing from it was loaded",
            hint="fix the export, or raise landing.max_columns",
        )
    return LandingFile(
        c.source,
        c.rel_path,
        c.path,
        size,
        digest.hexdigest(),
        tuple(header) if header is not None else None,
        c.mtime_ns,
    )


def list_files(landing: str | Path, source: str) -> list[LandingFile]:
    """Every counted file of a source, in lexical order, fingerprinted."""
    return [fingerprint(c) for c in candidates(landing, source).files]


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


BRONZE_EXTRA = ["_raw_line", "_malformed", "_source_file", "_line_number"]


def parse_file(rel: str, sha256: str, content: bytes, columns: list[str]):  # type: ignore[no-untyped-def]
    """One landing file's bytes -> an Arrow record batch: one row per record, `columns` as raw text.

    The same function runs in the driver (small batches) and in Spark's Python workers (large ones).
    """
    import pyarrow as pa

    if hashlib.sha256(content).hexdigest() != sha256:
        raise RuntimeError(f"{rel} changed while it was being ingested")
    width = len(columns)
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
    return pa.RecordBatch.from_arrays(arrays, names=[*columns, *BRONZE_EXTRA])


GLOB_CHARS = re.compile(r"([\\{}\[\]*?])")


def glob_escaped(path: str) -> str:
    """A path as Hadoop's glob matcher reads it literally: `[`, `]`, `{`, `}`, `*`, `?`, `\\` escaped."""
    return GLOB_CHARS.sub(r"\\\1", path)


def file_key(location: str) -> str:
    """`<source>/<name>` of a landing file from its path as Spark reports it.

    Spark's `path` column is the Hadoop path as text, not a URI: `#`, `?` and `%41` stand for themselves
    there, so it is never URL-decoded; its last two components are the source folder and the file name.
    """
    return "/".join(location.rsplit("/", 2)[-2:])


def _spark_path(loc: str) -> str:
    """What Spark reads for a landing file: a URI as given, a plain path made absolute."""
    return loc if storage.scheme(loc) else str(Path(loc).absolute())


def _parser(files: dict[str, tuple[str, str]], columns: list[str]):  # type: ignore[no-untyped-def]
    """The mapInArrow function: binaryFile rows (path, content) -> one Arrow row per CSV record."""

    def parse(batches: Iterator) -> Iterator:  # type: ignore[type-arg]
        for batch in batches:
            paths = batch.column("path").to_pylist()
            contents = batch.column("content").to_pylist()
            for location, content in zip(paths, contents, strict=True):
                rel, sha = files[file_key(location)]
                yield parse_file(rel, sha, content, columns)

    return parse


def bronze_schema(columns: list[str]):  # type: ignore[no-untyped-def]
    from pyspark.sql import types as T

    return T.StructType(
        [T.StructField(c, T.StringType()) for c in columns]
        + [
            T.StructField("_raw_line", T.StringType()),
            T.StructField("_malformed", T.BooleanType(), False),
            T.StructField("_source_file", T.StringType(), False),
            T.StructField("_line_number", T.LongType(), False),
        ]
    )


def read_bronze_batch(
    spark: SparkSession, files: list[LandingFile], columns: list[str], driver_max_bytes: int = 0
) -> tuple[DataFrame, dict[str, int] | None]:
    """One row per data record of `files`: `columns` as raw text (null where a file lacks one), plus
    `_raw_line`, `_malformed`, `_source_file`, `_line_number`. Files without records add no rows.

    Returns the DataFrame and, when the files were parsed in the driver, the records per file.
    A batch of at most `driver_max_bytes` is parsed here, in the driver, one file at a time: no Python
    worker to start and no job to count records, which is most of the cost of a small delivery. A larger
    one is parsed by Spark's Python workers, each reading its files itself.
    """
    schema = bronze_schema(columns)
    with_rows = [f for f in files if f.header is not None]
    if not with_rows:
        return spark.createDataFrame([], schema), {}
    if sum(f.size for f in with_rows) <= driver_max_bytes:
        import pyarrow as pa

        batches = [parse_file(f.rel_path, f.sha256, _read_bytes(f.path), columns) for f in with_rows]
        counts = {f.rel_path: b.num_rows for f, b in zip(with_rows, batches, strict=True)}
        table = pa.Table.from_batches(batches)
        return spark.createDataFrame(table, schema=schema), counts
    lookup = {f.rel_path: (f.rel_path, f.sha256) for f in with_rows}
    raw = spark.read.format("binaryFile").load([glob_escaped(_spark_path(f.path)) for f in with_rows])
    raw = raw.select("path", "content").repartition(min(len(with_rows), 64))
    return raw.mapInArrow(_parser(lookup, columns), schema), None


__all__ = [
    "TRIM_CHARS",
    "Candidate",
    "LandingFile",
    "candidates",
    "check_header_names",
    "file_key",
    "fingerprint",
    "glob_escaped",
    "list_files",
    "read_bronze_batch",
]
