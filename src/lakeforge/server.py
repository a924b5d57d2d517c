"""`lakeforge server`: one warm Spark driver (a Spark Connect server) that thin `lakeforge run --remote`
clients share, so an Airflow task pays no JVM start.

    lakeforge server start --config config/local.yaml      # background; pid, log, token in .lakeforge/server
    lakeforge server status
    lakeforge server stop
    lakeforge server run --host 0.0.0.0 --port 15002       # foreground, for a container

The server is `org.apache.spark.sql.connect.service.SparkConnectServer` (its jar ships in PySpark's wheel),
started by PySpark's own `spark-submit` with the Delta jars from our cache and the same settings an
embedded session gets (`lakeforge.spark.session_conf`). It binds to loopback unless told otherwise. On
loopback it requires a token (Spark's `SPARK_CONNECT_AUTHENTICATE_TOKEN`), generated at start into a file
only its owner can read; clients on this machine find it there. Its Python workers run this interpreter,
where lakeforge is installed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from lakeforge.config.models import SparkSettings
from lakeforge.errors import ConfigError, LakeforgeError
from lakeforge.procs import alive, start_time
from lakeforge.remote import LOOPBACK, state_dir

log = logging.getLogger(__name__)

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
DEFAULT_PORT = 15002
LOG4J = """\
# written by lakeforge server: warnings and errors only (Spark's INFO log grows by megabytes an hour)
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd'T'HH:mm:ss.SSSZ} %p %c{1}: %m%n%ex
logger.connect.name = org.apache.spark.sql.connect.service.SparkConnectServer
logger.connect.level = info
"""


class ServerError(LakeforgeError):
    """The Spark Connect server could not be started or stopped (exit 1)."""


@dataclass
class ServerState:
    folder: Path

    @property
    def pid_file(self) -> Path:
        return self.folder / "server.json"

    @property
    def log_file(self) -> Path:
        return self.folder / "server.log"

    @property
    def token_file(self) -> Path:
        return self.folder / "token"

    @property
    def log4j_file(self) -> Path:
        return self.folder / "log4j2.properties"

    def read(self) -> dict[str, object] | None:
        try:
            info = json.loads(self.pid_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) else None


def default_state() -> ServerState:
    return ServerState(state_dir() / "server")


def _pyspark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def connect_jar() -> Path:
    jars = sorted((_pyspark_home() / "jars").glob("spark-connect_*.jar"))
    if not jars:
        raise ServerError(f"PySpark at {_pyspark_home()} carries no spark-connect jar")
    return jars[-1]


def command(settings: SparkSettings, host: str, port: int, log4j: Path | None) -> list[str]:
    """The `spark-submit` command line of the server (no secret on it: the token goes by environment)."""
    from lakeforge.spark import session_conf

    conf = session_conf(settings)
    driver_opts = conf.pop("spark.driver.extraJavaOptions", "")
    if log4j is not None:
        driver_opts = f"{driver_opts} -Dlog4j2.configurationFile=file:{log4j}".strip()
    cmd = [
        str(_pyspark_home() / "bin" / "spark-submit"),
        "--master", settings.master,
        "--name", f"{settings.app_name}-connect",
        "--class", SERVER_CLASS,
        "--driver-memory", conf.pop("spark.driver.memory"),
        "--driver-java-options", driver_opts,
        "--conf", f"spark.connect.grpc.binding.address={host}",
        "--conf", f"spark.connect.grpc.binding.port={port}",
    ]  # fmt: skip
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(connect_jar())]


def environment(token: str | None) -> dict[str, str]:
    from lakeforge.spark import _utf8_for_the_jvm

    env = dict(os.environ)
    env.pop("SPARK_CONNECT_AUTHENTICATE_TOKEN", None)
    if token:
        env["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = token
    env["SPARK_HOME"] = str(_pyspark_home())
    env["PYSPARK_PYTHON"] = sys.executable
    env["TZ"] = "UTC"
    _utf8_for_the_jvm(env)
    return env


def _token_for(host: str, state: ServerState, token: bool | None) -> str | None:
    """A token on loopback (or when asked for); none on other interfaces unless asked, since PySpark sends a
    token only over TLS there (restrict who can reach the port instead: a NetworkPolicy, a private network)."""
    wanted = host in LOOPBACK if token is None else token
    if not wanted:
        return None
    if os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN"):
        return os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"]
    value = secrets.token_urlsafe(32)
    state.folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(state.token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _listening(host: str, port: int) -> bool:
    try:
        # bandit B104: a wildcard host is compared here to connect to loopback instead; nothing binds
        with socket.create_connection(("127.0.0.1" if host in ("0.0.0.0", "::") else host, port), timeout=1):  # nosec B104
            return True
    except OSError:
        return False


def _alive(info: dict[str, object]) -> bool:
    pid = info.get("pid")
    start = info.get("start")
    return isinstance(pid, int) and alive(pid, start if isinstance(start, str) else None)


def url_of(host: str, port: int) -> str:
    return f"sc://{'localhost' if host in LOOPBACK else host}:{port}"


def run(settings: SparkSettings, host: str, port: int, token: bool | None = None) -> None:
    """Replace this process with the server (a container's main process)."""
    state = default_state()
    state.folder.mkdir(parents=True, exist_ok=True)
    state.log4j_file.write_text(LOG4J, encoding="utf-8")
    secret = _token_for(host, state, token)
    if secret is None and host not in LOOPBACK:
        log.warning(
            "the Spark Connect server on %s:%d takes no token: only trusted peers may reach it", host, port
        )
    cmd = command(settings, host, port, state.log4j_file)
    os.execve(cmd[0], cmd, environment(secret))  # noqa: S606 - our own spark-submit, argv list, no shell


def start(
    settings: SparkSettings, host: str, port: int, wait_s: float = 180.0, token: bool | None = None
) -> dict[str, object]:
    """Start the server in the background (its own process group) and wait until it listens."""
    from lakeforge.spark import java_version

    java_version()
    state = default_state()
    found = state.read()
    if found and _alive(found):
        raise ServerError(
            f"a Spark Connect server already runs (pid {found.get('pid')}, {found.get('url')})",
            hint="`lakeforge server stop` first, or use it as it is",
        )
    if _listening(host, port):
        raise ServerError(f"port {port} on {host} is already taken", hint="choose another with --port")
    state.folder.mkdir(parents=True, exist_ok=True)
    state.log4j_file.write_text(LOG4J, encoding="utf-8")
    secret = _token_for(host, state, token)
    cmd = command(settings, host, port, state.log4j_file)
    with open(state.log_file, "ab") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own spark-submit, argv list, no shell
            cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, env=environment(secret),
            start_new_session=True, cwd=state.folder,
        )  # fmt: skip
    info: dict[str, object] = {
        "pid": proc.pid,
        "start": start_time(proc.pid),
        "host": host,
        "port": port,
        "url": url_of(host, port),
        "token_file": str(state.token_file) if secret else None,
        "log": str(state.log_file),
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    state.pid_file.write_text(json.dumps(info), encoding="utf-8")
    deadline = time.monotonic() + wait_s
    while not _listening(host, port):
        if proc.poll() is not None:
            state.pid_file.unlink(missing_ok=True)
            raise ServerError(
                f"the Spark Connect server exited with {proc.returncode} before listening on {host}:{port}",
                hint=f"see {state.log_file}",
            )
        if time.monotonic() >= deadline:
            _kill_group(proc.pid, 10.0)
            state.pid_file.unlink(missing_ok=True)
            raise ServerError(
                f"the Spark Connect server did not listen within {wait_s:.0f}s", hint=f"see {state.log_file}"
            )
        time.sleep(0.2)
    info["listening_after_s"] = round(time.monotonic() - deadline + wait_s, 2)
    return info


def _kill_group(pid: int, timeout_s: float) -> bool:
    """SIGTERM the server's process group, SIGKILL it after `timeout_s`; True once it is gone."""
    try:
        os.killpg(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not alive(pid, None):
            return True
        time.sleep(0.2)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return True
    time.sleep(0.5)
    return not alive(pid, None)


def stop(timeout_s: float = 30.0) -> dict[str, object] | None:
    """Stop the server this project started; None when none runs."""
    state = default_state()
    info = state.read()
    if info is None or not _alive(info):
        state.pid_file.unlink(missing_ok=True)
        return None
    pid = info["pid"]
    assert isinstance(pid, int)
    if not _kill_group(pid, timeout_s):
        raise ServerError(f"the Spark Connect server (pid {pid}) did not stop")
    state.pid_file.unlink(missing_ok=True)
    return info


def status() -> dict[str, object]:
    state = default_state()
    info = state.read()
    if info is None:
        return {"running": False}
    running = _alive(info)
    host, port = info.get("host"), info.get("port")
    listening = running and isinstance(host, str) and isinstance(port, int) and _listening(host, port)
    return {**info, "running": running, "listening": listening}


def parse_host_port(host: str, port: int) -> tuple[str, int]:
    if not 0 < port < 65536:
        raise ConfigError(f"--port {port} is not a TCP port")
    return host, port
