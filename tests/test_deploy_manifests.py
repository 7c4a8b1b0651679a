"""The manifests under deploy/, checked statically against the env's defaults.

No cluster is needed: every YAML file is parsed, every Kubernetes object is checked
for the fields the API server requires, and the pieces the Kubernetes backend relies
on (namespace, function name and label, requests, RBAC verbs, scrape jobs) are
compared with the values the env assumes.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"

FUNCTION = "api"
#: The functions of the stack file: the env's default first.
FUNCTIONS = ("api", "matmul")
NAMESPACE = "openfaas-fn"
SERVICE_ACCOUNT = "faastrain"

#: apiVersions of configuration files that are not Kubernetes objects.
TOOL_API_GROUPS = ("kind.x-k8s.io", "k3d.io", "kustomize.config.k8s.io")

#: apiVersions of custom resources (their operators' CRDs), checked by custom_resource_errors.
CUSTOM_API_GROUPS = ("ray.io",)

#: Exactly what the Kubernetes backend does: (apiGroup, resource) -> verbs.
ENV_PERMISSIONS = {
    ("apps", "deployments"): {"get", "patch"},
    ("apps", "deployments/scale"): {"get", "patch"},
    ("", "pods"): {"list", "watch"},
    ("metrics.k8s.io", "pods"): {"get", "list"},
}


def load_all(path: Path) -> list[Any]:
    with path.open() as f:
        return [doc for doc in yaml.safe_load_all(f) if doc is not None]


def yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in (".yaml", ".yml"))


def is_kubernetes_object(doc: Any) -> bool:
    if not isinstance(doc, dict) or "apiVersion" not in doc or "kind" not in doc:
        return False
    return str(doc["apiVersion"]).split("/")[0] not in TOOL_API_GROUPS


def kubernetes_objects() -> list[tuple[Path, dict[str, Any]]]:
    return [(path, doc) for path in yaml_files() for doc in load_all(path) if is_kubernetes_object(doc)]


def find(kind: str, name: str, path: Path | None = None) -> dict[str, Any]:
    matches = [
        doc for p, doc in kubernetes_objects()
        if doc["kind"] == kind and doc["metadata"]["name"] == name and (path is None or p == path)
    ]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def load_handler(function: str = "matmul") -> ModuleType:
    path = DEPLOY / "functions" / function / "handler.py"
    spec = importlib.util.spec_from_file_location(f"deploy_{function}_handler", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- every file ------------------------------------------------------------------------

def test_deploy_has_the_expected_files() -> None:
    expected = [
        "kind/cluster.yaml", "k3d/cluster.yaml", "openfaas/values.yaml", "prometheus/prometheus.yml",
        "prometheus/kustomization.yaml", "functions/stack.yml", "functions/matmul/handler.py",
        "functions/matmul/requirements.txt", "functions/api/handler.py", "functions/api/requirements.txt", "rbac/faastrain.yaml",
        "rbac/make-kubeconfig.sh", "jobs/train.yaml", "namespaces.yaml", "ray/raycluster.yaml", "loadgen/master.yaml", "loadgen/workers.yaml",
    ]
    missing = [name for name in expected if not (DEPLOY / name).is_file()]
    assert not missing


@pytest.mark.parametrize("path", yaml_files(), ids=lambda p: str(p.relative_to(DEPLOY)))
def test_every_yaml_file_parses(path: Path) -> None:
    docs = load_all(path)
    assert docs, f"{path.name} is empty"
    assert all(isinstance(doc, dict) for doc in docs)


def test_every_kubernetes_object_has_api_version_kind_and_name() -> None:
    objects = kubernetes_objects()
    assert len(objects) >= 10
    for path, doc in objects:
        where = f"{path.relative_to(DEPLOY)}: {doc.get('kind')}"
        assert isinstance(doc["apiVersion"], str) and doc["apiVersion"], where
        assert isinstance(doc["kind"], str) and doc["kind"], where
        name = (doc.get("metadata") or {}).get("name")
        assert isinstance(name, str) and re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", name), where


def test_no_two_objects_share_kind_namespace_and_name() -> None:
    seen: set[tuple[str, str, str]] = set()
    for path, doc in kubernetes_objects():
        key = (doc["kind"], doc["metadata"].get("namespace", ""), doc["metadata"]["name"])
        assert key not in seen, f"{path.relative_to(DEPLOY)}: {key} defined twice"
        seen.add(key)


@pytest.mark.parametrize("script", sorted(DEPLOY.rglob("*.sh")), ids=lambda p: p.name)
def test_shell_scripts_pass_bash_n(script: Path) -> None:
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert script.read_text().startswith("#!/usr/bin/env bash\n")


def schema_errors(value: Any, type_name: str, where: str) -> list[str]:
    """Fields of ``value`` unknown to the Kubernetes model ``type_name``, or of the wrong type.

    The models of kubernetes_asyncio carry the API's field names and types, so a
    misspelt or misplaced field is caught without an API server.
    """
    from kubernetes_asyncio.client import models

    if type_name.startswith("list["):
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [e for i, item in enumerate(value) for e in schema_errors(item, type_name[5:-1], f"{where}[{i}]")]
    if type_name.startswith("dict("):
        inner = type_name[5:-1].split(", ", 1)[1]
        if not isinstance(value, dict):
            return [f"{where}: expected a mapping"]
        return [e for k, v in value.items() for e in schema_errors(v, inner, f"{where}.{k}")]
    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in scalars:
        ok = isinstance(value, scalars[type_name]) and not (type_name == "int" and isinstance(value, bool))
        return [] if ok else [f"{where}: expected {type_name}, got {value!r}"]
    if type_name == "object":  # IntOrString and free-form fields
        return []
    model = getattr(models, type_name)
    if not isinstance(value, dict):
        return [f"{where}: expected a {type_name} mapping"]
    by_json_name = {json_name: attr for attr, json_name in model.attribute_map.items()}
    errors = []
    for key, item in value.items():
        if key not in by_json_name:
            errors.append(f"{where}: unknown field {key!r} for {type_name}")
        else:
            errors.extend(schema_errors(item, model.openapi_types[by_json_name[key]], f"{where}.{key}"))
    return errors


def model_name(doc: dict[str, Any]) -> str:
    version = doc["apiVersion"].split("/")[-1]
    return version.capitalize() + doc["kind"]


#: Fields of the custom resources deploy/ uses (KubeRay's ray.io/v1 RayCluster), by path;
#: their pod templates are checked against the core API's PodTemplateSpec.
RAYCLUSTER_FIELDS = {
    "spec": {"rayVersion", "enableInTreeAutoscaling", "headGroupSpec", "workerGroupSpecs"},
    "head": {"rayStartParams", "serviceType", "template"},
    "worker": {"groupName", "replicas", "minReplicas", "maxReplicas", "rayStartParams", "template"},
}


def custom_resource_errors(doc: dict[str, Any], where: str) -> list[str]:
    """A RayCluster's fields, its start parameters (strings) and its pod templates."""
    if doc["apiVersion"] != "ray.io/v1" or doc["kind"] != "RayCluster":
        return [f"{where}: no schema for {doc['apiVersion']} {doc['kind']}"]
    errors = schema_errors(doc["metadata"], "V1ObjectMeta", f"{where}.metadata")
    spec = doc["spec"]
    groups = [("head", spec["headGroupSpec"], f"{where}.spec.headGroupSpec")]
    groups += [("worker", g, f"{where}.spec.workerGroupSpecs[{i}]") for i, g in enumerate(spec["workerGroupSpecs"])]
    for kind, fields, at in [("spec", spec, f"{where}.spec"), *groups]:
        errors += [f"{at}: unknown field {k!r}" for k in fields if k not in RAYCLUSTER_FIELDS[kind]]
    for _, group, at in groups:
        errors += [f"{at}.rayStartParams.{k}: expected str" for k, v in group["rayStartParams"].items() if not isinstance(v, str)]
        errors += schema_errors(group["template"], "V1PodTemplateSpec", f"{at}.template")
    return errors


