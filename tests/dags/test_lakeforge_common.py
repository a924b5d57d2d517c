"""Exit codes decide between fail-now and retry; settings resolve Variable > env > default, within
the rules (executable and project from the deployment only, config inside <project>/config/); the
CLI gets an allow-listed environment only."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import AirflowException, AirflowFailException

CONTEXT = {"run_id": "manual__2024-05-06", "logical_date": datetime(2024, 5, 6, 13, 0, tzinfo=UTC)}


def no_variables(key: str) -> None:
    return None


@pytest.fixture
def run_fake(common, fake_cli, tell_fake, monkeypatch):
    """Run one stage against the fake CLI, which exits with ``code``."""

    def run(cmd: str, code: int):
        monkeypatch.setenv("LAKEFORGE_CLI", str(fake_cli))
        tell_fake(EXIT=str(code))
        return common.run_stage(cmd, CONTEXT, variable=no_variables)

    return run


@pytest.fixture
def project(tmp_path):
    """A project folder whose config/ holds local.yaml and prod.yaml."""
    root = tmp_path / "project"
    (root / "config").mkdir(parents=True)
    for name in ("local.yaml", "prod.yaml"):
        (root / "config" / name).write_text("{}\n")
    return root


@pytest.fixture
def deployed(project, fake_cli, tell_fake, tmp_path, monkeypatch):
    """The deployment's environment names ``project`` and the fake CLI; returns the CLI's args file."""
    monkeypatch.setenv("LAKEFORGE_PROJECT_DIR", str(project))
    monkeypatch.setenv("LAKEFORGE_CLI", str(fake_cli))
    args_file = tmp_path / "args"
    tell_fake(ARGS_FILE=str(args_file))
    return args_file


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


def test_missing_cli_fails_without_retry(common, tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEFORGE_CLI", str(tmp_path / "nowhere" / "lakeforge"))

    with pytest.raises(AirflowFailException, match=r"cannot start lakeforge CLI '.*/nowhere/lakeforge'"):
        common.run_stage("ingest", CONTEXT, variable=no_variables)


def test_variable_wins_over_env_which_wins_over_default(common, project):
    env = {
        "LAKEFORGE_CLI": "/env/lakeforge",
        "LAKEFORGE_PROJECT_DIR": str(project),
        "LAKEFORGE_CONFIG": "config/local.yaml",
        "LAKEFORGE_ENV": "prod",
        "LAKEFORGE_LANDING": "/env/landing",
    }
    variables = {"lakeforge_config": "config/prod.yaml", "lakeforge_lakehouse": "/lake"}

    settings = common.resolve_settings(variables.get, environ=env)

    assert settings == common.CliSettings(
        cli="/env/lakeforge",
        config=str(project / "config" / "prod.yaml"),
        env="prod",
        project_dir=str(project),
        data_env={"LAKEFORGE_LANDING": "/env/landing", "LAKEFORGE_LAKEHOUSE": "/lake"},
    )


def test_defaults_point_into_the_project(common):
    settings = common.resolve_settings(no_variables, environ={})
    project = common.DEFAULT_PROJECT_DIR

    assert (settings.cli, settings.config, settings.env) == (
        str(project / ".venv" / "bin" / "lakeforge"),
        str(project / "config" / "local.yaml"),
        "local",
    )


# --- the CLI's environment is an allow-list ------------------------------------------------------

# What the task's environment holds under Airflow and must stay there: the stack's secrets
# (scripts/airflow/lib.sh load_secrets, the keys of .airflow/secrets.env) and its other settings,
# what lib.sh's airflow_env exports from them, connections, variables, Airflow's internals, cloud
# credentials, any password or token, and the DAG's own settings (the CLI gets those as arguments).
WITHHELD = {
    "LAKEFORGE_AIRFLOW_DB_PASSWORD": "s3cr3t-db-password",
    "LAKEFORGE_AIRFLOW_ADMIN_PASSWORD": "s3cr3t-admin-password",
    "LAKEFORGE_AIRFLOW_JWT_SECRET": "s3cr3t-jwt",
    "LAKEFORGE_AIRFLOW_API_SECRET_KEY": "s3cr3t-api-key",
    "LAKEFORGE_AIRFLOW_FERNET_KEY": "s3cr3t-fernet",
    "LAKEFORGE_AIRFLOW_DB_PORT": "55432",
    "LAKEFORGE_AIRFLOW_PORT": "8080",
    "LAKEFORGE_AIRFLOW_HOST": "127.0.0.1",
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://airflow:s3cr3t-db-password@127.0.0.1/airflow",
    "AIRFLOW__CORE__FERNET_KEY": "s3cr3t-fernet",
    "AIRFLOW__API__SECRET_KEY": "s3cr3t-api-key",
    "AIRFLOW__API_AUTH__JWT_SECRET": "s3cr3t-jwt",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "/srv/airflow/passwords.json",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "http://localhost:8080/execution/",
    "AIRFLOW_CONN_WAREHOUSE": "postgres://etl:s3cr3t-conn@db/warehouse",
    "AIRFLOW_VAR_LAKEFORGE_LAKEHOUSE": "/from/an/airflow/var",
    "AIRFLOW_HOME": "/srv/airflow",
    "_AIRFLOW_PARSING_CONTEXT_DAG_ID": "lakeforge_medallion",
    "AWS_ACCESS_KEY_ID": "s3cr3t-aws-key-id",
    "AWS_SECRET_ACCESS_KEY": "s3cr3t-aws-secret",
    "AWS_SESSION_TOKEN": "s3cr3t-aws-session",
    "FOO_PASSWORD": "s3cr3t-foo-password",
    "FOO_TOKEN": "s3cr3t-foo-token",
    "LAKEFORGE_CRASH_AT": "commit:silver.orders:after",
    "SPARK_HOME": "/opt/another-spark",
    "PYTHONPATH": "/srv/airflow/dags",
    "TZ": "Europe/Paris",
    "SHELL": "/bin/bash",
}


def allowed_env(tmp_path) -> dict[str, str]:
    """One value for every allow-listed name (CHILD_ENV_NAMES, two LC_* names) and one data path."""
    return {
        "PATH": os.environ["PATH"],  # the fake CLI runs `cat`
        "HOME": "/home/etl",
        "USER": "etl",
        "LOGNAME": "etl",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "LC_NUMERIC": "C",
        "TMPDIR": str(tmp_path),
        "JAVA_HOME": "/usr/lib/jvm/java-17",
        "LAKEFORGE_JARS_CACHE": "/cache/ivy",
        "XDG_CACHE_HOME": "/cache",
        "LAKEFORGE_SPARK_MASTER": "local[2]",
        "LAKEFORGE_PUSHGATEWAY_URL": "http://pushgateway:9091",
        "PYSPARK_PYTHON": "/srv/lakeforge/.venv/bin/python",
        "HADOOP_CONF_DIR": "/etc/hadoop/conf",
        "YARN_CONF_DIR": "/etc/hadoop/conf.yarn",
        "LAKEFORGE_STATE_DIR": "/srv/lakeforge/.lakeforge",
        "LAKEFORGE_SPARK_TOKEN_FILE": "/srv/lakeforge/.lakeforge/server/token",
        "SPARK_CONNECT_AUTHENTICATE_TOKEN": "token-the-cli-needs-for-the-server",
        "LAKEFORGE_LANDING": "/data/landing",
    }


def test_the_allow_list_is_the_reviewed_one(common, tmp_path):
    """Adding a name to the CLI's environment means adding it here too, on purpose."""
    names = set(allowed_env(tmp_path)) - {"LC_ALL", "LC_NUMERIC", *common.FORWARDED_DATA_VARS}

    assert common.CHILD_ENV_NAMES == names
    assert common.CHILD_ENV_PREFIXES == ("LC_",)
    assert not set(WITHHELD) & common.CHILD_ENV_NAMES


