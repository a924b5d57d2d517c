"""Run one lakeforge stage as a CLI subprocess and turn its exit code into an Airflow outcome.

Why a subprocess: each stage gets its own process, so a task that dies or is killed never leaves a
Spark JVM behind in the worker. When ``LAKEFORGE_SPARK_REMOTE`` (or the Variable
``lakeforge_spark_remote``) names a Spark Connect server (``lakeforge server start``), the CLI is a thin
client of that warm driver (``--remote``) and a task starts no JVM at all; otherwise each stage runs
its own embedded Spark. The CLI runs in a new session; a
SIGTERM/SIGINT or an execution timeout kills its whole process group, and on Linux the CLI also
receives SIGTERM if this process dies without cleaning up.

Exit codes (the pipeline's contract): 0 success; 2 usage/config error, 3 quality gate failed,
4 contract violation - fail at once (``AirflowFailException``, no retry); 1 error and 5 pipeline
lock held - retryable (``LakeforgeRetryableError``, retried with exponential backoff).

What a task may be told (see ``resolve_settings``): the executable and the project folder come
only from the deployment's environment; a config must be a file inside ``<project>/config/``; the
CLI's environment is an allow-list (``CHILD_ENV_NAMES``), so Airflow's secrets stay with Airflow.

Example::

    @task(**stage_task_args(minutes=60))
    def ingest(**context):
        run_stage("ingest", context)

Only the standard library and Airflow are imported here: DAG files import this module at parse time.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from airflow.sdk.exceptions import AirflowException, AirflowFailException

log = logging.getLogger(__name__)

# The project root when the DAGs run from <project>/dags (overridable, see resolve_settings).
DEFAULT_PROJECT_DIR = Path(__file__).resolve().parent.parent

EXIT_OK = 0
NOT_RETRYABLE = {
    2: "usage or config error",
    3: "quality gate failed",
    4: "contract violation",
}
RETRYABLE = {
    1: "pipeline error",
    5: "another run holds the pipeline lock",
}

# Environment passed on to the CLI when set (Airflow Variable of the lower-case name wins).
FORWARDED_DATA_VARS = ("LAKEFORGE_LANDING", "LAKEFORGE_LAKEHOUSE")

# The only variables of the task's environment the CLI gets (plus FORWARDED_DATA_VARS, resolved as
# above); everything else - AIRFLOW__*, AIRFLOW_CONN_*, AIRFLOW_VAR_*, LAKEFORGE_AIRFLOW_* secrets,
# cloud credentials, tokens - stays with Airflow. Each name is here because the CLI reads it:
CHILD_ENV_NAMES = frozenset(
    {
        "PATH",  # finding `java` (spark.java_version) and what Spark's launcher runs
        "HOME",  # Path.home(): the jar cache default ~/.cache/lakeforge/ivy; Ivy's and the JVM's user dir
        "USER",  # the login name any process has (Python's getpass.getuser() reads these first)
        "LOGNAME",
        "LANG",  # the locale: file-name and text encoding of Python and the JVM (LC_* below too)
        "TMPDIR",  # where Python and the CLI put temporary files
        "JAVA_HOME",  # the Java that runs Spark (spark.java_version looks here before PATH)
        "LAKEFORGE_JARS_CACHE",  # the Delta jars' cache (spark.default_jars_cache) ...
        "XDG_CACHE_HOME",  # ... else $XDG_CACHE_HOME/lakeforge/ivy
        "LAKEFORGE_SPARK_MASTER",  # overrides spark.master (config loader; config/prod.yaml reads it)
        "LAKEFORGE_PUSHGATEWAY_URL",  # ${...} in config/prod.yaml
        "PYSPARK_PYTHON",  # the Python of Spark's workers; spark.build_spark keeps a value set here
        "HADOOP_CONF_DIR",  # how Spark finds a YARN cluster (config/prod.yaml's default master: yarn)
        "YARN_CONF_DIR",
        "LAKEFORGE_STATE_DIR",  # where `lakeforge server start` keeps its token (lakeforge.remote) ...
        "LAKEFORGE_SPARK_TOKEN_FILE",  # ... or the file holding the Spark Connect server's token ...
        "SPARK_CONNECT_AUTHENTICATE_TOKEN",  # ... or the token itself: only a CLI that uses the server gets it
    }
)
# Locale categories (LC_ALL, LC_CTYPE, ...), for the same reason as LANG.
CHILD_ENV_PREFIXES = ("LC_",)
# Left out on purpose: TZ (the CLI sets UTC itself, cli.main), SPARK_HOME (pyspark then runs the Spark
# it ships with, the one the Delta jars match), PYTHONPATH/VIRTUAL_ENV (the CLI's script names its own
# interpreter), LAKEFORGE_CRASH_AT/_TRACE (crash-test hooks: they would SIGKILL a production run),
# the DAG's own LAKEFORGE_CLI/_PROJECT_DIR/_CONFIG/_ENV (passed as arguments and cwd instead).
# LAKEFORGE_SPARK_REMOTE is passed as ``--remote`` instead (``resolve_settings``), so the task log shows it.

# How long one attempt of a task waits for the pipeline lock (``--wait-seconds``) before it exits 5
# and is retried: a medallion stage waits out maintenance and the other way round (``lock_window``).
LOCK_WAIT = timedelta(minutes=30)

# Seconds between SIGTERM and SIGKILL for the CLI's process group. Airflow's supervisor escalates
# SIGINT -> SIGTERM -> SIGKILL 5 s apart, so this stays short.
KILL_GRACE_SECONDS = 5.0


class LakeforgeRetryableError(AirflowException):
    """A stage failed in a way the pipeline marks retryable (exit 1 or 5, or killed by a signal)."""


@dataclass(frozen=True)
class CliSettings:
    """Where the pipeline lives and how to call it; see ``resolve_settings``."""

    cli: str
    config: str
    env: str
    project_dir: str
    data_env: Mapping[str, str]
    remote: str | None = None  # a Spark Connect server (sc://host:port) the CLI runs through; None: embedded


@dataclass(frozen=True)
class CliResult:
    returncode: int
    last_stderr_line: str
    seconds: float


VariableGetter = Callable[[str], "str | None"]


def airflow_variable(key: str) -> str | None:
    """Read an Airflow Variable (metastore, or env ``AIRFLOW_VAR_<KEY>``); None when unset."""
    from airflow.sdk import Variable

    value = Variable.get(key, default=None)
    return None if value in (None, "") else str(value)


def resolve_settings(
    variable: VariableGetter = airflow_variable,
    environ: Mapping[str, str] | None = None,
) -> CliSettings:
    """Resolve the CLI settings at task run time; raise ``AirflowFailException`` (no retry) if refused.

    ============================  ========================  =================================
    Variable                      env var                   default
    ============================  ========================  =================================
    (refused if it differs)       ``LAKEFORGE_PROJECT_DIR``  the folder above ``dags/``
    (refused if it differs)       ``LAKEFORGE_CLI``          ``<project>/.venv/bin/lakeforge``
    ``lakeforge_config``          ``LAKEFORGE_CONFIG``       ``<project>/config/local.yaml``
    ``lakeforge_env``             ``LAKEFORGE_ENV``          ``local``
    ``lakeforge_landing``         ``LAKEFORGE_LANDING``      (the pipeline's config decides)
    ``lakeforge_lakehouse``       ``LAKEFORGE_LAKEHOUSE``    (the pipeline's config decides)
    ``lakeforge_spark_remote``    ``LAKEFORGE_SPARK_REMOTE``  none: each task runs an embedded Spark
    ============================  ========================  =================================

    A Variable wins over the env var, which wins over the default, except for the executable and the
    project folder (which decides the default executable and the config folder): only the deployment's
    environment sets those. A Variable ``lakeforge_cli`` or ``lakeforge_project_dir`` naming the same
    path is harmless (``scripts/airflow/e2e.sh`` sets both so); one naming another fails the task.
    The config, relative paths taken from the project folder where the CLI runs, must resolve
    (symlinks and ``..`` followed) to a file inside ``<project>/config/``; the CLI gets that path.
    """
    env = os.environ if environ is None else environ

    def lookup(name: str) -> str | None:
        return variable(name.lower()) or env.get(name) or None

    project_dir = Path(env.get("LAKEFORGE_PROJECT_DIR") or DEFAULT_PROJECT_DIR)
    _refuse_variable_override(variable, "LAKEFORGE_PROJECT_DIR", project_dir, "the folder above dags/")
    cli = Path(env.get("LAKEFORGE_CLI") or project_dir / ".venv" / "bin" / "lakeforge")
    _refuse_variable_override(variable, "LAKEFORGE_CLI", cli, "<project>/.venv/bin/lakeforge")
    data_env = {name: value for name in FORWARDED_DATA_VARS if (value := lookup(name))}
    return CliSettings(
        cli=str(cli),
        config=_config_inside_project(variable, env, project_dir),
        env=lookup("LAKEFORGE_ENV") or "local",
        project_dir=str(project_dir),
        data_env=data_env,
        remote=lookup("LAKEFORGE_SPARK_REMOTE"),
    )


def _refuse_variable_override(variable: VariableGetter, name: str, deployed: Path, default: str) -> None:
    """Fail unless the Variable of ``name`` is unset or names the very path the deployment gives."""
    key = name.lower()
    value = variable(key)
    if value is None or Path(value).resolve() == deployed.resolve():
        return
    raise AirflowFailException(
        f"Airflow Variable {key}={value!r} refused: only the deployment's environment chooses this path "
        f"(env {name}, else {default}), here {str(deployed)!r}; delete the Variable (not retried)"
    )


def _config_inside_project(variable: VariableGetter, env: Mapping[str, str], project_dir: Path) -> str:
    """The config's resolved path, if it is a file inside ``<project>/config/``; else fail the task."""
    if value := variable("lakeforge_config"):
        source = "Airflow Variable lakeforge_config"
    elif value := env.get("LAKEFORGE_CONFIG"):
        source = "env LAKEFORGE_CONFIG"
    else:
        value, source = str(project_dir / "config" / "local.yaml"), "the default"
    config_dir = (project_dir / "config").resolve()
    resolved = (project_dir / value).resolve()  # an absolute value replaces project_dir
    if not resolved.is_relative_to(config_dir):
        problem = "outside it"
    elif not resolved.is_file():
        problem = "not a file"
    else:
        return str(resolved)
    raise AirflowFailException(
        f"lakeforge config {value!r} (from {source}) refused: it resolves to {str(resolved)!r}, {problem}; "
        f"a config must be a file inside {str(config_dir)!r} (symlinks and '..' followed) (not retried)"
    )


def build_command(
    settings: CliSettings,
    cmd: str,
    *,
    run_id: str | None = None,
    logical_date: date | None = None,
    wait: bool = False,
) -> list[str]:
    """The argv of one ``lakeforge run`` call."""
    argv = [settings.cli, "run", "--config", settings.config, "--env", settings.env, "--cmd", cmd]
    if settings.remote:
        argv += ["--remote", settings.remote]
    if run_id:
        argv += ["--run-id", run_id]
    if logical_date is not None:
        argv += ["--logical-date", logical_date.strftime("%Y-%m-%d")]
    if wait:
        argv += ["--wait-seconds", str(int(LOCK_WAIT.total_seconds()))]
    return argv


def child_environment(settings: CliSettings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The CLI's environment: the allow-listed part of ours (``CHILD_ENV_NAMES``, ``LC_*``), plus the data paths."""
    env = {
        key: value
        for key, value in (os.environ if environ is None else environ).items()
        if key in CHILD_ENV_NAMES or key.startswith(CHILD_ENV_PREFIXES)
    }
    env.update(settings.data_env)
    return env


def _die_with_parent() -> Callable[[], None] | None:
    """A preexec hook asking Linux to SIGTERM the child when its parent dies (even by SIGKILL)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
    except OSError:
        return None
    pr_set_pdeathsig = 1
    parent = os.getpid()

    def hook() -> None:
        libc.prctl(pr_set_pdeathsig, int(signal.SIGTERM), 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def terminate_group(proc: subprocess.Popen[Any], grace_seconds: float = KILL_GRACE_SECONDS) -> None:
    """SIGTERM the child's process group, then SIGKILL whatever is left after ``grace_seconds``.

    The group may outlive its leader (a Spark JVM whose Python driver is gone), so the group is
    signalled even when ``proc`` itself has already exited.
    """
    pgid = proc.pid  # start_new_session=True: the child leads its own group
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(pgid):
            break
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        if sig == signal.SIGTERM:
            log.warning("Sent SIGTERM to lakeforge process group %s", pgid)
        else:
            log.warning("Process group %s outlived %.0f s of grace: sent SIGKILL", pgid, grace_seconds)
        deadline = time.monotonic() + grace_seconds
        while time.monotonic() < deadline:
            proc.poll()
            if not _group_alive(pgid):
                return
            time.sleep(0.1)
    proc.poll()


def _group_alive(pgid: int) -> bool:
    """True while a process of the group still runs (zombies, e.g. an unreaped leader, do not count)."""
    proc_fs = Path("/proc")
    if not proc_fs.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc_fs.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        state, group = fields[0], int(fields[2])
        if group == pgid and state not in ("Z", "X"):
            return True
    return False


class _SignalsKillTheGroup:
    """While the CLI runs, a SIGTERM or SIGINT to us first kills its group, then does what it would have.

    Airflow's task runner handles SIGTERM by calling the operator's ``on_kill``; a TaskFlow task
    has none, so the CLI (in its own session) would be orphaned without this. Both handlers are set
    here, whatever this process inherited: a task started from a non-interactive shell's background
    job inherits SIGINT ignored, and Python then installs no KeyboardInterrupt handler of its own.

    The handlers are in place *before* the CLI starts (``with``), so no signal can come between the
    CLI running and us being ready for it. One that arrives while ``Popen`` is still starting it is
    held and acted on by ``started`` as soon as there is a process group to kill.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, grace_seconds: float) -> None:
        self._grace_seconds = grace_seconds
        self._previous: dict[int, Any] = {}
        self._proc: subprocess.Popen[Any] | None = None
        self._starting = True
        self._held: list[tuple[int, Any]] = []

    def __enter__(self) -> _SignalsKillTheGroup:
        # Signal handlers can only be set from the main thread; elsewhere run_cli's own
        # exception path still kills the group.
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.getsignal(sig) for sig in self.SIGNALS}
            for sig in self._previous:
                signal.signal(sig, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def started(self, proc: subprocess.Popen[Any] | None) -> None:
        """The CLI runs as ``proc`` (None: it could not start); act on any signal held meanwhile."""
        self._proc, self._starting = proc, False
        held, self._held = self._held, []
        for signum, frame in held:
            self._on_signal(signum, frame)

    def _on_signal(self, signum: int, frame: Any) -> None:
        if self._starting:  # Popen has not returned: no pid to signal yet
            self._held.append((signum, frame))
            return
        if self._proc is not None:
            terminate_group(self._proc, self._grace_seconds)
        before = self._previous.get(signum, signal.SIG_DFL)
        if callable(before):
            before(signum, frame)
        elif signum == signal.SIGINT:
            raise KeyboardInterrupt  # an interrupt stops the task, whatever was inherited
        elif before == signal.SIG_DFL:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGTERM)


def _pump(stream: IO[str], name: str, tail: collections.deque[str] | None) -> None:
    for raw in stream:
        line = raw.rstrip("\n")
        log.info("[lakeforge %s] %s", name, line)
        if tail is not None and line.strip():
            tail.append(line.strip())
    stream.close()


def run_cli(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    grace_seconds: float = KILL_GRACE_SECONDS,
) -> CliResult:
    """Run the CLI in its own session, stream its output to the log, and return its exit code.

    Any exception while waiting (an execution timeout, KeyboardInterrupt from SIGINT) kills the
    CLI's process group before it propagates.

    >>> run_cli(["/bin/sh", "-c", "echo oops >&2; exit 3"]).returncode
    3
    """
    started = time.monotonic()
    log.info("Running: %s", " ".join(argv))
    with _SignalsKillTheGroup(grace_seconds) as guard:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                errors="replace",
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent(),  # one prctl call: safe enough after fork
            )
        except OSError as err:  # missing or not executable: a configuration problem, not retryable
            guard.started(None)
            raise AirflowFailException(f"cannot start lakeforge CLI {argv[0]!r} (in {cwd}): {err}") from err

        tail: collections.deque[str] = collections.deque(maxlen=20)
        pumps = [
            threading.Thread(target=_pump, args=(proc.stdout, "stdout", None), daemon=True),
            threading.Thread(target=_pump, args=(proc.stderr, "stderr", tail), daemon=True),
        ]
        try:
            guard.started(proc)
            for pump in pumps:
                pump.start()
            returncode = proc.wait()
        except BaseException:
            terminate_group(proc, grace_seconds)
            raise
        finally:
            for pump, stream in zip(pumps, (proc.stdout, proc.stderr), strict=True):
                if pump.ident is not None:
                    pump.join(timeout=5)
                elif stream is not None:  # never started: nobody else closes its pipe
                    stream.close()
        # Children the CLI left in its group (it exited, they did not) must not outlive the task.
        terminate_group(proc, grace_seconds)
    return CliResult(returncode, tail[-1] if tail else "", time.monotonic() - started)


