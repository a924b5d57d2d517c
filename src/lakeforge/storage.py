"""Locations: where the landing zone and the lakehouse are, as strings, local or on any Hadoop file system.

    location("data/lake")                  # '/abs/cwd/data/lake' (a local path, made absolute as always)
    location("s3a://bucket/lake/")         # 's3a://bucket/lake' (a URI is kept as given, no trailing /)
    join("s3a://bucket/lake", "silver", "orders")   # 's3a://bucket/lake/silver/orders'
    fs, path = arrow_fs("s3a://bucket/lake/_ops")   # pyarrow's S3FileSystem, 'bucket/lake/_ops'

Spark always gets a location unchanged (Hadoop resolves its scheme); delta-rs accepts the same strings
(`s3a://` included) and takes its credentials and endpoint from the environment (`AWS_ENDPOINT_URL`,
`AWS_ACCESS_KEY_ID`, `AWS_ALLOW_HTTP`, ...), as pyarrow does. Small files lakeforge itself lists, reads
and writes (landing files, the run report, data docs) go through pyarrow's file system, which knows
`s3a`/`s3n` as `s3`. What must be on this host (the pipeline lock, the metrics textfile a node exporter
reads, the data docs' staging folder) goes under the state folder for a lakehouse that is not local.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from lakeforge.errors import ConfigError

if TYPE_CHECKING:
    from pyarrow import fs as pafs

# a scheme of two letters or more (a one-letter "scheme" would be a drive letter)
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):")
# Hadoop's names for S3 that pyarrow knows as s3
ARROW_SCHEMES = {"s3a": "s3", "s3n": "s3"}


def scheme(loc: str | Path) -> str:
    """The URI scheme of a location, lower case; "" for a plain path."""
    found = SCHEME.match(str(loc))
    return found.group(1).lower() if found else ""


def location(value: str | Path) -> str:
    """A location as lakeforge keeps it: a plain path made absolute (`~` expanded), a URI verbatim
    without a trailing slash."""
    text = str(value)
    if not text.strip():
        raise ConfigError("a location must not be empty")
    if scheme(text):
        stripped = text.rstrip("/")
        return stripped if not stripped.endswith(":") and not stripped.endswith("//") else text
    return str(Path(text).expanduser().absolute())


def join(base: str | Path, *parts: str) -> str:
    """`base/part/...` by string, whatever the scheme."""
    return "/".join([location(base), *(p.strip("/") for p in parts)])


def _parts(text: str) -> tuple[str, str, str]:
    """(scheme, authority, path) of a URI, split by hand: `#`, `?` and `%` in a file name are not URI
    syntax here (Hadoop's paths keep them as they are)."""
    found = scheme(text)
    rest = text[len(found) + 1 :]
    if not rest.startswith("//"):
        return found, "", rest
    authority, _, path = rest[2:].partition("/")
    return found, authority, "/" + path


def is_local(loc: str | Path) -> bool:
    """A plain path or a `file:` URI on this host."""
    found = scheme(loc)
    return not found or (found == "file" and _parts(str(loc))[1] in ("", "localhost"))


def local_path(loc: str | Path) -> Path:
    """The local path of a plain path or a `file:` URI; a ConfigError for any other location.

    A `file:` URI's path is taken as written, not percent-decoded, as Hadoop takes it.
    """
    text = str(loc)
    if not is_local(text):
        raise ConfigError(
            f"{text} is not on the local file system",
            hint="this needs a local path or a file: URI",
        )
    return Path(_parts(text)[2]) if scheme(text) else Path(location(text))


def state_dir() -> Path:
    """The project's ignored state folder: `LAKEFORGE_STATE_DIR`, else `.lakeforge` in the working directory."""
    return Path(os.environ.get("LAKEFORGE_STATE_DIR") or ".lakeforge").absolute()


def key(loc: str | Path) -> str:
    """A short, stable name for a location (16 hex digits of its SHA-256), for files on this host."""
    return hashlib.sha256(location(loc).encode("utf-8")).hexdigest()[:16]


def local_home(loc: str | Path, kind: str) -> Path:
    """Where something of location `loc` that must be on this host lives: `<loc>/_ops/<kind>` for a
    local location; `<state dir>/<kind>/<key(loc)>` otherwise."""
    if is_local(loc):
        return local_path(loc) / "_ops" / kind
    return state_dir() / kind / key(loc)


def arrow_fs(loc: str | Path) -> tuple[pafs.FileSystem, str]:
    """pyarrow's file system for a location and the path it names there."""
    from pyarrow import fs as pafs

    if is_local(loc):
        return pafs.LocalFileSystem(), str(local_path(loc))
    text = str(loc)
    found, authority, path = _parts(text)
    try:
        filesystem, root = _remote_fs(ARROW_SCHEMES.get(found, found), authority)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several kinds; one clear message instead
        raise ConfigError(
            f"{text}: no file system for scheme '{found}' ({type(exc).__name__}: {exc})",
            hint="use a local path or an s3a://, s3://, gs:// or abfss:// location",
        ) from exc
    return filesystem, f"{root.rstrip('/')}{path}" if path.strip("/") else root


@lru_cache(maxsize=16)
def _remote_fs(arrow_scheme: str, authority: str) -> tuple[pafs.FileSystem, str]:
    """pyarrow's file system of `scheme://authority` (made once per process) and its root path there;
    the path below it is appended by hand, never parsed as a URI."""
    from pyarrow import fs as pafs

    return pafs.FileSystem.from_uri(f"{arrow_scheme}://{authority}")


def is_file(loc: str) -> bool:
    from pyarrow import fs as pafs

    if is_local(loc):
        return local_path(loc).is_file()
    filesystem, path = arrow_fs(loc)
    return bool(filesystem.get_file_info(path).type == pafs.FileType.File)


def read_bytes(loc: str) -> bytes:
    filesystem, path = arrow_fs(loc)
    with filesystem.open_input_stream(path) as stream:
        return bytes(stream.read())


def write_bytes(loc: str, data: bytes) -> None:
    """Write a whole file (an object store replaces an object at once; a local file via a rename)."""
    if is_local(loc):
        path = local_path(loc)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
        return
    filesystem, path_in = arrow_fs(loc)
    with filesystem.open_output_stream(path_in) as stream:
        stream.write(data)


def upload_tree(folder: Path, dest: str) -> int:
    """Copy every file under the local `folder` to `dest/<same relative path>`; returns how many."""
    count = 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        write_bytes(join(dest, path.relative_to(folder).as_posix()), path.read_bytes())
        count += 1
    return count


def read_parquet(files: list[str], columns: list[str] | None = None):  # type: ignore[no-untyped-def]
    """A pyarrow Table of Parquet files given as locations (delta-rs's `file_uris()`), on one file system."""
    import pyarrow.parquet as pq

    filesystem, first = arrow_fs(files[0])
    head = files[0][: len(files[0]) - len(first)] if files[0].endswith(first) else None
    paths = [f[len(head) :] if head is not None and f.startswith(head) else arrow_fs(f)[1] for f in files]
    return pq.read_table(paths, columns=columns, filesystem=filesystem)


__all__ = [
    "arrow_fs",
    "is_file",
    "is_local",
    "join",
    "key",
    "local_home",
    "local_path",
    "location",
    "read_bytes",
    "read_parquet",
    "scheme",
    "state_dir",
    "upload_tree",
    "write_bytes",
]
