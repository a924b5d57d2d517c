"""The compose stack (deploy/compose/compose.yaml) and the image's build context, checked offline.

The file must validate against the Compose specification's JSON schema (the copy check-jsonschema vendors,
with its license), take every secret from the environment (.env, git-ignored) and never inline one, give
each long-running service a health check, and mount only folders that exist. No Docker needed.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_DIR = ROOT / "deploy" / "compose"
COMPOSE = COMPOSE_DIR / "compose.yaml"
ENV_EXAMPLE = COMPOSE_DIR / ".env.example"

SENSITIVE = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|SQL_ALCHEMY_CONN|CREDENTIAL", re.IGNORECASE)
NOT_SENSITIVE = re.compile(r"_FILE$")  # the path of a secret file, not the secret
REQUIRED_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+):\?[^}]*\}")
ANY_VAR = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?P<rest>[^}]*)\}")


def compose_schema() -> dict[str, Any]:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    return json.loads(vendor.joinpath("compose-spec.json").read_text(encoding="utf-8"))


def schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = compose_schema()
    validator = jsonschema.validators.validator_for(schema)(schema)
    return sorted(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: "" if v is None else str(v) for k, v in env.items()}


def inlined_secrets(doc: dict[str, Any]) -> list[str]:
    """Sensitive environment values that are not taken, whole or in part, from a required variable.

    A sensitive value passes only when each variable it holds is `${NAME:?message}` (no default) and,
    with those variables removed, what is left holds no credential: for a URL, an empty password.
    """
    problems = []
    for name, service in doc["services"].items():
        for key, value in environment(service).items():
            if not SENSITIVE.search(key) or NOT_SENSITIVE.search(key):
                continue
            where = f"{name}.environment.{key}"
            refs = list(ANY_VAR.finditer(value))
            if not refs:
                problems.append(f"{where}: literal value")
                continue
            if any(not m.group("rest").startswith(":?") for m in refs):
                problems.append(f"{where}: a variable with a default or optional ({value})")
                continue
            rest = REQUIRED_VAR.sub("", value)
            url = re.match(r"^[a-z0-9+.-]+://[^:/@]*:(?P<password>[^@]*)@", rest)
            if url and url.group("password"):
                problems.append(f"{where}: a password in the URL")
            elif not url and rest.strip():
                problems.append(f"{where}: literal text beside the variable ({rest!r})")
    return problems


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_compose_validates_against_the_compose_spec_schema(doc: dict[str, Any]) -> None:
    assert schema_errors(doc) == []


def test_the_schema_rejects_a_misspelt_key_and_a_wrong_type(doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(doc)
    bad["services"]["postgres"]["healthchek"] = bad["services"]["postgres"].pop("healthcheck")
    bad["services"]["grafana"]["ports"] = "3000:3000"
    errors = schema_errors(bad)
    assert errors[0] == "services/grafana/ports: '3000:3000' is not of type 'array'"
    assert (
        errors[-1]
        == "services/postgres: Unevaluated properties are not allowed ('healthchek' was unexpected)"
    )
    assert len(errors) == 3, errors  # the middle one: grafana's properties, as `ports` failed


def test_check_jsonschema_cli_accepts_the_file() -> None:
    cli = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    out = subprocess.run(
        [cli, "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "ok -- validation done"


def test_the_vendored_schema_keeps_its_license() -> None:
    vendor = resources.files("check_jsonschema.builtin_schemas.vendor")
    license_text = vendor.joinpath("licenses", "LICENSE.compose-spec").read_text(encoding="utf-8")
    assert "Apache License" in license_text


def test_no_secret_is_inlined(doc: dict[str, Any]) -> None:
    assert inlined_secrets(doc) == []


def test_the_secret_check_catches_inlined_values(doc: dict[str, Any]) -> None:
    bad = copy.deepcopy(doc)
    bad["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"] = "hunter2"
    bad["services"]["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] = "${GRAFANA_PW:-admin}"
    # a copy: the Airflow services share one environment mapping (a YAML anchor)
    bad["services"]["airflow-scheduler"]["environment"] = {
        **bad["services"]["airflow-scheduler"]["environment"],
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://airflow:airflow@postgres/${AIRFLOW_DB:?x}",
        "AIRFLOW__API__SECRET_KEY": "${LAKEFORGE_AIRFLOW_API_SECRET_KEY:?x}-suffix",
    }
    assert sorted(inlined_secrets(bad)) == [
        "airflow-scheduler.environment.AIRFLOW__API__SECRET_KEY: literal text beside the variable ('-suffix')",
        "airflow-scheduler.environment.AIRFLOW__DATABASE__SQL_ALCHEMY_CONN: a password in the URL",
        "grafana.environment.GF_SECURITY_ADMIN_PASSWORD: a variable with a default or optional "
        "(${GRAFANA_PW:-admin})",
        "postgres.environment.POSTGRES_PASSWORD: literal value",
    ]


def strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [s for v in node.values() for s in strings(v)]
    if isinstance(node, list):
        return [s for v in node for s in strings(v)]
    return [node] if isinstance(node, str) else []


def test_every_required_variable_is_listed_empty_in_env_example(doc: dict[str, Any]) -> None:
    required = {m for s in strings(doc) for m in REQUIRED_VAR.findall(s)}
    listed = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            listed[key.strip()] = value.strip()
    assert required == {
        "LAKEFORGE_AIRFLOW_DB_PASSWORD",
        "LAKEFORGE_AIRFLOW_ADMIN_PASSWORD",
        "LAKEFORGE_AIRFLOW_FERNET_KEY",
        "LAKEFORGE_AIRFLOW_API_SECRET_KEY",
        "LAKEFORGE_AIRFLOW_JWT_SECRET",
        "LAKEFORGE_GRAFANA_ADMIN_PASSWORD",
    }
    assert set(listed) == required
    assert {k: v for k, v in listed.items() if v} == {}, "placeholders only: .env.example holds no values"


@pytest.mark.skipif(
    shutil.which("git") is None or not (ROOT / ".git").exists(), reason="needs a git checkout"
)
def test_the_env_file_is_git_ignored() -> None:
    out = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/compose/.env"], cwd=ROOT, capture_output=True, check=False
    )
    assert out.returncode == 0
    out = subprocess.run(
        ["git", "check-ignore", "-q", "deploy/compose/.env.example"],
        cwd=ROOT,
        capture_output=True,
        check=False,
    )
    assert out.returncode == 1


def test_long_running_services_have_health_checks_and_dependencies_wait_for_them(doc: dict[str, Any]) -> None:
    services = doc["services"]
    one_shot = {name for name, s in services.items() if s.get("restart") == "no"}
    assert one_shot == {"airflow-init", "pipeline"}
    unchecked = sorted(
        name
        for name, s in services.items()
        if name not in one_shot and (not s.get("healthcheck") or s["healthcheck"].get("disable"))
    )
    assert unchecked == []
    for name, service in services.items():
        for dependency, how in (service.get("depends_on") or {}).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            if how["condition"] == "service_healthy":
                assert services[dependency].get("healthcheck"), f"{name} waits for {dependency}'s health"
            if how["condition"] == "service_completed_successfully":
                assert dependency in one_shot


def test_airflow_runs_its_three_components_on_local_executor_after_the_migration(doc: dict[str, Any]) -> None:
    services = doc["services"]
    commands = {name: s["command"] for name, s in services.items() if name.startswith("airflow-")}
    assert commands == {
        "airflow-init": ["airflow", "db", "migrate"],
        "airflow-api-server": ["airflow", "api-server", "--host", "0.0.0.0", "--port", "8080"],
        "airflow-scheduler": ["airflow", "scheduler"],
        "airflow-dag-processor": ["airflow", "dag-processor"],
    }
    for name in ("airflow-api-server", "airflow-scheduler", "airflow-dag-processor"):
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert environment(services[name])["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert services["spark-connect"]["command"] == [
        "lakeforge", "server", "run", "--host", "0.0.0.0", "--port", "15002",
    ]  # fmt: skip


def test_published_ports_bind_to_loopback_only(doc: dict[str, Any]) -> None:
    ports = [p for s in doc["services"].values() for p in s.get("ports", [])]
    assert sorted(ports) == [
        "127.0.0.1:15002:15002",
        "127.0.0.1:3000:3000",
        "127.0.0.1:8080:8080",
        "127.0.0.1:9090:9090",
    ]


def test_bind_mounts_exist_and_data_lives_in_named_volumes(doc: dict[str, Any]) -> None:
    binds = sorted(
        v.split(":")[0]
        for s in doc["services"].values()
        for v in s.get("volumes", [])
        if v.startswith((".", "/"))
    )
    assert binds == ["../grafana/dashboards", "../grafana/provisioning", "../prometheus"]
    for source in binds:
        assert (COMPOSE_DIR / source).is_dir(), source
    assert (COMPOSE_DIR / "../prometheus/prometheus.yml").is_file()
    assert (COMPOSE_DIR / "../prometheus/alerts.yml").is_file()
    named = {v.split(":")[0] for s in doc["services"].values() for v in s.get("volumes", [])} - set(binds)
    assert named == set(doc["volumes"])
    assert {"landing", "lakehouse"} <= named


def dockerfile_copy_sources() -> list[str]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    sources = []
    for line in text.splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from=") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    return sources


def test_every_file_the_dockerfile_copies_exists_and_is_in_the_build_context() -> None:
    sources = dockerfile_copy_sources()
    assert "requirements/constraints.txt" in sources and "src" in sources
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "**", "the context starts empty; only what is named comes in"
    included = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for source in sources:
        assert (ROOT / source).exists(), source
        assert any(source == inc or source.startswith(inc + "/") for inc in included), source
