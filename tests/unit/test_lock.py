"""lakeforge.pipeline.lock.PipelineLock: one run at a time across processes (SPEC §5, exit 5)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakeforge.errors import PipelineLocked
from lakeforge.pipeline.lock import PipelineLock

LAKEFORGE = Path(sys.executable).parent / "lakeforge"

HOLDER = """\
import sys, time
from pathlib import Path
from lakeforge.pipeline.lock import PipelineLock

lock = PipelineLock(Path(sys.argv[1]), holder=sys.argv[2])
lock.acquire()
print("locked", flush=True)
time.sleep(float(sys.argv[3]))
lock.release()
print("released", flush=True)
time.sleep(60)
"""


class Holder:
    """A `python -c` process that takes the lock, holds it `hold` seconds, releases it, then idles."""

    def __init__(self, path: Path, name: str, hold: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLDER, str(path), name, str(hold)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line == "locked\n", self.proc.stderr.read() if self.proc.stderr else line

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


@pytest.fixture
def holders() -> Iterator[list[Holder]]:
    started: list[Holder] = []
    yield started
    for holder in started:
        holder.stop()


def hold(
    holders: list[Holder], path: Path, name: str = "run other-42 (ingest)", seconds: float = 60
) -> Holder:
    holder = Holder(path, name, seconds)
    holders.append(holder)
    return holder


def held_by(holder: Holder, name: str, path: Path) -> str:
    return f"another run holds the pipeline lock {path}: {name} (pid {holder.pid} on {socket.gethostname()}, since "


# --- the lock ---------------------------------------------------------------------------------------------
def test_lock_held_by_another_process_is_refused_naming_the_holder(
    tmp_path: Path, holders: list[Holder]
) -> None:
    path = tmp_path / "_ops" / "pipeline.lock"
    holder = hold(holders, path)
    with pytest.raises(PipelineLocked) as info:
        PipelineLock(path, holder="run mine (full)").acquire()
    error = info.value
    assert error.exit_code == 5
    assert error.message.startswith(held_by(holder, "run other-42 (ingest)", path))
    assert error.one_line().endswith("Z) -- wait for it to finish, or rerun with --wait")
    info_in_file = json.loads(path.read_text(encoding="utf-8"))
    assert (info_in_file["holder"], info_in_file["pid"]) == ("run other-42 (ingest)", holder.pid)


def test_acquire_creates_the_folder_and_records_the_holder(tmp_path: Path) -> None:
    path = tmp_path / "lakehouse" / "_ops" / "pipeline.lock"
    with PipelineLock(path, holder="run r1 (full)"):
        info = json.loads(path.read_text(encoding="utf-8"))
        assert (info["holder"], info["pid"], info["host"]) == (
            "run r1 (full)",
            os.getpid(),
            socket.gethostname(),
        )
        assert time.strptime(info["since"], "%Y-%m-%dT%H:%M:%SZ")
    assert path.read_text(encoding="utf-8") == ""  # released: the file no longer names a holder
    with PipelineLock(path, holder="run r2 (full)"):  # and it can be taken again
        assert json.loads(path.read_text(encoding="utf-8"))["holder"] == "run r2 (full)"


def test_wait_seconds_waits_until_the_other_process_releases(tmp_path: Path, holders: list[Holder]) -> None:
    path = tmp_path / "pipeline.lock"
    holder = hold(holders, path, seconds=1.0)
    started = time.monotonic()
    lock = PipelineLock(path, holder="run patient", wait_seconds=30, poll_seconds=0.05)
    lock.acquire()
    try:
        waited = time.monotonic() - started
        assert 0.5 <= waited < 30
        assert holder.proc.poll() is None  # released on purpose, not by dying
        assert json.loads(path.read_text(encoding="utf-8"))["holder"] == "run patient"
    finally:
        lock.release()


def test_wait_seconds_gives_up_after_the_timeout(tmp_path: Path, holders: list[Holder]) -> None:
    path = tmp_path / "pipeline.lock"
    holder = hold(holders, path, name="run slow")
    started = time.monotonic()
    with pytest.raises(PipelineLocked) as info:
        PipelineLock(path, holder="run impatient", wait_seconds=0.4, poll_seconds=0.05).acquire()
    assert 0.4 <= time.monotonic() - started < 10
    assert info.value.message.startswith(held_by(holder, "run slow", path))


def test_a_holder_killed_with_sigkill_leaves_the_lock_takeable_at_once(
    tmp_path: Path, holders: list[Holder]
) -> None:
    path = tmp_path / "pipeline.lock"
    holder = hold(holders, path, name="run doomed")
    os.kill(holder.pid, signal.SIGKILL)
    holder.proc.wait(timeout=10)
    assert json.loads(path.read_text(encoding="utf-8"))["holder"] == "run doomed"  # stale text stays behind
    with PipelineLock(path, holder="run survivor", wait_seconds=0):
        info = json.loads(path.read_text(encoding="utf-8"))
        assert (info["holder"], info["pid"]) == ("run survivor", os.getpid())


def test_two_locks_in_one_process_exclude_each_other(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.lock"
    with PipelineLock(path, holder="run first"):
        with pytest.raises(PipelineLocked, match=r"holds the pipeline lock .*: run first \(pid \d+ on "):
            PipelineLock(path, holder="run second").acquire()


def test_unreadable_holder_file_is_reported_as_an_unknown_process(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.lock"
    with PipelineLock(path, holder="run first"):
        path.write_text("not json", encoding="utf-8")
        with pytest.raises(PipelineLocked) as info:
            PipelineLock(path, holder="run second").acquire()
    assert info.value.message == f"another run holds the pipeline lock {path}: an unknown process"


def test_the_lock_file_is_private_to_its_owner(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.lock"
    path.write_text("", encoding="utf-8")
    path.chmod(0o644)  # as an older version left it
    with PipelineLock(path, holder="run r1"):
        assert path.stat().st_mode & 0o777 == 0o600
    fresh = tmp_path / "new" / "pipeline.lock"
    with PipelineLock(fresh, holder="run r2"):
        assert fresh.stat().st_mode & 0o777 == 0o600


CHILD_HOLDER = """\
import subprocess, sys, time
from pathlib import Path
from lakeforge.pipeline.lock import PipelineLock

