"""The deploy/ files validate: the production compose file (`docker compose config` where Compose v2 is
installed, the Compose Specification's JSON schema and its shape here in any case), the Kubernetes manifests
against the Kubernetes API's JSON schemas (kubernetes-validate, which ships them) and against what Millwright needs
of them (probes, the buffer on a persistent volume per acquisition pod, one database replica), and the Dockerfile
against INSTALLED_APPS."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

DEPLOY = Path(settings.BASE_DIR) / "deploy"
K8S = DEPLOY / "k8s"
ENV = {"SECRET_KEY": "x", "ALLOWED_HOSTS": "localhost", "POSTGRES_PASSWORD": "x"}
BUFFER_DIR = "/var/lib/millwright"


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def _manifests() -> list[dict]:
    docs = [doc for path in sorted(K8S.glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]
    return [doc for doc in docs if doc]


def _kind(kind: str, name: str) -> dict:
    found = [d for d in _manifests() if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}"
    return found[0]


def _compose_command() -> list[str] | None:
    """Compose v2 only: the v1 `docker-compose` (Debian's 1.29) predates the Compose Specification and refuses
    valid files (a top-level `name`, for one)."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0:
        return [docker, "compose"]
    return None


def test_docker_compose_accepts_the_production_file(tmp_path):
    command = _compose_command()
    if command is None:
        pytest.skip(
            "the Docker Compose v2 plugin (`docker compose`) is not installed here (the schema check below still runs)"
        )
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in ENV.items()))
    result = subprocess.run(
        [*command, "--project-directory", str(DEPLOY), "--env-file", str(tmp_path / ".env"),
         "-f", str(DEPLOY / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True, text=True, check=False, timeout=60, env={"PATH": "/usr/bin:/bin", **ENV},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _compose_spec_check(path: Path) -> subprocess.CompletedProcess:
    """The Compose Specification's JSON schema (the one `docker compose` validates against; check-jsonschema ships
    a copy), where no Compose v2 runs: keys, types, and the `${VAR}` strings it accepts in place of numbers."""
    command = [sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec", str(path)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_the_production_compose_file_follows_the_compose_specification():
    result = _compose_spec_check(DEPLOY / "docker-compose.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_compose_specification_check_refuses_a_misspelt_key(tmp_path):
    broken = _compose()
    broken["services"]["web"]["restrat"] = broken["services"]["web"].pop("restart", "always")
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    result = _compose_spec_check(path)
    assert result.returncode == 1
    assert "restrat" in result.stdout


def test_the_compose_file_runs_every_process_of_a_production_plant():
    services = _compose()["services"]
    assert {"db", "redis", "migrate", "web", "beat", "subscriptions", "sparkplug", "nginx"} <= set(services)
    assert services["db"]["image"].startswith("timescale/timescaledb")
    assert str(services["web"]["deploy"]["replicas"]) in ("${WEB_REPLICAS:-2}", "2")
    assert "beat" in services["beat"]["command"]
    assert "deploy" not in services["beat"]  # exactly one


def test_each_compose_process_that_buffers_has_its_own_host_name_and_buffer_volume():
    compose = _compose()
    buffering = {
        name: service
        for name, service in compose["services"].items()
        if "--acquisition" in str(service.get("command")) or "run_" in str(service.get("command"))
    }
    assert len([n for n in buffering if n.startswith("worker-")]) >= 2
    volumes = []
    for name, service in buffering.items():
        assert service["hostname"] == name
        mounts = [v for v in service["volumes"] if v.endswith(f":{BUFFER_DIR}")]
        assert len(mounts) == 1, name
        volumes.append(mounts[0].split(":")[0])
    assert len(set(volumes)) == len(volumes)
    assert set(volumes) <= set(compose["volumes"])


def test_the_kubernetes_manifests_validate_against_the_kubernetes_schemas():
    kubernetes_validate = pytest.importorskip("kubernetes_validate")
    version = kubernetes_validate.latest_version()
    for doc in _manifests():
        kubernetes_validate.validate(doc, version, strict=True)


def test_every_kubernetes_workload_selects_its_own_pods_and_names_its_image():
    for doc in _manifests():
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), doc
        if doc["kind"] in ("Deployment", "StatefulSet"):
            selector = doc["spec"]["selector"]["matchLabels"]
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert selector.items() <= labels.items(), doc["metadata"]["name"]
        if doc["kind"] == "StatefulSet":
            assert _kind("Service", doc["spec"]["serviceName"])
        if doc["kind"] in ("Deployment", "StatefulSet", "Job"):
            for container in doc["spec"]["template"]["spec"]["containers"]:
                assert container["image"], doc["metadata"]["name"]


def test_the_web_pods_are_probed_alive_on_healthz_and_ready_on_readyz():
    container = _kind("Deployment", "web")["spec"]["template"]["spec"]["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert _kind("Deployment", "web")["spec"]["replicas"] >= 2


def test_acquisition_and_push_runners_keep_their_buffer_on_a_persistent_volume_of_their_own():
    for name in ("acquisition", "subscriptions", "sparkplug"):
        statefulset = _kind("StatefulSet", name)
        claims = {c["metadata"]["name"] for c in statefulset["spec"]["volumeClaimTemplates"]}
        mounts = statefulset["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]
        assert {m["name"] for m in mounts if m["mountPath"] == BUFFER_DIR} <= claims, name
        assert any(m["mountPath"] == BUFFER_DIR for m in mounts), name
    config = _kind("ConfigMap", "millwright")["data"]
    assert config["MILLWRIGHT_STATE_DIR"] == BUFFER_DIR


def test_the_database_has_a_primary_and_one_streaming_replica():
    assert _kind("StatefulSet", "timescaledb")["spec"]["replicas"] == 1
    replica = _kind("StatefulSet", "timescaledb-replica")
    assert replica["spec"]["replicas"] == 1
    assert "pg_basebackup" in str(replica["spec"]["template"]["spec"]["initContainers"])


def test_the_image_holds_every_django_app_of_the_project():
    local_apps = {app.split(".")[0] for app in settings.INSTALLED_APPS if (DEPLOY.parent / app.split(".")[0]).is_dir()}
    dockerfile = (DEPLOY / "Dockerfile").read_text()
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    for app in sorted(local_apps | {"common", "config", "templates", "static"}):
        assert f"COPY {app} ./{app}" in dockerfile, app
        assert f"!{app}/" in ignore, app
