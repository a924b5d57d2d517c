"""Read a Delta table's metadata without Spark: versions, commits, row counts, small tables (delta-rs).

    version(uri)                 # 7, or None when there is no table
    last_commit(uri)             # {"version": 7, "operation": "MERGE", "operationMetrics": {...}, ...}
    read_arrow(uri)              # a small unpartitioned table as a pyarrow.Table
    append_arrow(uri, table)     # one append commit (the operations records)

A table's `uri` is a location (lakeforge.storage): a local path or any URI delta-rs knows (`s3a://`
included), its credentials and endpoint from the environment; the data files delta-rs lists are read
through pyarrow's file system for the same location.

The planner decides from this alone whether a run has work, so a run with nothing to do never starts a
JVM; the writer reads each commit's operationMetrics here instead of running a Spark job.

Data is read with pyarrow from the files delta-rs lists, never through delta-rs's own scan: on this
machine `DeltaTable.to_pyarrow_table()` aborts the interpreter at exit in most short processes
("terminate called without an active exception"); metadata calls and `write_deltalake` do not.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from lakeforge import storage

if TYPE_CHECKING:
    import pyarrow as pa
    from deltalake import DeltaTable


class UnsupportedTable(Exception):
    """A table this light reader cannot read exactly (deletion vectors, partitions)."""


def _open(uri: str, version: int | None = None) -> DeltaTable | None:
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(uri, version=version)
    except TableNotFoundError:
        return None


def exists(uri: str) -> bool:
    return _open(uri) is not None


def version(uri: str) -> int | None:
    """The latest version of the table at `uri`, None when there is none."""
    table = _open(uri)
    return None if table is None else int(table.version())


def last_commit(uri: str) -> dict[str, Any]:
    """The newest commit's info: version, operation, operationParameters, operationMetrics, userMetadata."""
    table = _open(uri)
    if table is None:
        raise FileNotFoundError(f"no Delta table at {uri}")
    info = dict(table.history(1)[0])
    info["version"] = int(info.get("version", table.version()))
    return info


def commits(uri: str, limit: int | None = None) -> list[dict[str, Any]]:
    """Commit infos, newest first (all, or the last `limit`)."""
    table = _open(uri)
    if table is None:
        return []
    return [dict(c) for c in table.history(limit)]


def lakeforge_metadata(commit: dict[str, Any]) -> dict[str, Any] | None:
    """The `{"lakeforge": {...}}` user metadata lakeforge puts on its Spark commits, if any."""
    raw = commit.get("userMetadata")
    if not raw:
        return None
    try:
        meta = json.loads(raw)
    except ValueError:
        return None
    if isinstance(meta, dict) and isinstance(meta.get("lakeforge"), dict):
        return dict(meta["lakeforge"])
    return None


def row_count(uri: str) -> int | None:
    """Rows of the current version from the file statistics in the log, less the rows its deletion vectors
    mark deleted (no data file read); None: no table."""
    table = _open(uri)
    return None if table is None else _rows(table)


def _rows(table: DeltaTable) -> int:
    """Rows of the opened version: its files' `num_records`, less what its deletion vectors mark deleted."""
    adds = table.get_add_actions(flatten=True)
    stored = int(sum(v or 0 for v in adds.column("num_records").to_pylist())) if adds.num_rows else 0
    return stored - deleted_by_vectors(table)


def _change_rows(commit: dict[str, Any]) -> int | None:
    """Rows of one commit's change feed, from its metrics: an append's rows, a MERGE's inserted and
    deleted rows and both images of its updated ones; None for other operations."""
    metrics = commit.get("operationMetrics") or {}
    operation = commit.get("operation")
    try:
        if operation in ("WRITE", "STREAMING UPDATE"):
            mode = (commit.get("operationParameters") or {}).get("mode", "Append")
            return int(metrics["numOutputRows"]) if mode == "Append" else None
        if operation == "MERGE":
            inserted, updated = int(metrics["numTargetRowsInserted"]), int(metrics["numTargetRowsUpdated"])
            return inserted + 2 * updated + int(metrics["numTargetRowsDeleted"])
    except (KeyError, TypeError, ValueError):
        return None
    return None