def test_every_kubernetes_object_matches_the_api_schema() -> None:
    errors = []
    for path, doc in kubernetes_objects():
        where = f"{path.relative_to(DEPLOY)}:{doc['kind']}"
        if doc["apiVersion"].split("/")[0] in CUSTOM_API_GROUPS:
            errors += custom_resource_errors(doc, where)
        else:
            errors += schema_errors(doc, model_name(doc), where)
    assert not errors, "\n".join(errors)


def test_the_raycluster_check_catches_a_misplaced_field() -> None:
    doc = load_all(DEPLOY / "ray" / "raycluster.yaml")[0]
    doc["spec"]["workerGroupSpecs"][0]["replica"] = 2
    doc["spec"]["headGroupSpec"]["rayStartParams"]["num-cpus"] = 0
    doc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["resource"] = {}
    errors = custom_resource_errors(doc, "rc")
    assert len(errors) == 3 and "'replica'" in errors[0] and "num-cpus: expected str" in errors[1] and "'resource'" in errors[2]


def test_the_schema_check_catches_a_misplaced_field() -> None:
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "x"},
           "spec": {"template": {"spec": {"serviceAccount_name": "x", "containers": [{"name": "c", "env": [{"name": "N", "value": 1}]}]}}}}
    errors = schema_errors(job, model_name(job), "job")
    assert len(errors) == 2 and "serviceAccount_name" in errors[0] and "expected str" in errors[1]


