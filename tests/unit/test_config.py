"""lakeforge.config.load_settings: overlays, interpolation, env overrides, and every refusal (exit 2)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from lakeforge.config import DriftPolicy, load_settings
from lakeforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
LAKEFORGE = Path(sys.executable).parent / "lakeforge"

BASE = """\
paths:
  landing: /data/landing
  lakehouse: /data/lakehouse
spark:
  master: local[*]
  shuffle_partitions: 4
  conf:
    spark.a: "1"
    spark.b: "2"
quality:
  max_quarantine_ratio: 0.05
environments:
  local: {}
  ci:
    spark:
      master: local[2]
      conf:
        spark.b: "20"
    quality:
      data_docs: false
"""


def write(tmp_path: Path, text: str, name: str = "config.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path, env: str = "local", environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load_settings(path, env=env, environ={} if environ is None else environ)
    assert info.value.exit_code == 2
    return info.value.one_line()


# --- overlays ---------------------------------------------------------------------------------------------
def test_base_settings_without_overlay_keep_base_values_and_defaults(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE), env="local", environ={})
    assert settings.env == "local"
    assert settings.paths.landing == "/data/landing"
    assert settings.paths.lakehouse == "/data/lakehouse"
    assert settings.spark.master == "local[*]"
    assert settings.spark.shuffle_partitions == 4
    assert settings.spark.conf == {"spark.a": "1", "spark.b": "2"}
    assert settings.spark.app_name == "lakeforge"
    assert settings.quality.max_quarantine_ratio == 0.05
    assert settings.quality.data_docs is True
    assert settings.drift.bronze is DriftPolicy.ADDITIVE
    assert settings.drift.silver is DriftPolicy.NONE
    assert settings.lock.wait_timeout_seconds == 600.0


def test_env_overlay_is_deep_merged_over_the_base(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, BASE), env="ci", environ={})
    assert settings.env == "ci"
    assert settings.spark.master == "local[2]"  # replaced by the overlay
    assert settings.spark.shuffle_partitions == 4  # kept from the base: mappings are merged, not replaced
    assert settings.spark.conf == {"spark.a": "1", "spark.b": "20"}  # merged one level deeper too
    assert settings.quality.data_docs is False
    assert settings.quality.max_quarantine_ratio == 0.05


def test_overlay_scalar_replaces_the_base_scalar(tmp_path: Path) -> None:
    text = """\
    paths: {landing: /l, lakehouse: /h}
    spark: {master: 'local[1]'}
    environments:
      ci:
        spark: {master: 'local[3]'}
    """
    assert load_settings(write(tmp_path, text), env="ci", environ={}).spark.master == "local[3]"


# --- interpolation ----------------------------------------------------------------------------------------
def test_var_is_interpolated_inside_a_longer_string(tmp_path: Path) -> None:
    text = """\
    paths:
      landing: ${ROOT}/landing
      lakehouse: ${ROOT}/lake-${STAGE}
    """
    settings = load_settings(write(tmp_path, text), environ={"ROOT": "/srv", "STAGE": "blue"})
    assert settings.paths.landing == "/srv/landing"
    assert settings.paths.lakehouse == "/srv/lake-blue"


def test_var_default_is_used_when_unset_or_empty_and_ignored_when_set(tmp_path: Path) -> None:
    text = """\
    paths:
      landing: ${LAND:-/default/landing}
      lakehouse: ${HOUSE:-/default/lakehouse}
    spark:
      app_name: ${APP:-fallback}
    """
    path = write(tmp_path, text)
    settings = load_settings(path, environ={"HOUSE": "/set/lakehouse", "APP": ""})
    assert settings.paths.landing == "/default/landing"
    assert settings.paths.lakehouse == "/set/lakehouse"
    assert settings.spark.app_name == "fallback"


def test_empty_default_gives_an_empty_string(tmp_path: Path) -> None:
    text = """\
    paths: {landing: /l, lakehouse: /h}
    metrics:
      pushgateway_url: ${PUSH:-}
    """
    assert load_settings(write(tmp_path, text), environ={}).metrics.pushgateway_url == ""


def test_interpolated_text_is_validated_to_the_field_type(tmp_path: Path) -> None:
    text = """\
    paths: {landing: /l, lakehouse: /h}
    spark:
      shuffle_partitions: ${PARTS:-8}
    """
    path = write(tmp_path, text)
    assert load_settings(path, environ={}).spark.shuffle_partitions == 8
    assert load_settings(path, environ={"PARTS": "16"}).spark.shuffle_partitions == 16


def test_vars_in_an_unselected_environment_are_not_needed(tmp_path: Path) -> None:
    text = """\
    paths: {landing: /l, lakehouse: /h}
    environments:
      local: {}
      prod:
        paths: {landing: "${PROD_ONLY}"}
    """
    assert load_settings(write(tmp_path, text), env="local", environ={}).paths.landing == "/l"


# --- environment overrides --------------------------------------------------------------------------------
def test_lakeforge_env_vars_override_their_keys(tmp_path: Path) -> None:
    environ = {
        "LAKEFORGE_LANDING": "/env/landing",
        "LAKEFORGE_LAKEHOUSE": "/env/lakehouse",
        "LAKEFORGE_SPARK_MASTER": "spark://host:7077",
    }
    settings = load_settings(write(tmp_path, BASE), env="ci", environ=environ)
    assert settings.paths.landing == "/env/landing"
    assert settings.paths.lakehouse == "/env/lakehouse"
    assert settings.spark.master == "spark://host:7077"  # wins over the ci overlay too


def test_empty_override_variables_are_ignored(tmp_path: Path) -> None:
    environ = {"LAKEFORGE_LANDING": "", "LAKEFORGE_SPARK_MASTER": ""}
    settings = load_settings(write(tmp_path, BASE), environ=environ)
    assert settings.paths.landing == "/data/landing"
    assert settings.spark.master == "local[*]"


def test_override_supplies_a_key_the_file_lacks(tmp_path: Path) -> None:
    text = """\
    spark: {master: 'local[1]'}
    """
    environ = {"LAKEFORGE_LANDING": "/env/landing", "LAKEFORGE_LAKEHOUSE": "/env/lakehouse"}
    settings = load_settings(write(tmp_path, text), environ=environ)
    assert settings.paths.landing == "/env/landing"
    assert settings.paths.lakehouse == "/env/lakehouse"


def test_relative_paths_are_made_absolute_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = """\
    paths: {landing: data/landing, lakehouse: ./data/lakehouse}
    """
    path = write(tmp_path, text)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    settings = load_settings(path, environ={"LAKEFORGE_LAKEHOUSE": "lake"})
    assert settings.paths.landing == str(workdir / "data" / "landing")
    assert settings.paths.lakehouse == str(workdir / "lake")
    assert Path(settings.paths.landing).is_absolute() and Path(settings.paths.lakehouse).is_absolute()


def test_home_is_expanded_in_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path, "paths: {landing: ~/landing, lakehouse: ~/lake}\n")
    settings = load_settings(path, environ={})
    assert (settings.paths.landing, settings.paths.lakehouse) == (
        str(tmp_path / "landing"),
        str(tmp_path / "lake"),
    )


# --- refusals ---------------------------------------------------------------------------------------------
def test_unknown_key_names_the_file_and_the_dotted_key(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nspark: {masterr: 'local[1]'}\n")
    assert error_of(path) == f"ConfigError: {path}: unknown key 'spark.masterr'"


def test_unknown_top_level_key(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nqualty: {}\n")
    assert error_of(path) == f"ConfigError: {path}: unknown key 'qualty'"


def test_unknown_key_inside_the_selected_overlay(tmp_path: Path) -> None:
    text = """\
    paths: {landing: /l, lakehouse: /h}
    environments:
      ci:
        lock: {wait_seconds: 3}
    """
    path = write(tmp_path, text)
    assert error_of(path, env="ci") == f"ConfigError: {path}: unknown key 'lock.wait_seconds'"


def test_wrong_type_names_the_key_and_the_value(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nspark: {shuffle_partitions: many}\n")
    assert error_of(path) == (
        f"ConfigError: {path}: key 'spark.shuffle_partitions': Input should be a valid integer, "
        "unable to parse string as an integer (got 'many')"
    )


def test_out_of_range_value_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nquality: {max_quarantine_ratio: 2}\n")
    assert error_of(path) == (
        f"ConfigError: {path}: key 'quality.max_quarantine_ratio': "
        "Input should be less than or equal to 1 (got 2)"
    )


def test_bad_drift_policy_names_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\ndrift: {silver: sometimes}\n")
    assert error_of(path).startswith(f"ConfigError: {path}: key 'drift.silver': Input should be ")
    assert error_of(path).endswith("(got 'sometimes')")


def test_missing_paths_section(tmp_path: Path) -> None:
    path = write(tmp_path, "spark: {master: 'local[1]'}\n")
    assert error_of(path) == f"ConfigError: {path}: missing key 'paths'"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    assert error_of(path) == (
        f"ConfigError: config file {path} does not exist -- pass --config config/local.yaml"
    )


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    assert error_of(tmp_path) == (
        f"ConfigError: config file {tmp_path} does not exist -- pass --config config/local.yaml"
    )


def test_unknown_env(tmp_path: Path) -> None:
    path = write(tmp_path, BASE)
    assert error_of(path, env="staging") == (
        f"ConfigError: {path}: unknown environment 'staging' -- choose one of ['ci', 'local']"
    )


def test_unset_var_without_default_names_key_and_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "paths:\n  landing: ${NOT_SET_ANYWHERE}\n  lakehouse: /h\n")
    assert error_of(path) == (
        f"ConfigError: {path}: key 'paths.landing' uses ${{NOT_SET_ANYWHERE}} but the environment variable "
        "NOT_SET_ANYWHERE is not set -- export NOT_SET_ANYWHERE=... or write ${NOT_SET_ANYWHERE:-default}"
    )


def test_var_set_to_empty_without_default_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "paths:\n  landing: /l\n  lakehouse: ${HOUSE}\n")
    assert "key 'paths.lakehouse' uses ${HOUSE} but the environment variable HOUSE is not set" in error_of(
        path, environ={"HOUSE": ""}
    )


def test_unset_var_inside_a_list_names_its_index(tmp_path: Path) -> None:
    # `environments` is popped before interpolation; a list elsewhere still reports key[index]
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nextra_list: [a, '${GONE}']\n")
    assert "key 'extra_list[1]' uses ${GONE}" in error_of(path)


def test_invalid_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: [landing\n")
    message = error_of(path)
    assert message.startswith(f"ConfigError: {path}: not valid YAML: while parsing a flow sequence")
    assert "\n" not in message


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "- a\n- b\n")
    assert error_of(path) == f"ConfigError: {path}: the top level must be a mapping, found list"


def test_environments_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nenvironments: [local]\n")
    assert error_of(path) == (
        f"ConfigError: {path}: key 'environments' must be a mapping of environment name to overlay"
    )


def test_overlay_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: {landing: /l, lakehouse: /h}\nenvironments: {ci: 3}\n")
    assert error_of(path, env="ci") == f"ConfigError: {path}: key 'environments.ci' must be a mapping"


# --- the repository's own configs -------------------------------------------------------------------------
def test_repo_local_config_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(REPO / "config" / "local.yaml", env="local", environ={})
    assert settings.paths.landing == str(tmp_path / "data" / "landing")
    assert settings.paths.lakehouse == str(tmp_path / "data" / "lakehouse")
    assert settings.spark.master == "local[*]"
    ci = load_settings(REPO / "config" / "local.yaml", env="ci", environ={})
    assert (ci.spark.master, ci.spark.shuffle_partitions, ci.spark.driver_memory) == ("local[2]", 2, "3g")


def test_repo_prod_config_loads_with_paths_from_the_environment(tmp_path: Path) -> None:
    environ = {"LAKEFORGE_LANDING": str(tmp_path / "in"), "LAKEFORGE_LAKEHOUSE": str(tmp_path / "lake")}
    settings = load_settings(REPO / "config" / "prod.yaml", env="prod", environ=environ)
    assert settings.paths.landing == str(tmp_path / "in")
    assert settings.paths.lakehouse == str(tmp_path / "lake")
    assert settings.spark.master == "yarn"
    assert settings.spark.conf == {"spark.executor.memory": "8g", "spark.sql.adaptive.enabled": "true"}
    assert settings.quality.max_quarantine_ratio == 0.02
    assert settings.logging.json_format is True


def test_repo_prod_config_without_paths_is_refused(tmp_path: Path) -> None:
    path = REPO / "config" / "prod.yaml"
    assert error_of(path, env="prod").startswith(
        f"ConfigError: {path}: key 'paths.landing' uses ${{LAKEFORGE_LANDING}} but the environment "
        "variable LAKEFORGE_LANDING is not set"
    )


# --- the CLI ----------------------------------------------------------------------------------------------
def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "HOME": str(cwd)}
    return subprocess.run(
        [str(LAKEFORGE), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("paths: {landing: /l, lakehouse: /h}\nspark: {masterr: x}\n", "unknown key 'spark.masterr'"),
        ("paths: [landing\n", "not valid YAML"),
        ("paths: {landing: '${NOPE}', lakehouse: /h}\n", "key 'paths.landing' uses ${NOPE}"),
    ],
    ids=["unknown-key", "invalid-yaml", "unset-var"],
)
def test_cli_config_error_is_one_stderr_line_and_exit_2(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    result = run_cli("run", "--config", str(path), "--cmd", "full", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"lakeforge: ConfigError: {path}: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_missing_config_file_and_unknown_env(tmp_path: Path) -> None:
    missing = run_cli("run", "--config", "nope.yaml", "--cmd", "ingest", cwd=tmp_path)
    assert (missing.returncode, missing.stderr) == (
        2,
        "lakeforge: ConfigError: config file nope.yaml does not exist -- pass --config config/local.yaml\n",
    )
    path = write(tmp_path, BASE)
    env = run_cli("run", "--config", str(path), "--env", "qa", "--cmd", "ingest", cwd=tmp_path)
    assert (env.returncode, env.stderr) == (
        2,
        f"lakeforge: ConfigError: {path}: unknown environment 'qa' -- choose one of ['ci', 'local']\n",
    )


def test_cli_debug_adds_the_traceback(tmp_path: Path) -> None:
    path = write(tmp_path, "paths: [landing\n")
    result = run_cli("run", "--config", str(path), "--cmd", "full", "--debug", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback (most recent call last)" in result.stderr
    assert result.stderr.splitlines()[-1].startswith(f"lakeforge: ConfigError: {path}: not valid YAML")
