"""A killed or timed-out task leaves no CLI process behind (a stand-in `sleep` plays the Spark JVM).

Each test runs ``run_cli`` in a separate Python process (as Airflow's task runner does), hits that
process the way Airflow would, and checks that the CLI and its child are gone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

RUNNER = """
import sys
import lakeforge_common as common
from airflow.sdk.execution_time.timeout import timeout

argv = [sys.argv[1], "run", "--cmd", "transform"]
if sys.argv[2] == "timeout":
    with timeout(2):
        common.run_cli(argv, grace_seconds=2)
else:
    common.run_cli(argv, grace_seconds=2)
"""


def alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_until(predicate, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture
def start_runner(fake_cli, dags_dir, tmp_path, monkeypatch):
    """Start a runner process whose CLI sleeps; return (runner, cli_pid, jvm_pid)."""
    started: list[tuple[subprocess.Popen[str], int, int]] = []
    pid_file = tmp_path / "pids"
    monkeypatch.setenv("FAKE_LAKEFORGE_SLEEP", "300")
    monkeypatch.setenv("FAKE_LAKEFORGE_PID_FILE", str(pid_file))
    monkeypatch.setenv("PYTHONPATH", str(dags_dir))

    def start(mode: str = "plain"):
        runner = subprocess.Popen(
            [sys.executable, "-c", RUNNER, str(fake_cli), mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), 30), "CLI did not start"
        cli_pid, jvm_pid = map(int, pid_file.read_text().split())
        started.append((runner, cli_pid, jvm_pid))
        return runner, cli_pid, jvm_pid

    yield start
    for runner, cli_pid, _ in started:  # never leak a sleeper, whatever the test did
        runner.kill()
        runner.wait()
        try:
            os.killpg(cli_pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_the_task_kills_the_cli_process_group(start_runner, sig):
    runner, cli_pid, jvm_pid = start_runner()
    assert os.getpgid(cli_pid) == cli_pid != os.getpgid(runner.pid)  # the CLI leads its own session

    runner.send_signal(sig)

    assert wait_until(lambda: not alive(cli_pid) and not alive(jvm_pid), 10)
    assert runner.wait(timeout=10) != 0


def test_execution_timeout_kills_the_cli_process_group(start_runner):
    runner, cli_pid, jvm_pid = start_runner("timeout")

    out, _ = runner.communicate(timeout=30)

    assert "AirflowTaskTimeout" in out
    assert not alive(cli_pid) and not alive(jvm_pid)


def test_cli_gets_sigterm_when_the_task_process_is_sigkilled(start_runner):
    runner, cli_pid, _ = start_runner()

    runner.kill()  # no handler runs: only the kernel's parent-death signal is left

    assert wait_until(lambda: not alive(cli_pid), 10)


def test_a_signal_while_the_cli_starts_kills_it_once_it_runs(common):
    """The race behind a flaky kill test: the handlers are set before Popen, and a signal that comes
    before the CLI has a pid is held until it has one, then kills its group and interrupts us."""
    proc = None
    with pytest.raises(KeyboardInterrupt):
        with common._SignalsKillTheGroup(grace_seconds=2) as guard:
            os.kill(os.getpid(), signal.SIGINT)  # handled at once, while there is no CLI yet
            proc = subprocess.Popen(["sleep", "300"], start_new_session=True)
            guard.started(proc)

    assert proc is not None and proc.wait(timeout=10) == -signal.SIGTERM
