"""collector-config/kubernetes, rendered by kustomize and checked without a cluster.

kustomize (built from its Go module by collector-config/build.sh) renders the bases;
every object is validated strictly (unknown fields fail) against the Kubernetes JSON
schemas that the kubernetes-validate package ships, so nothing is downloaded. The
OpenTelemetry Operator's ``Instrumentation`` is a custom resource whose schema no
registry package ships: only the fields this deployment relies on are checked. The
collector configs the pods would run are validated by the real collector, with the
pods' own arguments, files and environment. No cluster runs here: scheduling, the
Kubernetes API that k8s_attributes reads, the headless Services' DNS, the Alertmanager
pair's gossip and the Operator's injection are not exercised.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "collector-config"
pytestmark = pytest.mark.e2e
VERSIONS = ("1.31.0", "1.37.0")
"""The oldest and newest Kubernetes versions the manifests are validated for."""


@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    result = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), "kustomize", "collector"], capture_output=True,
        text=True, timeout=3600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return dict(line.split("=", 1) for line in result.stdout.split())


@pytest.fixture(scope="module")
def objects(binaries) -> list[dict[str, Any]]:
    """What ``kustomize build collector-config/kubernetes`` renders."""
    result = subprocess.run(
        [binaries["KUSTOMIZE_BIN"], "build", str(DEPLOY / "kubernetes")], capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def _one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith(name)]
    assert len(found) == 1, (kind, name, [o["metadata"]["name"] for o in found])
    return found[0]


def _container(workload: dict[str, Any]) -> dict[str, Any]:
    containers = workload["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(container: dict[str, Any]) -> dict[str, str]:
    """The container's environment; values from the Downward API as a node would fill them."""
    downward = {"spec.nodeName": "node-1", "status.podIP": "10.0.0.7", "status.hostIP": "10.0.0.1"}
    return {
        e["name"]: e["value"] if "value" in e else downward[e["valueFrom"]["fieldRef"]["fieldPath"]]
        for e in container["env"]
    }


@pytest.mark.parametrize("version", VERSIONS)
def test_every_object_is_valid_against_the_kubernetes_schemas(objects, version):
    """Each rendered object passes its strict schema; only the Operator's CRD has none."""
    without_schema = {f"{o['apiVersion']}/{o['kind']}" for o in objects if not _valid(o, version)}
    assert without_schema == {"opentelemetry.io/v1alpha1/Instrumentation"}
    kinds = {o["kind"] for o in objects}
    assert {"DaemonSet", "StatefulSet", "Service", "ConfigMap", "ClusterRole"} <= kinds


def _valid(obj: dict[str, Any], version: str) -> bool:
    """Validates ``obj`` strictly (raising on errors); False when no schema knows its kind."""
    import kubernetes_validate

    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.SchemaNotFoundError:
        return False
    return True


