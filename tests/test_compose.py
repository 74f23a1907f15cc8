"""collector-config/docker-compose.yaml, checked without Docker.

Neither a Docker engine nor the compose plugin can run here, so the file is checked
for what would break ``docker compose up``: a mounted path missing from the
repository, an image that is not pinned to the versions the binaries were validated
at, a port published beyond 127.0.0.1, a variable a config needs that no one sets,
a service reaching another at an address that one does not listen on (inside a
container, 127.0.0.1 is not reachable from the others), and Grafana's data sources or
Prometheus' targets naming the wrong service. The inline Prometheus config is also
checked by the real promtool.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "collector-config"
COMPOSE = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
ENV_REFERENCE = re.compile(r"\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
SHELL_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
ALL_INTERFACES = ("0.0.0.0", "", "[::]", "::")

# Every collector module builder-config.yaml may use, checked against the
# otelcol-contrib distribution's manifest (opentelemetry-collector-releases,
# distributions/otelcol-contrib/manifest.yaml): the compose file runs that image, so
# a component outside this list would make its configs fail there. Extend it only
# after checking the manifest at the pinned release.
IN_OTELCOL_CONTRIB = frozenset({
    "go.opentelemetry.io/collector/receiver/otlpreceiver",
    "go.opentelemetry.io/collector/processor/memorylimiterprocessor",
    "go.opentelemetry.io/collector/processor/batchprocessor",
    "go.opentelemetry.io/collector/connector/forwardconnector",
    "go.opentelemetry.io/collector/exporter/otlpexporter",
    "go.opentelemetry.io/collector/exporter/otlphttpexporter",
    "go.opentelemetry.io/collector/exporter/debugexporter",
    "go.opentelemetry.io/collector/confmap/provider/envprovider",
    "go.opentelemetry.io/collector/confmap/provider/fileprovider",
    "go.opentelemetry.io/collector/confmap/provider/yamlprovider",
    *(f"github.com/open-telemetry/opentelemetry-collector-contrib/{module}" for module in (
        "processor/redactionprocessor", "processor/tailsamplingprocessor",
        "processor/attributesprocessor", "processor/transformprocessor",
        "processor/resourceprocessor", "processor/filterprocessor",
        "processor/k8sattributesprocessor", "extension/storage/filestorage",
        "extension/bearertokenauthextension",
        "connector/spanmetricsconnector", "connector/countconnector",
        "exporter/prometheusexporter", "exporter/loadbalancingexporter",
        "extension/healthcheckextension",
    )),
})  # fmt: skip


def _build_sh_version(name: str) -> str:
    match = re.search(rf'^{name}="v?([^"]+)"', (DEPLOY / "build.sh").read_text(), re.MULTILINE)
    assert match, name
    return match.group(1)


def _bind_mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> repository path (relative to collector-config/) of bind mounts."""
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = volume.split(":")[:2]
        if source.startswith("."):
            mounts[target] = source
    return mounts


def _mounted_file(service: dict[str, Any], container_path: str) -> Path:
    """The repository file a container path of ``service`` comes from."""
    path = PurePosixPath(container_path)
    for target, source in _bind_mounts(service).items():
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return DEPLOY / source / path.relative_to(target)
    raise AssertionError(f"{container_path} is not mounted from the repository")


def _environment(service: dict[str, Any]) -> dict[str, str]:
    def interpolate(value: str) -> str:
        return SHELL_REFERENCE.sub(lambda m: m.group(2) or "", value)

    return {k: interpolate(str(v)) for k, v in (service.get("environment") or {}).items()}


def _render(text: str, env: dict[str, str], pattern: re.Pattern[str]) -> Any:
    """A config as the program sees it with ``env``: references replaced, YAML parsed."""

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        assert name in env or default is not None, f"${{{name}}} has no default and is not set"
        return env.get(name, default or "")

    return yaml.safe_load(pattern.sub(value, text))


def _config_argument(service: dict[str, Any], *flags: str) -> str:
    for argument in service.get("command", []):
        for flag in flags:
            if argument.startswith(f"{flag}="):
                return str(argument.split("=", 1)[1])
    raise AssertionError(f"no {flags} in {service.get('command')}")