# -- clusters --------------------------------------------------------------------------

def test_kind_and_k3d_configs_publish_the_gateway_and_prometheus_node_ports() -> None:
    kind = load_all(DEPLOY / "kind" / "cluster.yaml")[0]
    assert kind["kind"] == "Cluster" and kind["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    mappings = {(m["containerPort"], m["hostPort"]) for node in kind["nodes"] for m in node.get("extraPortMappings", [])}
    assert {(31112, 8080), (31090, 9090)} <= mappings

    k3d = load_all(DEPLOY / "k3d" / "cluster.yaml")[0]
    assert k3d["kind"] == "Simple" and k3d["apiVersion"] == "k3d.io/v1alpha5"
    ports = {":".join(p["port"].split(":")[-2:]) for p in k3d["ports"]}  # [HOST:]HOSTPORT:NODEPORT
    assert {"8080:31112", "9090:31090"} <= ports


# -- OpenFaaS --------------------------------------------------------------------------

def test_openfaas_values_disable_the_gateways_own_autoscaling() -> None:
    values = load_all(DEPLOY / "openfaas" / "values.yaml")[0]
    assert values["functionNamespace"] == NAMESPACE
    assert values["openfaasPro"] is False
    # CE scales on an Alertmanager webhook fed by the chart's Prometheus alert rule.
    assert values["alertmanager"]["create"] is False
    assert values["prometheus"]["create"] is False
    assert values["autoscaler"]["enabled"] is False
    assert values["gateway"]["scaleFromZero"] is False
    assert values["gateway"]["nodePort"] == 31112


@pytest.mark.parametrize("function", FUNCTIONS)
def test_stack_declares_the_functions_with_the_envs_requests_and_min_scale(function: str) -> None:
    stack = load_all(DEPLOY / "functions" / "stack.yml")[0]
    assert stack["provider"]["name"] == "openfaas"
    assert tuple(stack["functions"]) == FUNCTIONS
    fn = stack["functions"][function]
    assert fn["lang"].startswith("python3-http")
    assert fn["handler"] == f"./{function}"
    assert (DEPLOY / "functions" / fn["handler"] / "handler.py").is_file()
    assert fn.get("namespace", NAMESPACE) == NAMESPACE
    assert fn["labels"]["com.openfaas.scale.min"] == "1"
    # faas-netes labels the pods faas_function=<name>, the env's selector for that function.
    assert fn["labels"].get("faas_function", function) == function
    assert fn["requests"] == {"cpu": "100m", "memory": "128Mi"}
    assert fn["image"].endswith(f"/{function}:0.1.0")


def test_the_default_function_is_the_local_clusters_api_with_two_in_flight() -> None:
    from faastrain_async.backends.kubernetes.settings import KubernetesSettings
    from faastrain_async.local.settings import FunctionSpec

    api = load_all(DEPLOY / "functions" / "stack.yml")[0]["functions"][FUNCTION]
    assert KubernetesSettings().function == FUNCTION == FunctionSpec().name
    assert api["environment"]["max_inflight"] == str(FunctionSpec().max_inflight)
    low, high = FunctionSpec().sleep_seconds or (0.0, 0.0)
    assert (float(api["environment"]["API_MIN_WAIT"]), float(api["environment"]["API_MAX_WAIT"])) == (low, high)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_function_requirements_name_numpy(function: str) -> None:
    requirements = (DEPLOY / "functions" / function / "requirements.txt").read_text().split()
    assert any(line.startswith("numpy") for line in requirements)


def test_api_handler_waits_then_multiplies(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    handler = load_handler("api")
    monkeypatch.setenv("API_MIN_WAIT", "0.01")
    monkeypatch.setenv("API_MAX_WAIT", "0.02")
    monkeypatch.setenv("API_MIN_SIZE", "3")
    monkeypatch.setenv("API_MAX_SIZE", "5")
    response = handler.handle(SimpleNamespace(body=b"", headers={}, method="POST"), None)
    assert response["statusCode"] == 200
    result = json.loads(response["body"])
    assert 0.01 <= result["waited"] <= 0.02 and 3 <= result["n"] <= 5
    assert 0.0 <= result["trace"] < result["n"] ** 2  # n² products of numbers in [0, 1)


def test_handler_multiplies_matrices_of_the_requested_size() -> None:
    import json

    import numpy as np

    handler = load_handler()
    response = handler.handle(SimpleNamespace(body=b'{"n": 4}', headers={}, method="POST"), None)
    assert response["statusCode"] == 200
    result = json.loads(response["body"])
    assert result["n"] == 4 and result["seconds"] >= 0
    # Four rows of four products of numbers in [0, 1): the trace is in [0, 16).
    assert 0.0 <= result["trace"] < 16.0

    assert json.loads(handler.handle(SimpleNamespace(body=b"3"), None)["body"])["n"] == 3
    assert handler.multiply(2)["n"] == 2
    identity = np.eye(3)
    assert np.array_equal(identity @ identity, identity)  # the operator the handler times


def test_handler_draws_a_size_for_an_empty_body_and_refuses_bad_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    handler = load_handler()
    monkeypatch.setenv("MATMUL_MIN_SIZE", "5")
    monkeypatch.setenv("MATMUL_MAX_SIZE", "7")
    sizes = {json.loads(handler.handle(SimpleNamespace(body=b""), None)["body"])["n"] for _ in range(30)}
    assert sizes <= {5, 6, 7} and len(sizes) > 1
    for body in (b"0", b"100000", b'"big"', b"not json", b'{"n": 2.5}', b"true"):
        assert handler.handle(SimpleNamespace(body=body), None)["statusCode"] == 400, body


# -- Prometheus ------------------------------------------------------------------------

def prometheus_config() -> dict[str, Any]:
    return load_all(DEPLOY / "prometheus" / "prometheus.yml")[0]


def test_prometheus_scrapes_the_gateway_metrics_port() -> None:
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    gateway = jobs["openfaas-gateway"]
    (sd,) = gateway["kubernetes_sd_configs"]
    assert sd["role"] == "pod" and sd["namespaces"]["names"] == ["openfaas"]
    keeps = {(tuple(r["source_labels"]), r["regex"]) for r in gateway["relabel_configs"] if r.get("action") == "keep"}
    assert (("__meta_kubernetes_pod_label_app",), "gateway") in keeps
    assert (("__meta_kubernetes_pod_container_port_number",), "8082") in keeps


def test_prometheus_scrapes_cadvisor_through_the_api_server_proxy() -> None:
    jobs = {job["job_name"]: job for job in prometheus_config()["scrape_configs"]}
    cadvisor = jobs["kubernetes-cadvisor"]
    assert cadvisor["scheme"] == "https"
    assert cadvisor["kubernetes_sd_configs"] == [{"role": "node"}]
    replacements = {r.get("target_label"): r.get("replacement") for r in cadvisor["relabel_configs"]}
    assert replacements["__address__"] == "kubernetes.default.svc:443"
    assert replacements["__metrics_path__"] == "/api/v1/nodes/$1/proxy/metrics/cadvisor"
    kept = [r for r in cadvisor["metric_relabel_configs"] if r["source_labels"] == ["namespace"]]
    assert kept and kept[0]["regex"] == NAMESPACE and kept[0]["action"] == "keep"
    # Per-pod sums must add up containers only, not the pod's own cgroup on top.
    dropped = [r for r in cadvisor["metric_relabel_configs"] if r["source_labels"] == ["container"]]
    assert dropped and dropped[0]["action"] == "drop" and re.fullmatch(dropped[0]["regex"], "")


def test_prometheus_has_no_alerting_that_could_scale_functions() -> None:
    config = prometheus_config()
    assert "alerting" not in config and "rule_files" not in config


def test_prometheus_may_read_nodes_through_the_proxy_and_nothing_more() -> None:
    role = find("ClusterRole", "faastrain-prometheus")
    grants = {(res, verb) for rule in role["rules"] for res in rule["resources"] for verb in rule["verbs"]}
    assert ("nodes/proxy", "get") in grants and ("nodes", "list") in grants
    assert all(verb in {"get", "list", "watch"} for _, verb in grants)
    binding = find("ClusterRoleBinding", "faastrain-prometheus")
    assert binding["roleRef"]["name"] == "faastrain-prometheus"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "prometheus", "namespace": "openfaas"}]
    deployment = find("Deployment", "prometheus")
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "prometheus"


