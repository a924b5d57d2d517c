"""One run at a time: a cross-process lock on the lakehouse.

    with PipelineLock(lock_file(lakehouse), holder="run 42", wait_seconds=0, lakehouse=lakehouse):
        ...

Delta's local log store only guards one JVM, so two shells or two Airflow tasks must not commit to the
same local tables at once. The lock is an `flock` on a file: the kernel releases it when its process
dies, so a lock left by a killed run is taken over at once. The file names the holder for the message.

The lock covers the whole run, JVM included: the holder records the pid of the Spark driver it started
(`record_child`), and a new holder that finds the previous holder's driver still alive (a killed run's
JVM finishes its shutdown on its own, and may be inside a commit) waits for it like for the lock itself.
The file is private to its owner (0600): another local user can neither read it nor take it.

An `flock` needs a local file: a lakehouse that is not local (`s3a://bucket/lake`) is locked on this
host, in the state folder (`<state dir>/locks/<key>.lock`, the file naming the lakehouse while held).
So on object storage one host runs the pipeline at a time (docs/operations.md).

A run through a Spark Connect server records its session there too (`record_remote`): a killed client's
operations go on running on the server, so a new holder takes over the sessions its dead predecessors
left (`orphans`) and keeps them listed until it has stopped them (`settled`), even if it is killed too.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from lakeforge import storage
from lakeforge.errors import PipelineLocked
from lakeforge.procs import alive as _alive
from lakeforge.procs import start_time as _start_time

log = logging.getLogger(__name__)


def lock_file(lakehouse: str | Path) -> Path:
    """The lock of a lakehouse: `<lakehouse>/_ops/pipeline.lock` when it is local, else a file of this
    host's state folder named after its location."""
    if storage.is_local(lakehouse):
        return storage.local_path(lakehouse) / "_ops" / "pipeline.lock"
    return storage.state_dir() / "locks" / f"{storage.key(lakehouse)}.lock"


def describe_holder(info: dict[str, object]) -> str:
    """`run X (cmd) (pid N on host, since T)`: who the lock file says holds the lock."""
    return (
        f"{info.get('holder', '?')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
        f"since {info.get('since', '?')})"
    )


class PipelineLock:
    def __init__(
        self,
        path: Path,
        holder: str,
        wait_seconds: float = 0.0,
        poll_seconds: float = 0.5,
        lakehouse: str | None = None,
    ) -> None:
        self.path = path
        self.lakehouse = lakehouse  # named in the file and in the message (its file may be elsewhere)
        self.holder = holder
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._fd: int | None = None
        self._info: dict[str, object] = {}

    @staticmethod
    def _read(fd: int) -> dict[str, object]:
        try:
            data = os.pread(fd, 1 << 16, 0)
            info = json.loads(data.decode("utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return info if isinstance(info, dict) else {}

    def _describe_holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return "an unknown process"
        return describe_holder(info)

    def _lingering_child(self, info: dict[str, object]) -> str | None:
        """The previous holder's Spark driver when it still runs on this host (its holder is gone)."""
        child = info.get("child_pid")
        if not isinstance(child, int) or info.get("host") != socket.gethostname():
            return None
        start = info.get("child_start")
        if not _alive(child, start if isinstance(start, str) else None):
            return None
        return f"the Spark driver (pid {child}) of {info.get('holder', 'an earlier run')}, which is still shutting down"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            os.fchmod(fd, 0o600)  # a file left by an older version may be readable by all
        except PermissionError:
            pass  # not ours: flock still excludes, and the owner's next run will fix it
        deadline = time.monotonic() + self.wait_seconds
        said = None
        while True:
            lingering = None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                lingering = self._lingering_child(self._read(fd))
                if lingering is None:
                    break
                fcntl.flock(fd, fcntl.LOCK_UN)
                if lingering != said and self.wait_seconds > 0:
                    log.warning("waiting for %s", lingering, extra={"event": "lock_wait"})
                    said = lingering
            except BlockingIOError:
                pass
            if time.monotonic() >= deadline:
                holder = lingering or self._describe_holder()
                os.close(fd)
                of = (
                    f" of {self.lakehouse}" if self.lakehouse and not storage.is_local(self.lakehouse) else ""
                )
                raise PipelineLocked(
                    f"another run holds the pipeline lock {self.path}{of}: {holder}",
                    hint="wait for it to finish, or rerun with --wait",
                ) from None
            time.sleep(self.poll_seconds)
        previous = self._read(fd)
        orphans = [o for o in previous.get("orphan_sessions", []) if isinstance(o, dict)]  # type: ignore[attr-defined]
        if isinstance(previous.get("remote_session"), dict):
            orphans.append(previous["remote_session"])  # type: ignore[arg-type]
        self._info = {
            "holder": self.holder,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if self.lakehouse:
            self._info["lakehouse"] = self.lakehouse
        if orphans:
            self._info["orphan_sessions"] = orphans
        self._fd = fd
        self._write()

    def _write(self) -> None:
        assert self._fd is not None
        data = json.dumps(self._info).encode()
        os.pwrite(self._fd, data, 0)
        os.ftruncate(self._fd, len(data))

    def record_child(self, pid: int) -> None:
        """Name a process this run started that may outlive it (the Spark driver): the lock is not free
        for the next run until that process has exited too."""
        if self._fd is None:
            raise RuntimeError("record_child() needs the lock held")
        self._info.update(child_pid=pid, child_start=_start_time(pid))
        self._write()

    @property
    def orphans(self) -> list[dict[str, object]]:
        """Spark Connect sessions of killed runs that may still run operations on their server."""
        found = self._info.get("orphan_sessions")
        return list(found) if isinstance(found, list) else []

    def settled(self) -> None:
        """The orphan sessions are stopped: forget them."""
        if self._fd is None:
            raise RuntimeError("settled() needs the lock held")
        self._info.pop("orphan_sessions", None)
        self._write()

    def record_remote(self, session: dict[str, str]) -> None:
        """Name this run's Spark Connect session (`{"url": ..., "session_id": ...}`): should this process die,
        the next holder stops what the session still runs before it writes."""
        if self._fd is None:
            raise RuntimeError("record_remote() needs the lock held")
        self._info["remote_session"] = session
        self._write()

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> PipelineLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()