def test_cli_gets_the_allow_listed_environment_and_no_secret(
    common, project, fake_cli, tell_fake, tmp_path, monkeypatch
):
    env_file = tmp_path / "env"
    tell_fake(ENV_FILE=str(env_file))
    allowed = allowed_env(tmp_path)
    task_env = {
        **WITHHELD,
        **allowed,
        "LAKEFORGE_CLI": str(fake_cli),
        "LAKEFORGE_PROJECT_DIR": str(project),
        "LAKEFORGE_CONFIG": "config/prod.yaml",
        "LAKEFORGE_ENV": "local",
    }
    for name in list(os.environ):  # the task's environment is exactly task_env
        monkeypatch.delenv(name)
    for name, value in task_env.items():
        monkeypatch.setenv(name, value)
    variables = {"lakeforge_lakehouse": "/data/lakehouse"}

    common.run_stage("ingest", CONTEXT, variable=variables.get)

    entries = env_file.read_text().split("\0")
    assert entries[-1] == ""  # each entry ends with a NUL
    received = dict(entry.split("=", 1) for entry in entries[:-1])
    assert received == {**allowed, "LAKEFORGE_LAKEHOUSE": "/data/lakehouse"}
    assert [value for value in received.values() if "s3cr3t" in value] == []


# --- Variables cannot choose the executable, the project or a config outside config/ ----------