def test_prometheus_service_is_the_address_the_env_and_gateway_use() -> None:
    service = find("Service", "prometheus")
    assert service["metadata"]["namespace"] == "openfaas"
    assert [p["port"] for p in service["spec"]["ports"]] == [9090]
    external = find("Service", "prometheus-external")
    assert [p["nodePort"] for p in external["spec"]["ports"]] == [31090]


def test_prometheus_kustomization_lists_existing_files() -> None:
    kustomization = load_all(DEPLOY / "prometheus" / "kustomization.yaml")[0]
    assert kustomization["namespace"] == "openfaas"
    for name in kustomization["resources"] + kustomization["configMapGenerator"][0]["files"]:
        assert (DEPLOY / "prometheus" / name).is_file(), name
    volumes = find("Deployment", "prometheus")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": "prometheus-config"}} in volumes


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
def test_prometheus_kustomization_builds() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY / "prometheus")], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(result.stdout)}
    assert {"ConfigMap", "Deployment", "Service", "ServiceAccount", "ClusterRole"} <= kinds


# -- the env's identity ----------------------------------------------------------------

RBAC = DEPLOY / "rbac" / "faastrain.yaml"


def test_service_account_role_and_binding_live_in_the_function_namespace() -> None:
    for kind in ("ServiceAccount", "Role", "RoleBinding"):
        doc = find(kind, SERVICE_ACCOUNT, RBAC)
        assert doc["metadata"]["namespace"] == NAMESPACE, kind
    kinds = {doc["kind"] for doc in load_all(RBAC)}
    assert kinds == {"ServiceAccount", "Role", "RoleBinding"}  # nothing cluster-wide


