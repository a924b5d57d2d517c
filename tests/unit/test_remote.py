"""Spark Connect client and server pieces that need no server: URLs, tokens, the server's command line,
and the lock carrying a killed run's session over to the next holder until it is settled."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from lakeforge import remote, server
from lakeforge.config.models import SparkSettings
from lakeforge.errors import ConfigError
from lakeforge.pipeline.lock import PipelineLock


@pytest.fixture
def no_token_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in ("SPARK_CONNECT_AUTHENTICATE_TOKEN", "LAKEFORGE_SPARK_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEFORGE_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_base_url_keeps_host_and_port_and_drops_parameters() -> None:
    assert remote.base_url("sc://example.org:1234/;token=secret;x=1") == "sc://example.org:1234"
    assert remote.base_url("sc://example.org") == "sc://example.org:15002"
    for bad in ("http://example.org:15002", "example.org:15002", "sc://:15002"):
        with pytest.raises(ConfigError, match="not a Spark Connect URL"):
            remote.base_url(bad)


def test_connection_string_without_a_token_only_adds_our_session(no_token_env: Path) -> None:
    url = remote.connection_string("sc://10.0.0.5:15002/;session_id=theirs", "ours")
    assert url == "sc://10.0.0.5:15002/;session_id=ours"


def test_a_loopback_server_token_is_read_from_the_state_folder(no_token_env: Path) -> None:
    (no_token_env / "server").mkdir(parents=True)
    (no_token_env / "server" / "token").write_text("s3cret\n")
    # PySpark sends a token without TLS only to `localhost`: 127.0.0.1 is spelled so
    assert (
        remote.connection_string("sc://127.0.0.1:15010", "sid")
        == "sc://localhost:15010/;token=s3cret;session_id=sid"
    )
    # the state folder's token never goes to another host
    assert remote.connection_string("sc://10.0.0.5:15010", "sid") == "sc://10.0.0.5:15010/;session_id=sid"


def test_the_environment_token_wins_and_a_named_token_file_must_exist(
    no_token_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LAKEFORGE_SPARK_TOKEN_FILE", str(tmp_path / "missing"))
    with pytest.raises(ConfigError, match="does not exist"):
        remote.connection_string("sc://localhost:1", "sid")
    (tmp_path / "missing").write_text("fromfile")
    assert (
        remote.connection_string("sc://localhost:1", "sid")
        == "sc://localhost:1/;token=fromfile;session_id=sid"
    )
    monkeypatch.setenv("SPARK_CONNECT_AUTHENTICATE_TOKEN", "fromenv")
    assert (
        remote.connection_string("sc://localhost:1", "sid")
        == "sc://localhost:1/;token=fromenv;session_id=sid"
    )


def test_remote_session_round_trips_and_rejects_junk() -> None:
    s = remote.RemoteSession("sc://localhost:1", "abc")
    assert remote.RemoteSession.from_dict(json.loads(json.dumps(s.to_dict()))) == s
    assert remote.RemoteSession.from_dict({"url": 1}) is None
    assert remote.RemoteSession.from_dict("x") is None


def test_server_command_carries_our_settings_and_no_secret(no_token_env: Path, tmp_path: Path) -> None:
    settings = SparkSettings(
        master="local[2]", shuffle_partitions=3, driver_memory="1g", conf={"spark.x": "y"}
    )
    cmd = server.command(settings, "127.0.0.1", 15010, tmp_path / "log4j2.properties")
    assert cmd[0].endswith("/bin/spark-submit") and Path(cmd[0]).is_file()
    assert cmd[cmd.index("--class") + 1] == server.SERVER_CLASS
    assert cmd[cmd.index("--master") + 1] == "local[2]"
    assert cmd[cmd.index("--driver-memory") + 1] == "1g"
    confs = dict(c.split("=", 1) for c in cmd[1:] if "=" in c and c.startswith("spark."))
    assert confs["spark.connect.grpc.binding.address"] == "127.0.0.1"
    assert confs["spark.connect.grpc.binding.port"] == "15010"
    assert confs["spark.sql.shuffle.partitions"] == "3"
    assert confs["spark.sql.extensions"] == "io.delta.sql.DeltaSparkSessionExtension"
    assert confs["spark.x"] == "y"
    assert "-Dlog4j2.configurationFile=file:" in cmd[cmd.index("--driver-java-options") + 1]
    assert cmd[-1].endswith(".jar") and "spark-connect" in cmd[-1]
    assert not any("token" in c.lower() for c in cmd)


def test_server_token_is_private_and_only_in_the_environment(no_token_env: Path) -> None:
    state = server.default_state()
    secret = server._token_for("127.0.0.1", state, None)
    assert secret and len(secret) >= 40
    assert state.token_file.read_text().strip() == secret
    assert oct(state.token_file.stat().st_mode & 0o777) == "0o600"
    assert server.environment(secret)["SPARK_CONNECT_AUTHENTICATE_TOKEN"] == secret
    assert "SPARK_CONNECT_AUTHENTICATE_TOKEN" not in server.environment(None)
    # other interfaces: none unless asked (PySpark would only send it over TLS)
    assert server._token_for("0.0.0.0", state, None) is None
    assert server._token_for("0.0.0.0", state, True)


def test_server_status_and_stop_without_a_server(no_token_env: Path) -> None:
    assert server.status() == {"running": False}
    assert server.stop() is None


def test_a_killed_runs_session_passes_to_the_next_holder_until_settled(tmp_path: Path) -> None:
    path = tmp_path / "pipeline.lock"
    first = PipelineLock(path, holder="run 1")
    first.acquire()
    first.record_remote({"url": "sc://localhost:1", "session_id": "s1"})
    # killed: the file keeps its content, the kernel frees the flock
    import fcntl

    assert first._fd is not None
    fcntl.flock(first._fd, fcntl.LOCK_UN)
    os.close(first._fd)
    first._fd = None

    second = PipelineLock(path, holder="run 2")
    second.acquire()
    assert second.orphans == [{"url": "sc://localhost:1", "session_id": "s1"}]
    second.record_remote({"url": "sc://localhost:1", "session_id": "s2"})
    assert second._fd is not None
    fcntl.flock(second._fd, fcntl.LOCK_UN)  # killed before it settled: both sessions go on to the third
    os.close(second._fd)
    second._fd = None

    third = PipelineLock(path, holder="run 3")
    third.acquire()
    assert [o["session_id"] for o in third.orphans] == ["s1", "s2"]
    third.settled()
    assert third.orphans == []
    assert "orphan_sessions" not in json.loads(path.read_text())
    third.release()

    fourth = PipelineLock(path, holder="run 4")  # a clean release leaves nothing to settle
    fourth.acquire()
    assert fourth.orphans == []
    fourth.release()
