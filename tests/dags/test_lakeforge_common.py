"""Exit codes decide between fail-now and retry; settings resolve Variable > env > default."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

CONTEXT = {"run_id": "manual__2024-05-06", "logical_date": datetime(2024, 5, 6, 13, 0, tzinfo=UTC)}


def no_variables(key: str) -> None:
    return None


@pytest.fixture
def run_fake(common, fake_cli, monkeypatch):
    """Run one stage against the fake CLI, which exits with ``code``."""

    def run(cmd: str, code: int):
        monkeypatch.setenv("FAKE_LAKEFORGE_EXIT", str(code))
        variables = {"lakeforge_cli": str(fake_cli)}
        return common.run_stage(cmd, CONTEXT, variable=variables.get)

    return run


def test_exit_0_succeeds(run_fake):
    result = run_fake("ingest", 0)

    assert result.returncode == 0
    assert result.last_stderr_line == "progress: cmd=ingest"


@pytest.mark.parametrize(
    ("code", "meaning"),
    [(2, "usage or config error"), (3, "quality gate failed"), (4, "contract violation")],
)
def test_non_retryable_exit_fails_without_retry(run_fake, code, meaning):
    with pytest.raises(AirflowFailException) as raised:
        run_fake("validate", code)

    assert str(raised.value) == (
        f"lakeforge validate: exit {code}, {meaning} (not retried): "
        f"fake lakeforge validate: failing with exit {code} as asked"
    )


@pytest.mark.parametrize(
    ("code", "meaning"),
    [(1, "pipeline error"), (5, "another run holds the pipeline lock"), (7, "unexpected exit code")],
)
def test_retryable_exit_raises_a_retryable_error(common, run_fake, code, meaning):
    with pytest.raises(common.LakeforgeRetryableError) as raised:
        run_fake("transform", code)

    assert isinstance(raised.value, AirflowException)
    assert not isinstance(raised.value, AirflowFailException)
    assert str(raised.value) == (
        f"lakeforge transform: exit {code}, {meaning} (retryable): "
        f"fake lakeforge transform: failing with exit {code} as asked"
    )


def test_killed_by_a_signal_is_retryable(common):
    result = common.CliResult(returncode=-9, last_stderr_line="", seconds=1.0)

    with pytest.raises(
        common.LakeforgeRetryableError, match=r"exit -9, killed by signal SIGKILL \(retryable\)"
    ):
        common.raise_for_exit("load", result)


def test_missing_cli_fails_without_retry(common, tmp_path):
    variables = {"lakeforge_cli": str(tmp_path / "nowhere" / "lakeforge")}

    with pytest.raises(AirflowFailException, match=r"cannot start lakeforge CLI '.*/nowhere/lakeforge'"):
        common.run_stage("ingest", CONTEXT, variable=variables.get)


def test_variable_wins_over_env_which_wins_over_default(common, tmp_path):
    env = {"LAKEFORGE_CLI": "/env/lakeforge", "LAKEFORGE_ENV": "prod", "LAKEFORGE_PROJECT_DIR": str(tmp_path)}
    variables = {"lakeforge_cli": "/variable/lakeforge", "lakeforge_lakehouse": "/lake"}

    settings = common.resolve_settings(variables.get, environ=env)

    assert settings == common.CliSettings(
        cli="/variable/lakeforge",
        config=str(tmp_path / "config" / "local.yaml"),
        env="prod",
        project_dir=str(tmp_path),
        data_env={"LAKEFORGE_LAKEHOUSE": "/lake"},
    )


def test_defaults_point_into_the_project(common):
    settings = common.resolve_settings(no_variables, environ={})
    project = common.DEFAULT_PROJECT_DIR

    assert (settings.cli, settings.config, settings.env) == (
        str(project / ".venv" / "bin" / "lakeforge"),
        str(project / "config" / "local.yaml"),
        "local",
    )


def test_cli_gets_data_paths_but_not_airflow_settings(common, fake_cli, tmp_path, monkeypatch):
    env_file = tmp_path / "env"
    monkeypatch.setenv("FAKE_LAKEFORGE_ENV_FILE", str(env_file))
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql://airflow:secret@localhost/airflow")
    monkeypatch.setenv("LAKEFORGE_LANDING", "/data/landing")
    variables = {"lakeforge_cli": str(fake_cli), "lakeforge_lakehouse": "/data/lakehouse"}

    common.run_stage("ingest", CONTEXT, variable=variables.get)

    received = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert received["LAKEFORGE_LANDING"] == "/data/landing"
    assert received["LAKEFORGE_LAKEHOUSE"] == "/data/lakehouse"
    assert not [name for name in received if name.startswith("AIRFLOW")]


def test_command_line(common):
    settings = common.CliSettings("/p/lakeforge", "/p/config/local.yaml", "local", "/p", {})

    argv = common.build_command(
        settings, "maintenance", run_id="r1", logical_date=datetime(2024, 1, 2).date(), wait=True
    )

    assert argv == [
        "/p/lakeforge", "run", "--config", "/p/config/local.yaml", "--env", "local",
        "--cmd", "maintenance", "--run-id", "r1", "--logical-date", "2024-01-02", "--wait",
    ]  # fmt: skip


def test_run_without_logical_date_uses_run_after(common):
    context = {
        "logical_date": None,
        "dag_run": SimpleNamespace(run_after=datetime(2024, 7, 8, 9, tzinfo=UTC)),
    }

    assert common.run_date(context).isoformat() == "2024-07-08"


def test_stage_task_args_retry_with_exponential_backoff(common):
    args = common.stage_task_args(minutes=30)

    assert args["execution_timeout"].total_seconds() == 1800
    assert args["retries"] == 3
    assert args["retry_exponential_backoff"] == 2.0
