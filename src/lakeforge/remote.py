"""Spark Connect: lakeforge as a thin client of a long-lived Spark driver (`lakeforge server`).

    spark = connect(settings.spark)                   # settings.spark.remote = "sc://localhost:15002"
    session_of(spark)                                 # RemoteSession(url=..., session_id=...)
    settle([RemoteSession(...)], settings.spark)      # stop what a killed client left running

A client that dies does not stop its query: the server keeps running it (a SIGKILLed client's MERGE went
on for minutes here). So every run chooses its own session id, records it with the pipeline lock, and the
next run, before it writes anything, reconnects to each session a dead run left behind, interrupts its
operations, waits until the server reports none of them running or terminating (`GetStatus`), and
releases the session. A server that is gone took its operations with it.

The token: `SPARK_CONNECT_AUTHENTICATE_TOKEN` (PySpark's own variable), else the file named by
`LAKEFORGE_SPARK_TOKEN_FILE`, else the token `lakeforge server start` wrote under the state folder. PySpark
sends a token only over TLS or to `localhost`, so a loopback address is spelled `localhost`.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from lakeforge.errors import ConfigError, LakeforgeError
from lakeforge.storage import state_dir

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from lakeforge.config.models import SparkSettings

log = logging.getLogger(__name__)

LOOPBACK = {"localhost", "127.0.0.1", "::1", "[::1]"}
# how long a client retries a server that does not answer: a restarted server has lost our session anyway
RETRIES = 5
MAX_BACKOFF_MS = 4000


class SparkUnavailable(LakeforgeError):
    """The Spark Connect server named by --remote cannot be reached (exit 1: try again)."""

    exit_code = 1
    retryable = True


@dataclass(frozen=True)
class RemoteSession:
    url: str  # sc://host:port, without parameters (never a token)
    session_id: str

    def to_dict(self) -> dict[str, str]:
        return {"url": self.url, "session_id": self.session_id}

    @classmethod
    def from_dict(cls, data: object) -> RemoteSession | None:
        if (
            isinstance(data, dict)
            and isinstance(data.get("url"), str)
            and isinstance(data.get("session_id"), str)
        ):
            return cls(data["url"], data["session_id"])
        return None


def base_url(url: str) -> str:
    """`sc://host:port` of a connection string, checked; parameters (`/;token=...`) dropped."""
    parts = urlsplit(url.split("/;", 1)[0])
    if parts.scheme != "sc" or not parts.hostname:
        raise ConfigError(
            f"--remote {base_url_for_message(url)!r} is not a Spark Connect URL like sc://localhost:15002"
        )
    port = parts.port or 15002
    return f"sc://{parts.hostname}:{port}"


def base_url_for_message(url: str) -> str:
    return url.split("/;", 1)[0]


def _params(url: str) -> dict[str, str]:
    if "/;" not in url:
        return {}
    out = {}
    for item in url.split("/;", 1)[1].split(";"):
        key, _, value = item.partition("=")
        if key:
            out[key] = value
    return out


def _token(url: str) -> str | None:
    if os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN"):
        return os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"]
    named = os.environ.get("LAKEFORGE_SPARK_TOKEN_FILE")
    candidates = [Path(named)] if named else []
    host = urlsplit(url).hostname or ""
    if not named and host in LOOPBACK:
        candidates.append(state_dir() / "server" / "token")
    for path in candidates:
        try:
            return path.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            if named:
                raise ConfigError(f"LAKEFORGE_SPARK_TOKEN_FILE names {path}, which does not exist") from None
    return None


def connection_string(url: str, session_id: str) -> str:
    """The URL the client dials: our session id, the token when there is one (loopback as `localhost`)."""
    base = base_url(url)
    params = {k: v for k, v in _params(url).items() if k not in ("session_id", "token")}
    token = _params(url).get("token") or _token(base)
    if token:
        host = urlsplit(base).hostname or ""
        if host in LOOPBACK:
            base = f"sc://localhost:{urlsplit(base).port}"
        params["token"] = token
    params["session_id"] = session_id
    return base + "/;" + ";".join(f"{k}={v}" for k, v in params.items())


def _short_retries(spark: Any) -> None:
    from pyspark.sql.connect.client.retries import DefaultPolicy

    spark.client.set_retry_policies([DefaultPolicy(max_retries=RETRIES, max_backoff=MAX_BACKOFF_MS)])  # type: ignore[attr-defined]


def _open(url: str, session_id: str) -> SparkSession:
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    # PySpark picks Connect or classic Columns and functions process-wide by this variable (what
    # `SparkSession.builder.remote()` sets): a process is a Connect client or an embedded driver, not both
    os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
    spark = ConnectSession.builder.remote(connection_string(url, session_id)).create()
    _short_retries(spark)
    return spark  # type: ignore[return-value]  # the Connect session is a drop-in SparkSession


def _unreachable(exc: BaseException) -> bool:
    text = f"{type(exc).__name__} {exc}"
    return "UNAVAILABLE" in text or "Connection refused" in text or "failed to connect" in text.lower()


def _session_ended(exc: BaseException) -> bool:
    """The server no longer has the session (released, or the server restarted): nothing of it runs."""
    text = str(exc)
    return "SESSION_CLOSED" in text or "SESSION_NOT_FOUND" in text or "SESSION_CHANGED" in text


def connect(settings: SparkSettings) -> SparkSession:
    """A Spark Connect session of our own (a fresh session id) on `settings.remote`, configured like an
    embedded one: the server holds the static settings, the session gets the runtime ones."""
    from lakeforge.spark import RUNTIME_CONF, session_conf

    assert settings.remote
    url = base_url(settings.remote)
    session_id = str(uuid.uuid4())
    try:
        spark = _open(settings.remote, session_id)
        conf = session_conf(settings)
        for key in RUNTIME_CONF:
            spark.conf.set(key, conf[key])
        for key, value in settings.conf.items():  # the user's own settings, where a session may set them
            if key not in RUNTIME_CONF and spark.conf.isModifiable(key):
                spark.conf.set(key, value)
    except LakeforgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - grpc and PySpark raise several types for one cause
        if _unreachable(exc):
            raise SparkUnavailable(
                f"cannot reach the Spark Connect server at {url}",
                hint="start it with `lakeforge server start`, or run without --remote / LAKEFORGE_SPARK_REMOTE "
                "to use an embedded Spark",
            ) from exc
        raise
    # Libraries that ask PySpark's builder for "the" session (Great Expectations' Spark source) must get this
    # one: in Connect mode the builder wants a URL, then hands out the default session, ours (no token here)
    os.environ["SPARK_REMOTE"] = url
    spark._lakeforge_session = RemoteSession(url, session_id)  # type: ignore[attr-defined]
    log.info("connected to %s (session %s)", url, session_id)
    return spark


def session_of(spark: SparkSession) -> RemoteSession | None:
    found = getattr(spark, "_lakeforge_session", None)
    return found if isinstance(found, RemoteSession) else None


def release(spark: SparkSession) -> None:
    """End our session on the server (its cached state is freed); a failure only costs the server memory."""
    try:
        spark.stop()
    except Exception as exc:  # noqa: BLE001 - the run's outcome is already decided
        log.warning("could not release the Spark Connect session: %s", exc)
    _forget(spark)


def _forget(spark: Any) -> None:
    """Keep a closed session's `__del__` from closing its gRPC channel again: run at interpreter exit, that
    second close waited forever for gRPC's polling thread, already gone (a CLI hung at exit here)."""
    spark._client = None