@pytest.mark.parametrize("deployment", ["env", "default"])
def test_variable_naming_another_executable_fails_the_task(
    common, project, fake_cli, tell_fake, tmp_path, monkeypatch, deployment
):
    args_file = tmp_path / "args"
    tell_fake(ARGS_FILE=str(args_file))
    monkeypatch.setenv("LAKEFORGE_PROJECT_DIR", str(project))
    if deployment == "env":
        monkeypatch.setenv("LAKEFORGE_CLI", str(fake_cli))
        expected_cli = fake_cli
    else:
        expected_cli = project / ".venv" / "bin" / "lakeforge"
    other = tmp_path / "other"
    other.write_text(f"#!/bin/sh\ntouch {tmp_path / 'other-ran'}\n")
    other.chmod(0o755)
    variables = {"lakeforge_cli": str(other)}

    with pytest.raises(AirflowFailException) as raised:
        common.run_stage("ingest", CONTEXT, variable=variables.get)

    assert str(raised.value) == (
        f"Airflow Variable lakeforge_cli={str(other)!r} refused: only the deployment's environment "
        f"chooses this path (env LAKEFORGE_CLI, else <project>/.venv/bin/lakeforge), here "
        f"{str(expected_cli)!r}; delete the Variable (not retried)"
    )
    assert not (tmp_path / "other-ran").exists()
    assert not args_file.exists()


def test_variable_naming_the_deployed_executable_is_harmless(common, fake_cli, deployed):
    variables = {"lakeforge_cli": str(fake_cli)}  # scripts/airflow/e2e.sh sets it so

    common.run_stage("ingest", CONTEXT, variable=variables.get)

    assert deployed.read_text().split()[:2] == ["run", "--config"]


def test_variable_naming_another_project_fails_the_task(common, project, tmp_path, deployed):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "config").mkdir(parents=True)
    variables = {"lakeforge_project_dir": str(elsewhere)}

    with pytest.raises(AirflowFailException) as raised:
        common.run_stage("ingest", CONTEXT, variable=variables.get)

    assert str(raised.value) == (
        f"Airflow Variable lakeforge_project_dir={str(elsewhere)!r} refused: only the deployment's "
        f"environment chooses this path (env LAKEFORGE_PROJECT_DIR, else the folder above dags/), "
        f"here {str(project)!r}; delete the Variable (not retried)"
    )
    assert not deployed.exists()


@pytest.mark.parametrize(
    ("source", "value", "resolved", "problem"),
    [
        ("variable", "../../etc/passwd", lambda root, tmp: tmp.parent / "etc" / "passwd", "outside it"),
        ("variable", "/etc/passwd", lambda root, tmp: "/etc/passwd", "outside it"),
        ("env", "/etc/passwd", lambda root, tmp: "/etc/passwd", "outside it"),
        ("variable", "config/../../outside.yaml", lambda root, tmp: tmp / "outside.yaml", "outside it"),
        ("variable", "config/escape.yaml", lambda root, tmp: tmp / "outside.yaml", "outside it"),
        ("env", "config/etc/passwd", lambda root, tmp: "/etc/passwd", "outside it"),
        ("variable", "config/missing.yaml", lambda root, tmp: root / "config" / "missing.yaml", "not a file"),
        ("env", "config", lambda root, tmp: root / "config", "not a file"),
    ],
    ids=[
        "dotdot-variable",
        "absolute-variable",
        "absolute-env",
        "dotdot-through-config",
        "symlinked-file-pointing-outside",
        "symlinked-folder-pointing-outside",
        "missing-file",
        "the-folder-itself",
    ],
)
def test_config_outside_the_config_folder_fails_the_task(
    common, project, tmp_path, deployed, monkeypatch, source, value, resolved, problem
):
    (tmp_path / "outside.yaml").write_text("{}\n")
    (project / "config" / "escape.yaml").symlink_to(tmp_path / "outside.yaml")
    (project / "config" / "etc").symlink_to("/etc")
    variables = {}
    if source == "variable":
        variables["lakeforge_config"] = value
        named = "Airflow Variable lakeforge_config"
    else:
        monkeypatch.setenv("LAKEFORGE_CONFIG", value)
        named = "env LAKEFORGE_CONFIG"

    with pytest.raises(AirflowFailException) as raised:
        common.run_stage("ingest", CONTEXT, variable=variables.get)

    assert str(raised.value) == (
        f"lakeforge config {value!r} (from {named}) refused: it resolves to "
        f"{str(resolved(project, tmp_path))!r}, {problem}; a config must be a file inside "
        f"{str(project / 'config')!r} (symlinks and '..' followed) (not retried)"
    )
    assert not deployed.exists()


