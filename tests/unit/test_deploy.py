"""The deployment files agree with each other and with the conventions: compose, Dockerfile,
Prometheus scrape configs and alert rules, Grafana provisioning and dashboards, runbooks.

No Docker engine runs here, so these read the files; `docker compose config` runs when a compose CLI
exists. The PromQL itself is checked against a real Prometheus in tests/integration/test_prometheus_config.py.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = ROOT / "docker-compose.yml"
DASHBOARDS = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
ALERTS_FILE = DEPLOY / "prometheus" / "alerts.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"

PORTS = {"gateway": 8000, "loyalty": 8001, "notifications": 8002, "segments": 8003, "tracking": 8004}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
SECRET_NAME = re.compile(r"PASSWORD|SECRET|TOKEN")
REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]*\}$")
SAMPLE_ENV = {
    "POSTGRES_PASSWORD": "pg-test-password",
    "RETENTION_SECRET_KEY": "test-secret-key-0123456789",
    "RETENTION_ADMIN_TOKEN": "test-admin-token-0123456789",
    "SMTP_HOST": "mailpit",
    "GRAFANA_ADMIN_PASSWORD": "grafana-test-password",
}


# --- helpers ---------------------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


def documented_metrics() -> dict[str, str]:
    """Metric name -> type from the docs' metric lists (`- retention_x{labels} counter`)."""
    declared = re.compile(r"\b(retention_[a-z0-9_]+)\{[^}\n]*\}\s+(counter|gauge|histogram)\b")
    sources = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found: dict[str, str] = {}
    for source in sources:
        if source.exists():
            for match in declared.finditer(source.read_text(encoding="utf-8")):
                found[match.group(1)] = match.group(2)
    return found


_PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool"}
_PROMQL_WORDS |= {"offset", "inf", "nan"}