# The server reports an operation RUNNING until its execution has ended (pending, started, analysed, ready);
# TERMINATING is finished, failed or cancelled with only its cached results left to clean up, which the
# server keeps until the client releases them or a detached-operation timeout (minutes) reaps them.
ACTIVE_STATES = ("OPERATION_STATE_RUNNING",)


def _active(client: Any) -> list[str]:
    from pyspark.sql.connect.proto import base_pb2

    names = base_pb2.GetStatusResponse.OperationStatus.OperationState.Name
    response = client._get_operation_statuses()
    return [s.operation_id for s in response.operation_statuses if names(s.state) in ACTIVE_STATES]


def settle(sessions: list[RemoteSession], timeout_s: float = 600.0, poll_s: float = 0.5) -> None:
    """Stop whatever the sessions of a dead client still run, and wait until the server says it stopped.

    Raises SparkUnavailable when a server answers but its operations do not end within `timeout_s`: the
    next run must not write beside them. A server that does not answer at all has died, and its operations
    with it.
    """
    mode = os.environ.get("SPARK_CONNECT_MODE_ENABLED")
    try:
        _settle(sessions, timeout_s, poll_s)
    finally:  # an embedded run settles a remote predecessor's sessions, then starts its own JVM
        if mode is None:
            os.environ.pop("SPARK_CONNECT_MODE_ENABLED", None)


def _settle(sessions: list[RemoteSession], timeout_s: float, poll_s: float) -> None:
    for orphan in sessions:
        try:
            spark = _open(orphan.url, orphan.session_id)
        except Exception as exc:  # noqa: BLE001 - see _unreachable
            if _unreachable(exc):
                log.warning(
                    "the Spark Connect server %s of an interrupted run is gone: nothing left to stop",
                    orphan.url,
                )
                continue
            raise
        client = spark.client  # type: ignore[attr-defined]
        try:
            interrupted = client.interrupt_all() or []
            deadline = time.monotonic() + timeout_s
            active = _active(client)
            if interrupted or active:
                log.warning(
                    "an interrupted run left %d operation(s) running on %s (session %s): stopping them",
                    len(set(interrupted) | set(active)), orphan.url, orphan.session_id,
                    extra={"event": "lock_wait"},
                )  # fmt: skip
            while active:
                if time.monotonic() >= deadline:
                    raise SparkUnavailable(
                        f"operations {active} of session {orphan.session_id} on {orphan.url} did not stop "
                        f"within {timeout_s:.0f}s of being interrupted",
                        hint="restart the server (`lakeforge server stop` and `start`), then run again",
                    )
                time.sleep(poll_s)
                active = _active(client)
            client.release_session()
        except LakeforgeError:
            raise
        except Exception as exc:  # noqa: BLE001 - see _unreachable
            if _session_ended(exc):
                continue
            if not _unreachable(exc):
                raise
            log.warning(
                "the Spark Connect server %s went away while settling: its operations went with it",
                orphan.url,
            )
        finally:
            # stop() closes the channel and unsets the default session PySpark's builder hands out: left as
            # the default, this closed session was what Great Expectations' Spark source got next ("Attempt
            # to connect to datasource failed")
            spark.release_session_on_close = False  # type: ignore[attr-defined]  # released above, or gone
            spark.stop()
            _forget(spark)