def _listeners(name: str) -> set[str]:
    """host:port addresses the service listens on inside its container."""
    service = SERVICES[name]
    env = _environment(service)
    found: set[str] = set()
    if name in {"otel-agent", "otel-gateway", "jaeger"}:
        path = _mounted_file(service, _config_argument(service, "--config"))
        config = _render(path.read_text(), env, ENV_REFERENCE)
        for section in ("receivers", "extensions"):
            for key, value in _walk(config.get(section, {})):
                if key == "endpoint":
                    found.add(value)
        if "prometheus" in config.get("exporters", {}):
            found.add(config["exporters"]["prometheus"]["endpoint"])
        for reader in config["service"]["telemetry"]["metrics"]["readers"]:
            exporter = reader["pull"]["exporter"]["prometheus"]
            found.add(f"{exporter['host']}:{exporter['port']}")
    elif name == "loki":
        path = _mounted_file(service, _config_argument(service, "-config.file"))
        server = _render(path.read_text(), env, SHELL_REFERENCE)["server"]
        found.add(f"{server['http_listen_address']}:{server['http_listen_port']}")
    elif name in {"prometheus", "alertmanager"}:
        found.add(_config_argument(service, "--web.listen-address"))
    elif name == "grafana":
        found.add(f":{env.get('GF_SERVER_HTTP_PORT', '3000')}")  # Grafana binds all by default
    return found


def _walk(node: Any) -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if isinstance(value, str):
                pairs.append((key, value))
            else:
                pairs.extend(_walk(value))
    elif isinstance(node, list):
        for value in node:
            pairs.extend(_walk(value))
    return pairs


def _reachable(address: str) -> bool:
    """Whether ``service:port`` is an address its service listens on for other containers."""
    host, port = address.rsplit(":", 1)
    listeners = [listener.rsplit(":", 1) for listener in _listeners(host)]
    return any(h in ALL_INTERFACES and p == port for h, p in listeners)


def test_images_are_pinned_to_the_validated_versions():
    """Every image has an exact version: the ones build.sh validated, Loki 3 and Grafana 12."""
    images = {name: service["image"] for name, service in SERVICES.items()}
    collector = _build_sh_version("OCB_VERSION")
    assert images["otel-agent"] == f"otel/opentelemetry-collector-contrib:{collector}"
    assert images["otel-gateway"] == images["otel-agent"]
    assert images["jaeger"] == f"jaegertracing/jaeger:{_build_sh_version('JAEGER_V2_VERSION')}"
    assert images["prometheus"] == f"prom/prometheus:v{_build_sh_version('PROMETHEUS_VERSION')}"
    assert images["alertmanager"] == (
        f"prom/alertmanager:v{_build_sh_version('ALERTMANAGER_VERSION')}"
    )
    assert re.fullmatch(r"grafana/loki:3\.\d+\.\d+", images["loki"])
    assert re.fullmatch(r"grafana/grafana:12\.\d+\.\d+", images["grafana"])


def test_builder_components_exist_in_the_contrib_distribution():
    """Each component of our collector build is in otelcol-contrib, the image compose runs."""
    manifest = yaml.safe_load((DEPLOY / "builder-config.yaml").read_text())
    modules = {
        entry["gomod"].split()[0]
        for kind in ("receivers", "processors", "connectors", "exporters", "extensions",
                     "providers")
        for entry in manifest.get(kind, [])
    }  # fmt: skip
    assert modules <= IN_OTELCOL_CONTRIB, modules - IN_OTELCOL_CONTRIB


def test_every_mounted_path_exists_in_the_repository():
    """Bind mounts name files and directories of collector-config/; named volumes exist."""
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (DEPLOY / source).exists(), (name, source)
            else:
                assert source in COMPOSE["volumes"], (name, source)
        for config in service.get("configs", []):
            assert config["source"] in COMPOSE["configs"], (name, config)
        for secret in service.get("secrets", []):
            assert secret["source"] in COMPOSE["secrets"], (name, secret)
    for secret in COMPOSE["secrets"].values():
        default = SHELL_REFERENCE.fullmatch(secret["file"])
        assert default is not None, secret
        assert default.group(2) == "/dev/null", secret


def test_published_ports_are_loopback_only():
    """Every published port is bound to 127.0.0.1 and reaches a listener of its container."""
    published = 0
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            parts = str(port).split(":")
            assert len(parts) == 3 and parts[0] == "127.0.0.1", (name, port)  # noqa: PT018
            container = parts[2]
            assert _reachable(f"{name}:{container}"), (name, port, _listeners(name))
            published += 1
    assert published >= 7


def test_collector_and_loki_configs_get_every_variable_they_need():
    """Each ${env:VAR} without a default in a mounted config is set for its service."""
    for name in ("otel-agent", "otel-gateway", "jaeger"):
        service = SERVICES[name]
        text = _mounted_file(service, _config_argument(service, "--config")).read_text()
        _render(text, _environment(service), ENV_REFERENCE)
    loki = SERVICES["loki"]
    text = _mounted_file(loki, _config_argument(loki, "-config.file")).read_text()
    _render(text, _environment(loki), SHELL_REFERENCE)