@pytest.mark.parametrize(
    ("source", "value"),
    [
        ("variable", "config/prod.yaml"),
        ("variable", "<project>/config/prod.yaml"),
        ("env", "config/../config/./prod.yaml"),
        ("variable", "config/alias.yaml"),  # a symlink to prod.yaml, inside config/
    ],
)
def test_config_inside_the_config_folder_runs_with_its_resolved_path(
    common, project, deployed, monkeypatch, source, value
):
    (project / "config" / "alias.yaml").symlink_to("prod.yaml")
    value = value.replace("<project>", str(project))
    variables = {"lakeforge_config": value} if source == "variable" else {}
    if source == "env":
        monkeypatch.setenv("LAKEFORGE_CONFIG", value)

    common.run_stage("ingest", CONTEXT, variable=variables.get)

    args = deployed.read_text().split()
    assert args[args.index("--config") + 1] == str(project / "config" / "prod.yaml")


def test_command_line(common):
    settings = common.CliSettings("/p/lakeforge", "/p/config/local.yaml", "local", "/p", {})

    argv = common.build_command(
        settings, "maintenance", run_id="r1", logical_date=datetime(2024, 1, 2).date(), wait=True
    )

    assert argv == [
        "/p/lakeforge", "run", "--config", "/p/config/local.yaml", "--env", "local",
        "--cmd", "maintenance", "--run-id", "r1", "--logical-date", "2024-01-02", "--wait-seconds", "1800",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("variable", "env", "expected"),
    [
        (None, None, None),  # neither: every task runs its own embedded Spark
        (None, "sc://localhost:15002", "sc://localhost:15002"),
        ("sc://spark-connect:15002", "sc://localhost:15002", "sc://spark-connect:15002"),  # the Variable wins
    ],
)
def test_a_spark_connect_server_is_used_when_the_variable_or_environment_names_one(
    common, project, monkeypatch, variable, env, expected
):
    monkeypatch.setenv("LAKEFORGE_PROJECT_DIR", str(project))
    monkeypatch.delenv("LAKEFORGE_SPARK_REMOTE", raising=False)
    if env:
        monkeypatch.setenv("LAKEFORGE_SPARK_REMOTE", env)
    variables = {"lakeforge_spark_remote": variable} if variable else {}

    settings = common.resolve_settings(variable=variables.get)
    argv = common.build_command(settings, "ingest")

    assert settings.remote == expected
    if expected is None:
        assert "--remote" not in argv
    else:
        assert argv[argv.index("--remote") + 1] == expected
    assert "LAKEFORGE_SPARK_REMOTE" not in common.child_environment(settings)  # passed as --remote only


def test_run_without_logical_date_uses_run_after(common):
    context = {
        "logical_date": None,
        "dag_run": SimpleNamespace(run_after=datetime(2024, 7, 8, 9, tzinfo=UTC)),
    }

    assert common.run_date(context).isoformat() == "2024-07-08"


def test_stage_task_args_retry_with_exponential_backoff(common):
    args = common.stage_task_args(minutes=30)

    assert args["execution_timeout"].total_seconds() == 1800 + 1800  # the work, then the lock wait before it
    # 4 attempts of 30 min waiting, and 1 + 2 + 4 min between them
    assert common.lock_window(args).total_seconds() == 4 * 1800 + 7 * 60
    assert args["retries"] == 3
    assert args["retry_exponential_backoff"] == 2.0