def promql_metric_names(expr: str) -> set[str]:
    """Metric names a PromQL expression selects: identifiers that are not functions, keywords or labels."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values and other strings
    text = re.sub(r"\{[^}]*\}", " ", text)  # label matchers (and Grafana variables in them)
    text = re.sub(r"\[[^\]]*\]", " ", text)  # range selectors
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("(") or word.lower() in _PROMQL_WORDS:
            continue
        names.add(word)
    return names


def unknown_metrics(expr: str, documented: dict[str, str]) -> set[str]:
    def known(name: str) -> bool:
        if name == "up" or name.startswith(("process_", "python_")):
            return True
        if name in documented:
            return True
        base, _, suffix = name.rpartition("_")
        return suffix in {"bucket", "sum", "count"} and documented.get(base) == "histogram"

    return {name for name in promql_metric_names(expr) if not known(name)}


def dashboard_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # panels inside collapsed rows


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load_yaml(ALERTS_FILE)["groups"] for rule in group["rules"] if "alert" in rule]


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_anchors() -> set[str]:
    text = RUNBOOKS.read_text(encoding="utf-8")
    anchors = {github_anchor(h) for h in re.findall(r"^#{1,6}\s+(.+?)\s*#*\s*$", text, flags=re.MULTILINE)}
    return anchors | set(re.findall(r'<a\s+(?:id|name)="([^"]+)"', text))


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def dockerfile_stages() -> list[list[str]]:
    """Instructions (continuation lines joined) grouped by FROM."""
    text = re.sub(r"\\\n", " ", (ROOT / "Dockerfile").read_text(encoding="utf-8"))
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


# --- docker-compose.yml ------------------------------------------------------------------------------


def test_compose_follows_the_compose_spec_without_version(compose: dict[str, Any]) -> None:
    assert "version" not in compose, "the compose spec dropped `version:`"
    assert set(compose) <= {"name", "services", "volumes", "networks", "configs", "secrets"} | {
        key for key in compose if key.startswith("x-")
    }
    assert "x-service" in compose, "the platform services share one YAML anchor block"


def test_compose_has_the_whole_platform(services: dict[str, Any]) -> None:
    expected = {*PORTS, "kafka", "postgres", "init", "mailpit", "prometheus", "grafana"}
    assert expected <= set(services)
    assert services["kafka"]["image"] == "apache/kafka:3.9.1"
    assert services["postgres"]["image"] == "postgres:17"
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    assert services["grafana"]["image"].startswith("grafana/grafana")


def test_every_service_has_a_healthcheck_or_is_a_declared_one_shot(services: dict[str, Any]) -> None:
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if check.get("disable"):
            assert service.get("restart") == "no", f"{name}: only one-shot services may disable the healthcheck"
            continue
        assert check.get("test"), f"{name}: healthcheck without a test"
        assert service.get("restart") in {"unless-stopped", "always", "on-failure"}, f"{name}: no restart policy"


def test_every_dependency_waits_for_a_condition(services: dict[str, Any]) -> None:
    for name, service in services.items():
        depends_on = service.get("depends_on", {})
        assert isinstance(depends_on, dict), f"{name}: depends_on must be a mapping with conditions"
        for dependency, spec in depends_on.items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            condition = (spec or {}).get("condition")
            assert condition in CONDITIONS, f"{name} -> {dependency}: condition {condition!r}"
            target = services[dependency]
            if condition == "service_healthy":
                assert not target["healthcheck"].get("disable"), f"{dependency} has no healthcheck to wait for"
            if condition == "service_completed_successfully":
                assert target.get("restart") == "no", f"{dependency} must be a one-shot"


def test_platform_services_run_serve_with_their_port_and_production_settings(services: dict[str, Any]) -> None:
    for name, port in PORTS.items():
        service = services[name]
        env = environment(service)
        assert service["command"] == ["serve", name]
        assert env["RETENTION_HTTP_PORT"] == str(port)
        assert env["RETENTION_HTTP_HOST"] == "0.0.0.0", "a container must listen beyond its loopback"
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
        assert env["RETENTION_ENV"] == "production"
        assert env["RETENTION_KAFKA_IDEMPOTENCE"] == "true"
        assert re.fullmatch(
            r"postgresql://retention:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432/retention", env["DATABASE_URL"]
        )
        for other, other_port in PORTS.items():
            if other != "gateway":
                assert env[f"RETENTION_{other.upper()}_URL"] == f"http://{other}:{other_port}"
        depends_on = service["depends_on"]
        assert depends_on["kafka"]["condition"] == "service_healthy"
        assert depends_on["postgres"]["condition"] == "service_healthy"
        assert depends_on["init"]["condition"] == "service_completed_successfully"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert service["image"] == services["init"]["image"], "one image for every process"


def test_init_creates_topics_then_migrates_once(services: dict[str, Any]) -> None:
    init = services["init"]
    command = " ".join([*init.get("entrypoint", []), *init["command"]])
    assert "retention topics create && retention migrate" in command
    assert init["restart"] == "no"
    assert {dep: spec["condition"] for dep, spec in init["depends_on"].items()} == {
        "kafka": "service_healthy",
        "postgres": "service_healthy",
    }


def test_secrets_are_required_variables_never_literals(services: dict[str, Any]) -> None:
    checked = []
    for name, service in services.items():
        for key, value in environment(service).items():
            if SECRET_NAME.search(key):
                assert REQUIRED_VARIABLE.match(value), f"{name}.{key} must be ${{VAR:?…}}, not {value!r}"
                checked.append(key)
    assert {"POSTGRES_PASSWORD", "RETENTION_SECRET_KEY", "RETENTION_ADMIN_TOKEN", "GF_SECURITY_ADMIN_PASSWORD"} <= set(
        checked
    )
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    defaults = re.findall(r"\$\{([A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN)[A-Z0-9_]*):?-", text)
    assert not defaults, f"secrets with a default value: {defaults}"
    assert re.search(r"SMTP_HOST: \$\{SMTP_HOST:\?", text), "the SMTP server is chosen explicitly"


def test_mounted_deploy_files_exist(services: dict[str, Any]) -> None:
    mounts = {}
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source, target, *_ = volume.split(":")
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
                mounts[target] = source
    assert mounts["/etc/prometheus"] == "./deploy/prometheus"
    assert mounts["/etc/grafana/provisioning"] == "./deploy/grafana/provisioning"
    assert mounts["/var/lib/grafana/dashboards"] == "./deploy/grafana/dashboards"
    assert "--config.file=/etc/prometheus/prometheus.yml" in services["prometheus"]["command"]


def compose_cli() -> list[str] | None:
    candidates = [["docker", "compose"]] if shutil.which("docker") else []
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for candidate in candidates:
        try:
            probe = subprocess.run([*candidate, "version"], capture_output=True, timeout=30, check=False)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0:
            return candidate
    return None


def test_docker_compose_accepts_the_file_and_refuses_missing_secrets() -> None:
    cli = compose_cli()
    if cli is None:
        pytest.skip("no docker compose CLI on this machine (the file is still checked by the tests above)")
    base_env = {k: v for k, v in os.environ.items() if k not in SAMPLE_ENV}
    command = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "config", "--quiet"]
    ok = subprocess.run(command, env={**base_env, **SAMPLE_ENV}, capture_output=True, text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    missing = subprocess.run(command, env=base_env, capture_output=True, text=True, timeout=60)
    assert missing.returncode != 0
    assert "Variable not set" in missing.stderr


# --- Dockerfile ----------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_and_runs_as_a_user() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "builder and runtime stages"
    assert re.match(r"FROM \S+ AS builder$", stages[0][0], flags=re.IGNORECASE)
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in text
    assert all(stage[0].split()[1] == "${PYTHON_IMAGE}" for stage in stages)
    runtime = stages[-1]
    assert any(re.match(r"COPY --from=builder /opt/venv /opt/venv$", line) for line in runtime)
    users = [line.split(None, 1)[1] for line in runtime if line.upper().startswith("USER ")]
    assert users, "the runtime stage sets a USER"
    assert users[-1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["retention"]' in runtime
    assert 'CMD ["serve", "gateway"]' in runtime
    healthcheck = next(line for line in runtime if line.startswith("HEALTHCHECK"))
    assert "/healthz" in healthcheck and "RETENTION_HTTP_PORT" in healthcheck and "urllib" in healthcheck
    assert any("pip wheel" in line for line in stages[0])


def test_dockerignore_keeps_local_state_out_of_the_image() -> None:
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".retention", ".git", "**/__pycache__", ".pytest_cache", ".ruff_cache"} <= ignored
    assert not {"services", "pyproject.toml", "README.md"} & ignored, "the build needs these"


# --- Prometheus ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "host"),
    [("prometheus.yml", None), ("prometheus.dev.yml", "127.0.0.1")],
)
def test_prometheus_scrapes_every_process(config: str, host: str | None) -> None:
    loaded = load_yaml(DEPLOY / "prometheus" / config)
    assert loaded["rule_files"] == ["alerts.yml"]
    targets = {
        job["job_name"]: [target for static in job["static_configs"] for target in static["targets"]]
        for job in loaded["scrape_configs"]
    }
    for service, port in PORTS.items():
        assert targets[service] == [f"{host or service}:{port}"], f"{config}: job {service}"
    for job in loaded["scrape_configs"]:  # a target label `service` would clash with the metrics' own
        assert all("service" not in static.get("labels", {}) for static in job["static_configs"]), job["job_name"]


def test_documented_metric_list_is_found() -> None:
    documented = documented_metrics()
    assert len(documented) >= 14, documented
    assert documented["retention_batch_duration_seconds"] == "histogram"


def test_promql_metric_name_parser() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(x_bucket{service=~"$service", route!~"/a|/b"}'
        "[$__rate_interval]))) / on() group_left y_total > 0.5 and up"
    )
    assert promql_metric_names(expr) == {"x_bucket", "y_total", "up"}
    assert unknown_metrics("rate(retention_nope_total[5m])", documented_metrics()) == {"retention_nope_total"}


def test_alerts_have_severity_summary_and_an_existing_runbook() -> None:
    rules = alert_rules()
    assert len(rules) >= 8
    anchors = runbook_anchors()
    documented = documented_metrics()
    for rule in rules:
        name = rule["alert"]
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        path, _, anchor = annotations["runbook_url"].partition("#")
        assert path.endswith("docs/runbooks.md"), name
        assert anchor == github_anchor(name), f"{name}: anchor {anchor!r}"
        assert anchor in anchors, f"{name}: docs/runbooks.md has no section #{anchor}"
        assert not unknown_metrics(rule["expr"], documented), f"{name}: {unknown_metrics(rule['expr'], documented)}"


def test_alerts_cover_the_failure_modes() -> None:
    exprs = " ".join(rule["expr"] for rule in alert_rules())
    for needle in (
        "up{",
        "retention_consumer_lag",
        "retention_dead_letters_total",
        "retention_transient_errors_total",
        "retention_outbox_pending",
        "retention_http_requests_total",
        "retention_http_request_duration_seconds_bucket",
        "retention_notifications_sent_total",
    ):
        assert needle in exprs, needle


def test_every_runbook_section_belongs_to_an_alert() -> None:
    headings = re.findall(r"^## (Retention\w+)", RUNBOOKS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(headings) == sorted(rule["alert"] for rule in alert_rules())


# --- Grafana -------------------------------------------------------------------------------------------


def test_grafana_provisioning_points_at_prometheus_and_the_dashboards() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning"
    (datasource,) = load_yaml(provisioning / "datasources" / "prometheus.yml")["datasources"]
    assert datasource["uid"] == "prometheus"
    assert datasource["type"] == "prometheus"
    assert datasource["url"] == "http://prometheus:9090"
    (provider,) = load_yaml(provisioning / "dashboards" / "dashboards.yml")["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    assert DASHBOARDS, "at least one dashboard"


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_panels_query_prometheus_for_known_metrics(path: Path) -> None:
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    assert dashboard["schemaVersion"] == 39
    assert dashboard["uid"] and dashboard["title"]
    assert "service" in {var["name"] for var in dashboard["templating"]["list"]}
    for var in dashboard["templating"]["list"]:
        if var["type"] == "query":
            assert var["datasource"]["uid"] == "prometheus"
    documented = documented_metrics()
    panels = [panel for panel in dashboard_panels(dashboard) if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard_panels(dashboard)}) == len(list(dashboard_panels(dashboard)))
    for panel in panels:
        title = panel["title"]
        assert panel["datasource"]["uid"] == "prometheus", title
        assert panel["targets"], f"{title}: no targets"
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "prometheus", title
            assert target["expr"].strip(), title
            assert not unknown_metrics(target["expr"], documented), (
                f"{title}: {unknown_metrics(target['expr'], documented)}"
            )


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_layout_has_no_overlapping_panels(path: Path) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


def test_overview_dashboard_shows_every_documented_metric() -> None:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "platform-overview.json").read_text(encoding="utf-8"))
    used = set()
    for panel in dashboard_panels(dashboard):
        for target in panel.get("targets", []):
            used |= {re.sub(r"_bucket$", "", name) for name in promql_metric_names(target["expr"])}
    missing = set(documented_metrics()) - used
    assert not missing, f"metrics without a panel: {sorted(missing)}"
    assert {"process_resident_memory_bytes", "process_cpu_seconds_total"} <= used