def raise_for_exit(cmd: str, result: CliResult) -> None:
    """Map the CLI's exit code to Airflow: fail now, retry later, or return on success."""
    code = result.returncode
    if code == EXIT_OK:
        return
    why = result.last_stderr_line or "(no explanation on stderr)"
    if code in NOT_RETRYABLE:
        raise AirflowFailException(
            f"lakeforge {cmd}: exit {code}, {NOT_RETRYABLE[code]} (not retried): {why}"
        )
    if code < 0:
        meaning = f"killed by signal {signal.Signals(-code).name}"
    else:
        meaning = RETRYABLE.get(code, "unexpected exit code")
    raise LakeforgeRetryableError(f"lakeforge {cmd}: exit {code}, {meaning} (retryable): {why}")


def run_date(context: Mapping[str, Any]) -> date:
    """The run's logical date; a run triggered without one uses the time it was asked to run after."""
    when: datetime | None = context.get("logical_date")
    if when is None:
        when = context["dag_run"].run_after
    return when.date()


def run_stage(
    cmd: str,
    context: Mapping[str, Any],
    *,
    wait: bool = True,
    variable: VariableGetter | None = None,
) -> CliResult:
    """Run ``lakeforge run --cmd <cmd>`` for the task's DAG run; raise unless it succeeded."""
    settings = resolve_settings(variable or airflow_variable)
    argv = build_command(settings, cmd, run_id=context["run_id"], logical_date=run_date(context), wait=wait)
    result = run_cli(argv, env=child_environment(settings), cwd=settings.project_dir)
    log.info("lakeforge %s exited with %s after %.1f s", cmd, result.returncode, result.seconds)
    raise_for_exit(cmd, result)
    return result


def stage_task_args(*, minutes: int, retries: int = 3) -> dict[str, Any]:
    """Task arguments shared by every stage: a hard timeout and retries with exponential backoff.

    ``minutes`` bounds the stage's work; each attempt may first wait ``LOCK_WAIT`` for the pipeline
    lock (``--wait-seconds``), so the timeout is their sum. Retries only matter for
    ``LakeforgeRetryableError``: ``AirflowFailException`` skips them.
    """
    return {
        "execution_timeout": timedelta(minutes=minutes) + LOCK_WAIT,
        "retries": retries,
        "retry_delay": timedelta(minutes=1),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=15),
    }


def lock_window(args: Mapping[str, Any]) -> timedelta:
    """How long a task with these arguments keeps trying to get the lock: every attempt's wait, plus the
    delays between attempts (exponential backoff, capped). Longer than the longest work of any task of
    the other DAG, a run of one DAG outlasts the other's hold of the lock instead of failing on exit 5."""
    delays = timedelta()
    for attempt in range(args["retries"]):
        delay = args["retry_delay"] * args["retry_exponential_backoff"] ** attempt
        delays += min(delay, args["max_retry_delay"])
    return LOCK_WAIT * (args["retries"] + 1) + delays
