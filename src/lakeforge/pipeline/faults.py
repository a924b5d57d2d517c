"""Named crash points for the crash-safety tests: the process kills itself with SIGKILL at one of them.

    crashpoint("commit:silver.orders:after")

Inert unless `LAKEFORGE_CRASH_AT` names the point (optionally `name#N` for its N-th passage). With
`LAKEFORGE_CRASH_TRACE=<file>`, every point passed is appended to that file, so a test can list the
points of a clean run and pick some reproducibly. The variables are read when a point is reached,
never at import.
"""

from __future__ import annotations

import os
import signal
from collections import Counter

_passed: Counter[str] = Counter()


def crashpoint(name: str) -> None:
    target = os.environ.get("LAKEFORGE_CRASH_AT")
    trace = os.environ.get("LAKEFORGE_CRASH_TRACE")
    if not target and not trace:
        return
    _passed[name] += 1
    if trace:
        with open(trace, "a", encoding="utf-8") as fh:
            fh.write(f"{name}#{_passed[name]}\n")
    if target and target in (name, f"{name}#{_passed[name]}"):
        os.kill(os.getpid(), signal.SIGKILL)