def test_a_wrong_field_fails_the_validation(objects):
    """The schemas catch a misspelt field (the check can fail)."""
    import kubernetes_validate

    agent = _one(objects, "DaemonSet", "otel-errors-agent")
    broken = {**agent, "spec": {**agent["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


@pytest.mark.parametrize(("kind", "name"), [("DaemonSet", "otel-errors-agent"),
                                            ("StatefulSet", "otel-errors-gateway")])  # fmt: skip
def test_collector_pods_run_configs_the_real_collector_accepts(objects, binaries, tmp_path, kind,
                                                               name):  # fmt: skip
    """The pod's arguments, with its ConfigMap's files and its environment, validate."""
    workload = _one(objects, kind, name)
    container = _container(workload)
    mount = next(m for m in container["volumeMounts"] if m["name"] == "config")["mountPath"]
    volume = next(v for v in workload["spec"]["template"]["spec"]["volumes"]
                  if v["name"] == "config")  # fmt: skip
    config_map = _one(objects, "ConfigMap", "otel-errors-collector-config")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    for key, text in config_map["data"].items():
        (tmp_path / key).write_text(text)
        source = DEPLOY / "otelcol" / key.replace("-", "/", 1)
        if not source.exists():
            source = DEPLOY / "otelcol" / key
        assert source.read_text() == text, key  # the ConfigMap holds the shipped files
    args = [arg.replace(f"{mount}/", f"{tmp_path}/") for arg in container["args"]]
    assert all(Path(arg.split("=", 1)[1]).exists() for arg in args), args
    result = subprocess.run(
        [binaries["OTELCOL_BIN"], "validate", *args], env={"PATH": "/usr/bin:/bin",
        **_env(container)}, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def test_agents_find_the_gateways_through_the_headless_service(objects):
    """The agents' dns resolver names the gateways' headless Service, TLS names their cert."""
    agent = _container(_one(objects, "DaemonSet", "otel-errors-agent"))
    env = _env(agent)
    gateway = _one(objects, "StatefulSet", "otel-errors-gateway")
    service = _one(objects, "Service", env["OTEL_ERRORS_GATEWAY_HEADLESS_SERVICE"])
    assert service["spec"]["clusterIP"] == "None"
    assert gateway["spec"]["serviceName"] == service["metadata"]["name"]
    labels = gateway["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert 14317 in {p["port"] for p in service["spec"]["ports"]}
    config = yaml.safe_load((DEPLOY / "otelcol" / "kubernetes" / "agent.yaml").read_text())
    resolver = config["exporters"]["load_balancing/traceid"]["resolver"]["dns"]
    assert resolver["port"] == "14317"
    assert "OTEL_ERRORS_GATEWAY_HEADLESS_SERVICE" in resolver["hostname"]
    # every collector keeps its sending queue where it survives the pod
    gateway_env = _env(_container(gateway))
    claims = {c["metadata"]["name"] for c in gateway["spec"]["volumeClaimTemplates"]}
    mounts = {m["name"]: m["mountPath"] for m in _container(gateway)["volumeMounts"]}
    assert mounts["queue"] == gateway_env["OTEL_ERRORS_QUEUE_DIR"]
    assert "queue" in claims
    agent_volumes = _one(objects, "DaemonSet", "otel-errors-agent")["spec"]["template"]["spec"]
    queue = next(v for v in agent_volumes["volumes"] if v["name"] == "queue")
    assert "hostPath" in queue
    assert {"GOMEMLIMIT"} <= env.keys() & gateway_env.keys()


def test_alertmanager_runs_as_a_pair_that_finds_itself(objects):
    """Two replicas, each peering with both by their stable names; the shipped files mounted."""
    pair = _one(objects, "StatefulSet", "otel-errors-alertmanager")
    headless = _one(objects, "Service", pair["spec"]["serviceName"])
    assert pair["spec"]["replicas"] == 2
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    args = _container(pair)["args"]
    name, service = pair["metadata"]["name"], headless["metadata"]["name"]
    peers = {a.split("=", 1)[1] for a in args if a.startswith("--cluster.peer=")}
    assert peers == {f"{name}-{i}.{service}:9094" for i in range(2)}
    mounts = {m["name"]: m["mountPath"] for m in _container(pair)["volumeMounts"]}
    config_file = next(a for a in args if a.startswith("--config.file=")).split("=", 1)[1]
    assert config_file == f"{mounts['config']}/alertmanager.yml"
    shipped = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text())
    assert shipped["templates"] == [f"{mounts['templates']}/*.tmpl"]
    secret_files = {v for k, v in _flatten(shipped) if k.endswith("_file")}
    assert {str(Path(f).parent) for f in secret_files} == {mounts["secrets"]}
    config_map = _one(objects, "ConfigMap", "otel-errors-alertmanager-config")
    assert yaml.safe_load(config_map["data"]["alertmanager.yml"]) == shipped


def _flatten(node: Any) -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [pair for k, v in node.items() for pair in [(k, v), *_flatten(v)]]
    if isinstance(node, list):
        return [pair for v in node for pair in _flatten(v)]
    return []


def test_the_instrumentation_sends_to_the_agent_on_the_pods_node(objects):
    """The Operator's Instrumentation (no schema here): image, node IP endpoint, host ports."""
    instrumentation = _one(objects, "Instrumentation", "otel-errors")
    spec = instrumentation["spec"]
    assert spec["exporter"]["endpoint"] == "http://$(OTEL_NODE_IP):4318"
    node_ip = next(e for e in spec["env"] if e["name"] == "OTEL_NODE_IP")
    assert node_ip["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP"
    assert spec["python"]["image"].endswith("/autoinstrumentation-python:0.1.0")
    agent = _container(_one(objects, "DaemonSet", "otel-errors-agent"))
    host_ports = {p.get("hostPort") for p in agent["ports"]}
    assert 4318 in host_ports
    assert _env(agent)["OTEL_ERRORS_AGENT_HTTP_ADDR"] == "0.0.0.0:4318"