def test_services_reach_each_other_where_they_listen():
    """Addresses one service uses for another name a compose service listening on them."""
    env = {name: _environment(service) for name, service in SERVICES.items()}
    references = [
        env["otel-agent"]["OTEL_ERRORS_GATEWAY_ENDPOINT"],
        env["otel-gateway"]["JAEGER_OTLP_ENDPOINT"],
        urlsplit(env["otel-gateway"]["LOKI_OTLP_ENDPOINT"]).netloc,
        urlsplit(env["loki"]["ALERTMANAGER_URL"]).netloc,
        urlsplit(env["jaeger"]["JAEGER_PROMETHEUS_URL"]).netloc,
    ]
    for address in references:
        assert address.split(":")[0] in SERVICES, address
        assert _reachable(address), (address, _listeners(address.split(":")[0]))


def test_grafana_provisioning_points_at_the_compose_services():
    """Grafana's data sources resolve to the Prometheus, Loki and Jaeger services."""
    grafana = SERVICES["grafana"]
    env = _environment(grafana)
    datasources = _mounted_file(grafana, "/etc/grafana/provisioning/datasources/otel-errors.yaml")
    rendered = yaml.safe_load(datasources.read_text())  # Grafana expands values, not comments

    def url(value: str) -> str:
        """Grafana's expansion: ${VAR} from its environment ($$ is a literal $)."""
        return _render(value.replace("$$", "\0"), env, SHELL_REFERENCE).replace("\0", "$")

    by_type = {source["type"]: urlsplit(url(source["url"])) for source in rendered["datasources"]}
    assert set(by_type) == {"prometheus", "loki", "jaeger"}
    for kind, url in by_type.items():
        assert url.hostname == kind, url
        assert _reachable(url.netloc), (kind, url.netloc)
    provider = yaml.safe_load(
        _mounted_file(grafana, "/etc/grafana/provisioning/dashboards/otel-errors.yaml").read_text()
    )
    dashboards = provider["providers"][0]["options"]["path"]
    assert (_mounted_file(grafana, dashboards) / "otel-errors.json").is_file()
    home = env["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert _mounted_file(grafana, home).is_file()


def _compose_prometheus() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE["configs"]["prometheus"]["content"])


def test_prometheus_config_matches_the_shipped_one_with_service_names():
    """The inline Prometheus config has the shipped jobs, aimed at the compose services."""
    shipped = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    compose = _compose_prometheus()
    assert compose["global"] == shipped["global"]
    # every shipped job but the load-balancing tier, which this single gateway needs not
    assert [j["job_name"] for j in compose["scrape_configs"]] == [
        j["job_name"] for j in shipped["scrape_configs"]
    ]
    targets = [t for job in compose["scrape_configs"] for s in job["static_configs"]
               for t in s["targets"]]  # fmt: skip
    targets += compose["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    for target in targets:
        if target == "localhost:9090":
            assert "0.0.0.0:9090" in _listeners("prometheus")
            continue
        assert _reachable(target), (target, _listeners(target.split(":")[0]))
    prometheus = SERVICES["prometheus"]
    rules = _mounted_file(prometheus, compose["rule_files"][0].rsplit("/", 1)[0])
    assert rules == DEPLOY / "prometheus" / "rules"
    assert list(rules.glob("*.yml"))


def test_alertmanager_gets_its_templates_and_every_secret_file():
    """Each *_file the shipped Alertmanager config reads is a compose secret at that path."""
    service = SERVICES["alertmanager"]
    config_path = _mounted_file(service, _config_argument(service, "--config.file"))
    config = yaml.safe_load(config_path.read_text())
    needed = {v for k, v in _walk(config) if k.endswith("_file")}
    provided = {secret["target"] for secret in service["secrets"]}
    assert needed == provided
    template_dir = config["templates"][0].rsplit("/", 1)[0]
    assert list(_mounted_file(service, template_dir).glob("*.tmpl"))


@pytest.mark.e2e
def test_promtool_accepts_the_inline_prometheus_config(tmp_path):
    """The real promtool checks the inline config with the shipped rules in place."""
    paths = subprocess.run(
        ["bash", str(DEPLOY / "build.sh"), "prometheus"], capture_output=True, text=True,
        timeout=3600, check=True,
    ).stdout  # fmt: skip
    promtool = dict(line.split("=", 1) for line in paths.split())["PROMTOOL_BIN"]
    config = _compose_prometheus()
    config["rule_files"] = [str(DEPLOY / "prometheus" / "rules" / "*.yml")]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    result = subprocess.run(
        [promtool, "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
