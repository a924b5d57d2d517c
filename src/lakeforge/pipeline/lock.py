"""One run at a time: a cross-process lock on the lakehouse.

    with PipelineLock(lakehouse / "_ops" / "pipeline.lock", holder="run 42", wait_seconds=0):
        ...

Delta's local log store only guards one JVM, so two shells or two Airflow tasks must not commit to the
same local tables at once. The lock is an `flock` on a file: the kernel releases it when its process
dies, so a lock left by a killed run is taken over at once. The file names the holder for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path
from types import TracebackType

from lakeforge.errors import PipelineLocked


class PipelineLock:
    def __init__(self, path: Path, holder: str, wait_seconds: float = 0.0, poll_seconds: float = 0.5) -> None:
        self.path = path
        self.holder = holder
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self._fd: int | None = None

    def _describe_holder(self) -> str:
        try:
            info = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return "an unknown process"
        return f"{info.get('holder', '?')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, since {info.get('since', '?')})"

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + self.wait_seconds
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = self._describe_holder()
                    os.close(fd)
                    raise PipelineLocked(
                        f"another run holds the pipeline lock {self.path}: {holder}",
                        hint="wait for it to finish, or rerun with --wait",
                    ) from None
                time.sleep(self.poll_seconds)
        info = {
            "holder": self.holder,
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd

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