def test_role_grants_exactly_what_the_env_uses_and_no_wildcard() -> None:
    role = find("Role", SERVICE_ACCOUNT, RBAC)
    granted: dict[tuple[str, str], set[str]] = {}
    for rule in role["rules"]:
        assert set(rule) <= {"apiGroups", "resources", "verbs"}  # no resourceNames or nonResourceURLs
        for field in ("apiGroups", "resources", "verbs"):
            assert "*" not in rule[field], field
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                granted.setdefault((group, resource), set()).update(rule["verbs"])
    assert granted == ENV_PERMISSIONS


def test_role_binding_binds_that_role_to_that_service_account() -> None:
    binding = find("RoleBinding", SERVICE_ACCOUNT, RBAC)
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": SERVICE_ACCOUNT}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]


def test_make_kubeconfig_uses_a_service_account_token() -> None:
    script = (DEPLOY / "rbac" / "make-kubeconfig.sh").read_text()
    assert "set -euo pipefail" in script
    assert "create token" in script
    for command in ("set-cluster", "set-credentials", "set-context", "use-context"):
        assert command in script, command
    assert f'"${{NAMESPACE:-{NAMESPACE}}}"' in script
    assert f'"${{SERVICE_ACCOUNT:-{SERVICE_ACCOUNT}}}"' in script


