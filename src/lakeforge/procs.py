"""Is a process still the one we started? From /proc alone (Linux), with its kernel start time.

start = start_time(pid)      # recorded beside the pid
alive(pid, start)            # False once it exited, became a zombie, or its pid was reused
"""

from __future__ import annotations

from pathlib import Path


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), None when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def start_time(pid: int) -> str | None:
    """The kernel's start time of a process (field 22 of /proc/<pid>/stat), None when it is gone.

    Recorded with a pid so that a pid reused by an unrelated process is not mistaken for ours.
    """
    fields = _stat(pid)
    return fields[19] if fields is not None and len(fields) > 19 else None


def alive(pid: int, start: str | None) -> bool:
    fields = _stat(pid)
    if not fields or len(fields) <= 19 or fields[0] == "Z":  # a zombie has finished: only wait() is missing
        return False
    return start is None or fields[19] == start
