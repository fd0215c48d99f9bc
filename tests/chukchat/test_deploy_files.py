"""The deploy files say what the README promises. No container engine runs here, so they are
checked as files: the YAML parses and has the fields that matter, HAProxy accepts its config,
the entry point is valid shell, and the image runs what `make serve` runs."""

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def k8s() -> dict[tuple[str, str], dict]:
    documents = {}
    for path in sorted((ROOT / "deploy" / "k8s").glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            documents[(document["kind"], document["metadata"]["name"])] = document
    return documents


def container(deployment: dict) -> dict:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return only


def test_the_image_is_multi_stage_slim_unprivileged_and_checks_liveness():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert stages == ["FROM python:3.11-slim AS build", "FROM python:3.11-slim AS runtime"]
    # The pinned dependencies: pyproject.toml's, and constraints.txt's for what they bring in.
    assert "COPY pyproject.toml README.md constraints.txt ./\n" in dockerfile
    assert "RUN pip install -c constraints.txt .\n" in dockerfile
    assert "collectstatic" in dockerfile  # the manifest check_deploy wants is in the image
    runtime = dockerfile.split("AS runtime", 1)[1]
    assert "\nUSER chuk\n" in runtime and "--uid 10001" in runtime
    healthcheck = runtime.split("HEALTHCHECK", 1)[1].split("\n\n", 1)[0]
    assert "/health/live" in healthcheck
    assert 'ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]' in runtime


def test_the_entry_point_runs_each_part_as_make_does():
    entrypoint = ROOT / "deploy" / "docker-entrypoint.sh"
    assert entrypoint.stat().st_mode & 0o111
    subprocess.run(["sh", "-n", str(entrypoint)], check=True)
    script = entrypoint.read_text()
    web = script.split("web)", 1)[1].split(";;", 1)[0]
    assert web.index("check_deploy") < web.index("exec uvicorn")
    for flag in ("--lifespan on", "--timeout-graceful-shutdown 30", "chukchat.draining"):
        assert flag in web
    assert "PROMETHEUS_MULTIPROC_DIR" in web
    assert "--schedule var/celerybeat-schedule" in script.split("beat)", 1)[1]
    assert "bootstrap --no-demo" in script.split("deploy)", 1)[1]


def test_compose_has_replicated_web_workers_one_beat_the_services_and_a_proxy():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"postgres", "redis", "migrate", "web", "worker", "beat", "proxy"} <= set(services)
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["web"]["command"] == ["web"]
    assert services["worker"]["command"] == ["worker"]
    assert services["beat"]["deploy"]["replicas"] == 1
    assert services["migrate"]["command"] == ["deploy"]
    waits = services["web"]["depends_on"]["migrate"]["condition"]
    assert waits == "service_completed_successfully"
    environment = services["web"]["environment"]
    assert (
        environment["DATABASE_URL"].startswith("postgres://")
        and "@postgres:" in environment["DATABASE_URL"]
    )
    assert environment["REDIS_URL"] == "redis://redis:6379/0"
    assert environment["CHUK_TRUSTED_PROXY_COUNT"] == "1"
    mounts = services["proxy"]["volumes"]
    assert "./deploy/haproxy/haproxy.cfg:/usr/local/etc/haproxy/haproxy.cfg:ro" in mounts
    assert services["postgres"]["healthcheck"] and services["redis"]["healthcheck"]


def test_the_proxy_checks_readiness_and_lets_websockets_through():
    config = (ROOT / "deploy" / "haproxy" / "haproxy.cfg").read_text()
    assert "uri /health/ready" in config
    assert "timeout tunnel" in config  # an upgraded WebSocket is a tunnel
    assert "server-template web" in config and "web:8000" in config


@pytest.mark.skipif(not shutil.which("haproxy"), reason="Debian's haproxy is not installed")
def test_haproxy_accepts_its_config():
    checked = subprocess.run(
        ["haproxy", "-c", "-f", str(ROOT / "deploy" / "haproxy" / "haproxy.cfg")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_kubernetes_web_scales_on_cpu_with_readiness_and_liveness_probes():
    documents = k8s()
    web = documents[("Deployment", "chukchat-web")]
    probes = container(web)
    assert probes["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert probes["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert probes["args"] == ["web"]
    assert web["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > 35
    hpa = documents[("HorizontalPodAutoscaler", "chukchat-web")]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "chukchat-web"
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    service = documents[("Service", "chukchat-web")]
    assert service["spec"]["selector"] == web["spec"]["selector"]["matchLabels"]


def test_kubernetes_has_workers_one_beat_and_a_migration_job():
    documents = k8s()
    assert container(documents[("Deployment", "chukchat-worker")])["args"] == ["worker"]
    beat = documents[("Deployment", "chukchat-beat")]
    assert beat["spec"]["replicas"] == 1 and beat["spec"]["strategy"]["type"] == "Recreate"
    job = documents[("Job", "chukchat-migrate")]
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["deploy"]
    for document in documents.values():
        if document["kind"] in ("Deployment", "Job"):
            spec = document["spec"]["template"]["spec"]
            assert spec["securityContext"]["runAsNonRoot"] is True
            env = {
                ref.get("configMapRef", ref.get("secretRef"))["name"]
                for ref in spec["containers"][0]["envFrom"]
            }
            assert env == {"chukchat-config", "chukchat-secrets"}