lock = PipelineLock(Path(sys.argv[1]), holder="run killed (full)")
lock.acquire()
# like the Spark driver: a process of its own that outlives a SIGKILL of the run
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"], start_new_session=True)
lock.record_child(child.pid)
print(child.pid, flush=True)
time.sleep(120)
"""


@pytest.fixture
def killed_run_with_lingering_child(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    path = tmp_path / "pipeline.lock"
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD_HOLDER, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    proc.kill()
    proc.wait(timeout=10)
    proc.stdout.close()
    try:
        yield path, child
    finally:
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_a_killed_runs_lingering_driver_keeps_the_lock(
    killed_run_with_lingering_child: tuple[Path, int],
) -> None:
    path, child = killed_run_with_lingering_child
    with pytest.raises(PipelineLocked) as info:
        PipelineLock(path, holder="run next", wait_seconds=0).acquire()
    assert info.value.message == (
        f"another run holds the pipeline lock {path}: the Spark driver (pid {child}) of run killed (full), "
        "which is still shutting down"
    )


def test_a_waiter_starts_only_once_the_lingering_driver_has_exited(
    killed_run_with_lingering_child: tuple[Path, int],
) -> None:
    path, child = killed_run_with_lingering_child
    killer = subprocess.Popen(["sh", "-c", f"sleep 1.5; kill -9 {child}"])
    started = time.monotonic()
    lock = PipelineLock(path, holder="run next", wait_seconds=30, poll_seconds=0.05)
    lock.acquire()
    try:
        assert 1.0 <= time.monotonic() - started < 30
        assert killer.wait(timeout=10) == 0
        assert (
            not Path(f"/proc/{child}").exists() or "Z" in Path(f"/proc/{child}/stat").read_text().split()[2]
        )
        info = json.loads(path.read_text(encoding="utf-8"))
        assert (info["holder"], info["pid"], "child_pid" in info) == ("run next", os.getpid(), False)
    finally:
        lock.release()


def test_a_reused_pid_is_not_mistaken_for_the_driver(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.lock"
    with PipelineLock(path, holder="run old") as lock:
        lock.record_child(os.getpid())  # alive, but recorded with another start time below
    path.write_text(
        json.dumps({"holder": "run old", "pid": 1, "host": socket.gethostname(), "child_pid": os.getpid(),
                    "child_start": "1"}),
        encoding="utf-8",
    )  # fmt: skip
    with PipelineLock(path, holder="run new", wait_seconds=0):
        assert json.loads(path.read_text(encoding="utf-8"))["holder"] == "run new"


# --- the CLI ----------------------------------------------------------------------------------------------
def write_config(tmp_path: Path, wait_timeout: float = 0.5) -> tuple[Path, Path]:
    lakehouse = tmp_path / "lakehouse"
    config = tmp_path / "config.yaml"
    config.write_text(
        textwrap.dedent(
            f"""\
            paths:
              landing: {tmp_path / "landing"}
              lakehouse: {lakehouse}
            spark: {{master: "local[1]"}}
            lock: {{wait_timeout_seconds: {wait_timeout}, poll_seconds: 0.05}}
            """
        ),
        encoding="utf-8",
    )
    (tmp_path / "landing").mkdir()
    return config, lakehouse


def run_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    if "JAVA_HOME" in os.environ:
        env["JAVA_HOME"] = os.environ["JAVA_HOME"]
    return subprocess.run(
        [str(LAKEFORGE), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("wait", [False, True], ids=["no-wait", "wait-times-out"])
def test_cli_exits_5_naming_the_holder_while_another_run_holds_the_lock(
    tmp_path: Path, holders: list[Holder], wait: bool
) -> None:
    config, lakehouse = write_config(tmp_path)
    path = lakehouse / "_ops" / "pipeline.lock"
    holder = hold(holders, path, name="run 20260301T000000Z-abc (full)")
    args = ["run", "--config", str(config), "--cmd", "ingest", *(["--wait"] if wait else [])]
    result = run_cli(tmp_path, *args)
    assert result.returncode == 5, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(
        "lakeforge: PipelineLocked: " + held_by(holder, "run 20260301T000000Z-abc (full)", path)
    )
    assert lines[0].endswith("-- wait for it to finish, or rerun with --wait")
    assert result.stdout == ""
    assert not (lakehouse / "bronze").exists()  # nothing ran


def test_cli_wait_seconds_bounds_the_wait_then_exits_5(tmp_path: Path, holders: list[Holder]) -> None:
    config, lakehouse = write_config(tmp_path, wait_timeout=600)  # the config would wait ten minutes
    path = lakehouse / "_ops" / "pipeline.lock"
    holder = hold(holders, path, name="run maintenance-1 (maintenance)")
    started = time.monotonic()
    result = run_cli(tmp_path, "run", "--config", str(config), "--cmd", "ingest", "--wait-seconds", "1.5")
    waited = time.monotonic() - started
    assert result.returncode == 5, result.stderr
    assert 1.5 <= waited < 60
    assert held_by(holder, "run maintenance-1 (maintenance)", path) in result.stderr
    refused = run_cli(tmp_path, "run", "--config", str(config), "--cmd", "ingest", "--wait-seconds", "-1")
    assert refused.returncode == 2
    assert "--wait-seconds must be 0 or more, not -1" in refused.stderr