# -- the training Job ------------------------------------------------------------------

def train_job() -> dict[str, Any]:
    return find("Job", "faastrain-train", DEPLOY / "jobs" / "train.yaml")


def test_job_runs_as_the_service_account_in_its_namespace() -> None:
    job = train_job()
    assert job["apiVersion"] == "batch/v1"
    assert job["metadata"]["namespace"] == NAMESPACE
    pod = job["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == SERVICE_ACCOUNT
    assert pod["restartPolicy"] in ("Never", "OnFailure")
    # The Job's pod must not be mistaken for a replica of the function.
    assert "faas_function" not in job["spec"]["template"]["metadata"].get("labels", {})


def test_job_runs_the_kubernetes_backend_in_cluster_against_the_cluster_services() -> None:
    (container,) = train_job()["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    argv = container["command"] + container["args"]
    expanded = [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in argv]
    assert expanded[0] == "faastrain"
    assert "--backend=kubernetes" in expanded
    kube = dict(arg.removeprefix("--kube=").split("=", 1) for arg in expanded if arg.startswith("--kube="))
    assert kube["in_cluster"] == "true"
    assert kube["function"] == FUNCTION and kube["namespace"] == NAMESPACE
    assert kube["prometheus_url"] == "http://prometheus.openfaas:9090"
    assert kube["gateway_url"] == "http://gateway.openfaas:8080"
    assert kube["scaler"] in ("kubernetes", "openfaas")
    assert kube["resource_metrics"] in ("metrics-api", "cadvisor")
    assert "kubeconfig" not in kube
    assert container["image"]


def test_namespaces_match_the_openfaas_values() -> None:
    names = {doc["metadata"]["name"] for doc in load_all(DEPLOY / "namespaces.yaml")}
    assert names == {"openfaas", NAMESPACE}


def test_no_file_mentions_a_machine_path() -> None:
    pattern = re.compile(r"/(home|root|Users|tmp|work)/")
    for path in DEPLOY.rglob("*"):
        if path.is_file():
            assert not pattern.search(path.read_text()), path


def test_the_local_registries_match_the_stack_files_default() -> None:
    stack = load_all(DEPLOY / "functions" / "stack.yml")[0]
    assert all(fn["image"].startswith("${REGISTRY:-localhost:5001}/") for fn in stack["functions"].values())
    k3d = load_all(DEPLOY / "k3d" / "cluster.yaml")[0]
    assert k3d["registries"]["create"]["hostPort"] == "5001"
    mirrors = yaml.safe_load(k3d["registries"]["config"])["mirrors"]
    assert mirrors["localhost:5001"]["endpoint"] == [f"http://{k3d['registries']['create']['name']}:5000"]
    assert 'reg_port="${REGISTRY_PORT:-5001}"' in (DEPLOY / "kind" / "registry.sh").read_text()


def test_every_deploy_path_in_the_guides_exists() -> None:
    guides = "".join((DEPLOY.parent / "docs" / name).read_text() for name in ("deploy.md", "scale.md"))
    mentioned = set(re.findall(r"deploy/[\w./-]*[\w]", guides))
    assert {"deploy/openfaas/values.yaml", "deploy/rbac/make-kubeconfig.sh", "deploy/jobs/train.yaml"} <= mentioned
    assert {"deploy/ray/raycluster.yaml", "deploy/loadgen/master.yaml", "deploy/loadgen/workers.yaml"} <= mentioned
    missing = [path for path in mentioned if not (DEPLOY.parent / path).exists()]
    assert not missing


def job_argv() -> list[str]:
    """The training Job's command line with its $(NAME) references expanded."""
    (container,) = train_job()["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in container["command"] + container["args"]]


def test_the_job_command_line_is_one_faastrain_accepts() -> None:
    from faastrain_async.cli.main import build_parser

    args = build_parser().parse_args(job_argv()[1:])
    assert args.command == "train" and args.timesteps > 0
    # A live backend trains one env, with no evaluation during training (the trainer refuses more).
    assert args.n_envs == 1 and args.eval_every == 0
    assert str(args.save).startswith("/runs/")


# -- the Ray cluster (KubeRay) ---------------------------------------------------------

def raycluster() -> dict[str, Any]:
    return find("RayCluster", "faastrain", DEPLOY / "ray" / "raycluster.yaml")


def ray_groups() -> list[dict[str, Any]]:
    spec = raycluster()["spec"]
    return [spec["headGroupSpec"], *spec["workerGroupSpecs"]]


def test_the_ray_cluster_runs_the_ray_extras_version_of_ray() -> None:
    pyproject = (DEPLOY.parent / "pyproject.toml").read_text()
    pinned = re.search(r'"ray\[rllib\]~=([\d.]+)"', pyproject)
    assert pinned and raycluster()["spec"]["rayVersion"] == pinned.group(1)
    assert raycluster()["metadata"]["namespace"] == NAMESPACE


def test_the_ray_cluster_pods_run_the_training_image_as_the_envs_service_account() -> None:
    dockerfile = (DEPLOY / "jobs" / "Dockerfile").read_text()
    assert "--build-arg EXTRAS=ray" in dockerfile and "wget" in dockerfile  # KubeRay's probes run wget
    for group in ray_groups():
        pod = group["template"]["spec"]
        assert pod["serviceAccountName"] == SERVICE_ACCOUNT  # in_cluster=true for the envs
        assert pod["securityContext"]["runAsUser"] == 10001  # the image's user
        (container,) = pod["containers"]
        assert container["image"].endswith("/faastrain-ray:0.1.0")
        assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]
        assert "faas_function" not in group["template"]["metadata"].get("labels", {})  # never a replica


def test_every_env_runner_lands_on_a_worker_one_per_pod() -> None:
    head, *workers = ray_groups()
    assert head["rayStartParams"]["num-cpus"] == "0"  # no env runner on the head
    for group in workers:
        assert group["rayStartParams"]["num-cpus"] == "1"  # an env runner takes one CPU: one per pod
        assert group["minReplicas"] <= group["replicas"] <= group["maxReplicas"]
        # The env runner and its env's load generator both run in the pod.
        assert float(group["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]) >= 2


def test_the_ray_start_parameters_are_options_of_ray_start() -> None:
    scripts = pytest.importorskip("ray.scripts.scripts")
    options = {opt.lstrip("-") for param in scripts.start.params for opt in param.opts}
    for group in ray_groups():
        assert set(group["rayStartParams"]) <= options


# -- the distributed load generator ----------------------------------------------------

LOADGEN = DEPLOY / "loadgen"


def loadgen_argv(name: str) -> list[str]:
    deployment = find("Deployment", name)
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e["value"] for e in container.get("env", [])}
    assert container["command"] == ["faastrain-loadgen"]
    return [re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], arg) for arg in container["args"]]


def test_the_load_generator_master_and_workers_find_each_other() -> None:
    from loadgen.cli import build_parser

    master = build_parser().parse_args(loadgen_argv("loadgen-master"))
    worker = build_parser().parse_args(loadgen_argv("loadgen-worker"))
    service = find("Service", "loadgen-master", LOADGEN / "master.yaml")
    assert master.master_bind_host == "0.0.0.0" and master.expect_workers >= 1
    assert worker.worker and worker.master_host == service["metadata"]["name"]
    (port,) = service["spec"]["ports"]
    assert master.master_port == worker.master_port == port["port"]
    # The run starts when every worker has joined: as many as the workers Deployment runs.
    assert master.expect_workers == find("Deployment", "loadgen-worker")["spec"]["replicas"]
    assert master.url == "http://gateway.openfaas:8080" and master.function == FUNCTION and master.profile


def test_the_load_generator_selectors_match_their_pods() -> None:
    service = find("Service", "loadgen-master", LOADGEN / "master.yaml")
    master = find("Deployment", "loadgen-master")
    labels = master["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    (container,) = master["spec"]["template"]["spec"]["containers"]
    assert service["spec"]["ports"][0]["targetPort"] in {p["name"] for p in container["ports"]}
    for deployment in (master, find("Deployment", "loadgen-worker")):
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert deployment["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
        assert deployment["metadata"]["namespace"] == NAMESPACE and "faas_function" not in template_labels