def rows_read(uri: str, after: int | None, upto: int) -> int | None:
    """Rows a reader gets from the log alone: (after None) every row of version `upto`, or the change
    feed of versions (after, upto] (`_change_rows` of each commit). None when the log cannot say (no
    table, another operation, a commit without the metrics)."""
    if after is None:
        table = _open(uri, upto)
        return None if table is None else _rows(table)
    if upto <= after:
        return 0
    table = _open(uri)
    if table is None:
        return None
    found: dict[int, int] = {}
    for commit in table.history(int(table.version()) - after):
        v = int(commit.get("version", -1))
        if after < v <= upto:
            rows = _change_rows(commit)
            if rows is None:
                return None
            found[v] = rows
    return sum(found.values()) if len(found) == upto - after else None


def size_bytes(uri: str) -> int:
    """Bytes of the current version's data files, from the log (0: no table)."""
    table = _open(uri)
    if table is None:
        return 0
    adds = table.get_add_actions(flatten=True)
    return int(sum(v or 0 for v in adds.column("size_bytes").to_pylist())) if adds.num_rows else 0


def writes_deletion_vectors(uri: str) -> bool:
    """Whether a DELETE, UPDATE or MERGE on the table marks rows in deletion vectors (the table property,
    set when it was created) rather than rewriting their files."""
    table = _open(uri)
    if table is None:
        return False
    return table.metadata().configuration.get("delta.enableDeletionVectors", "false").lower() == "true"


def deleted_by_vectors(table: DeltaTable) -> int:
    """Rows that the table's deletion vectors mark deleted (their files' `num_records` still count them)."""
    if "deletionVectors" not in (table.protocol().reader_features or []):
        return 0
    import pyarrow as pa
    import pyarrow.compute as pc

    deleted = 0
    for batch in pa.RecordBatchReader.from_stream(table.deletion_vectors()):
        keep = pc.list_flatten(batch.column("selection_vector"))
        deleted += len(keep) - int(pc.sum(keep).as_py() or 0)
    return deleted


def read_arrow(uri: str, columns: list[str] | None = None) -> pa.Table | None:
    """Every row of a small, unpartitioned table without deletion vectors; None when there is no table."""
    table = _open(uri)
    if table is None:
        return None
    if table.metadata().partition_columns:
        raise UnsupportedTable(f"{uri} is partitioned; read it with Spark")
    features = table.protocol().reader_features or []
    if "deletionVectors" in features:
        raise UnsupportedTable(f"{uri} uses deletion vectors; read it with Spark")
    schema = table.schema().to_arrow()
    files = table.file_uris()
    if not files:
        import pyarrow as pa

        empty = pa.schema(schema)
        return empty.empty_table().select(columns) if columns else empty.empty_table()
    return storage.read_parquet(files, columns=columns)


def change_feed_gap(uri: str, after: int, upto: int) -> str | None:
    """Why the change feed of versions after+1..upto cannot be read any more; None when it can.

    Reads the commits of those versions from the log (no data): a commit file removed by the log's
    retention, or a data or change file removed by VACUUM, means a reader of that window must
    recompute from a snapshot instead. Works on any file system pyarrow knows (local, s3, ...).
    """
    from urllib.parse import unquote

    from pyarrow import fs as pafs

    if upto <= after:
        return None
    filesystem, root = storage.arrow_fs(uri)
    needed: list[str] = []
    for v in range(after + 1, upto + 1):
        commit = f"{root}/_delta_log/{v:020d}.json"
        try:
            with filesystem.open_input_stream(commit) as stream:
                lines = stream.read().decode("utf-8").splitlines()
        except FileNotFoundError:
            return f"its commit v{v} is gone (past the log retention)"
        actions = [json.loads(line) for line in lines if line.strip()]
        cdc = [a["cdc"]["path"] for a in actions if "cdc" in a]
        if cdc:
            needed += cdc
            continue
        for a in actions:
            for kind in ("add", "remove"):
                if kind in a and a[kind].get("dataChange", True):
                    needed.append(a[kind]["path"])
    paths = [storage.arrow_fs(p)[1] if "://" in p else f"{root}/{unquote(p)}" for p in dict.fromkeys(needed)]
    for info in filesystem.get_file_info(paths):
        if info.type == pafs.FileType.NotFound:
            return f"{info.path.rpartition('/')[2]} was vacuumed"
    return None


def append_arrow(uri: str, data: pa.Table, metadata: dict[str, Any] | None = None) -> int:
    """Append `data` in one commit (creating the table with its schema if needed); returns the version."""
    from deltalake import CommitProperties, write_deltalake

    props = CommitProperties(custom_metadata={"lakeforge": json.dumps(metadata)}) if metadata else None
    write_deltalake(uri, data, mode="append", commit_properties=props)
    found = version(uri)
    assert found is not None
    return found
