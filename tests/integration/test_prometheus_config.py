"""deploy/prometheus and the Grafana dashboards against the real Prometheus tools.

- `promtool` checks both scrape configs, the alert rules, and runs the rules' unit tests;
- a real `prometheus` server scrapes a small exporter that serves the platform's own metric
  declarations (services.common.metrics & co.) under the job names of prometheus.dev.yml, fed with
  synthetic traffic. Every dashboard query must then return data, every alert expression must
  evaluate, and every alert must go pending: the PromQL matches the metrics the code exports.

The binaries come from the Debian package `prometheus` (`make system-deps`). Without them the tests
skip, except under CI, where a missing binary is a failure.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from services.common.metrics import KernelMetrics, new_registry
from services.gateway.metrics import GatewayMetrics
from services.loyalty.metrics import LoyaltyMetrics
from services.notifications.metrics import NotificationMetrics
from services.segments.metrics import SegmentsMetrics
from services.tracking.metrics import TrackingMetrics

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
DASHBOARDS = sorted((ROOT / "deploy" / "grafana" / "dashboards").glob("*.json"))
SERVICES = ("gateway", "loyalty", "notifications", "segments", "tracking")
#: What Grafana substitutes for the dashboards' variables ("All" of a multi-value variable is a regex group).
GRAFANA_VARIABLES = {
    "$__rate_interval": "15s",
    "$__interval": "5s",
    "$__range": "1m",
    "${service}": "(" + "|".join(SERVICES) + ")",
    "$service": "(" + "|".join(SERVICES) + ")",
}
SETTLE_TIMEOUT_S = 60.0


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path:
        return path
    message = f"`{name}` is not installed (Debian package `prometheus`: `make system-deps`)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; CI must install it")
    pytest.skip(message)


def run_promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


# --- promtool --------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.dev.yml"])
def test_promtool_accepts_the_scrape_config(config: str) -> None:
    result = run_promtool("check", "config", str(PROMETHEUS_DIR / config))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_promtool_accepts_the_alert_rules() -> None:
    result = run_promtool("check", "rules", str(PROMETHEUS_DIR / "alerts.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    rules = sum(len(group["rules"]) for group in yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"])
    assert f"SUCCESS: {rules} rules found" in result.stdout


def test_alert_rule_unit_tests_pass() -> None:
    result = run_promtool("test", "rules", str(PROMETHEUS_DIR / "alerts.test.yml"))
    assert result.returncode == 0, result.stdout + result.stderr
    tested = set(re.findall(r"alertname:\s*(\w+)", (PROMETHEUS_DIR / "alerts.test.yml").read_text()))
    assert tested == {rule["alert"] for rule in alert_rules()}, "every alert has a promtool unit test"


# --- a real Prometheus over the platform's metric declarations --------------------------------------------


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_targets() -> list[tuple[str, str]]:
    """(dashboard · panel title, expr) of every panel target, rows' inner panels included."""
    found = []
    for path in DASHBOARDS:
        dashboard = json.loads(path.read_text(encoding="utf-8"))
        panels = [p for top in dashboard["panels"] for p in (top, *top.get("panels", []))]
        for panel in panels:
            for target in panel.get("targets", []):
                found.append((f"{path.stem} · {panel['title']} · {target['refId']}", target["expr"]))
    return found


def grafana_to_promql(expr: str) -> str:
    for variable in sorted(GRAFANA_VARIABLES, key=len, reverse=True):
        expr = expr.replace(variable, GRAFANA_VARIABLES[variable])
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


@dataclass
class SampleExporter:
    """One registry per service, each with the metrics that service declares, driven by a traffic thread."""

    registries: dict[str, CollectorRegistry]
    tick: Callable[[int], None]


def build_exporter() -> SampleExporter:
    registries: dict[str, CollectorRegistry] = {}
    kernels: dict[str, KernelMetrics] = {}
    for service in SERVICES:
        registries[service] = new_registry()
        kernels[service] = KernelMetrics.create(registries[service])
    gateway = GatewayMetrics.create(registries["gateway"])
    notifications = NotificationMetrics.create(registries["notifications"])
    loyalty = LoyaltyMetrics.create(registries["loyalty"])
    tracking = TrackingMetrics.create(registries["tracking"])
    segments = SegmentsMetrics.create(registries["segments"])
    consumed = {
        "loyalty": "shop.orders",
        "notifications": "loyalty.events",
        "segments": "shop.orders",
        "tracking": "shop.shipments",
    }
    rng = random.Random(7)

    def tick(n: int) -> None:
        for service, kernel in kernels.items():
            topic = consumed.get(service)
            if topic:
                kernel.events_consumed.labels(service, topic).inc(20)
                kernel.events_applied.labels(service, topic).inc(18)
                kernel.duplicates.labels(service, topic).inc(1)
                kernel.dead_letters.labels(service, topic, "data.total_minor").inc(1)
                kernel.batch_duration.labels(service, topic).observe(rng.uniform(0.002, 0.3))
                kernel.consumer_lag.labels(service, topic, "0").set(20_000 + 50 * n)  # high and growing
                kernel.consumer_lag.labels(service, topic, "1").set(0)
            kernel.transient_errors.labels(service, "batch").inc()
            kernel.outbox_relayed.labels(service, f"{service}.events").inc(5)
            kernel.outbox_pending.labels(service).set(1_500)
            kernel.jobs_run.labels(service, "delay_check").inc(3)
            kernel.jobs_failed.labels(service, "delay_check").inc()
            kernel.schedule_delay.labels(service).set(900)
            for route, method, status, seconds in (
                ("/v1/events", "POST", "202", 0.4),  # slow: p99 above the alert's 250 ms
                ("/v1/events", "POST", "500", 0.05),  # 1 in 5: a 5xx ratio above 5%
                ("/v1/events", "POST", "202", 0.02),
                ("/v1/events", "POST", "202", 0.02),
                ("/v1/events", "POST", "202", 0.02),
                ("/healthz", "GET", "200", 0.001),
                ("/metrics", "GET", "200", 0.003),
            ):
                kernel.http_requests.labels(service, route, method, status).inc()
                kernel.http_duration.labels(service, route, method).observe(seconds)
        gateway.accepted.labels("order.placed").inc(9)
        gateway.rejected.labels("contract").inc()
        for status, count in (("sent", 8), ("failed", 1), ("suppressed", 2)):
            notifications.sent.labels("points_earned", status).inc(count)
        loyalty.points.labels("pending").inc(120)
        loyalty.tier_changes.labels("upgrade").inc()
        loyalty.redemptions.labels("fixed_amount").inc()
        tracking.status_changes.labels("dhl", "in_transit").inc(12)
        tracking.problems.labels("dhl", "delayed", "promise_passed").inc(2)
        tracking.deliveries.labels("dhl", "true").inc(9)
        tracking.deliveries.labels("dhl", "false").inc(1)
        tracking.transit_hours.labels("dhl").observe(rng.uniform(20, 60))
        tracking.unknown_codes.labels("dpd").inc(30)  # a carrier's new codes: the alert's case
        segments.transitions.labels("entered", "event").inc(4)
        segments.transitions.labels("exited", "schedule").inc(2)
        segments.triggers.labels("win_back").inc()
        segments.reevaluation_seconds.observe(rng.uniform(1_000, 1_190))  # 17-20 min walks: the alert's case
        segments.reevaluated.inc(1_000)
        segments.kpi.labels("demo-shop", "repeat_customer_rate", "all").set(0.31)
        segments.kpi.labels("demo-shop", "churn_rate", "all").set(0.04)

    return SampleExporter(registries, tick)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(probe: Callable[[], Any], what: str, timeout_s: float = SETTLE_TIMEOUT_S) -> Any:
    """Poll `probe` until it returns something truthy; fail with `what` after the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.5)


def api(base_url: str, path: str, **params: str) -> dict[str, Any]:
    """GET a Prometheus HTTP API endpoint; errors come back as their JSON body (status "error")."""
    url = f"{base_url}{path}?{urllib.parse.urlencode(params)}"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        return json.loads(exc.read() or b"{}") | {"http_status": exc.code}


def query(base_url: str, expr: str) -> dict[str, Any]:
    return api(base_url, "/api/v1/query", query=expr)


@pytest.fixture(scope="module")
def exporter_address() -> Iterator[str]:
    exporter = build_exporter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            registry = exporter.registries.get(self.path.removeprefix("/metrics/"))
            if registry is None:
                self.send_error(404)
                return
            body = generate_latest(registry)
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stop = threading.Event()

    def traffic() -> None:
        n = 0
        while not stop.wait(0.1):
            n += 1
            exporter.tick(n)

    exporter.tick(0)
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=traffic, daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        stop.set()
        server.shutdown()
        server.server_close()
        for thread in threads:
            thread.join(timeout=5)


@pytest.fixture(scope="module")
def prometheus(exporter_address: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Prometheus with prometheus.dev.yml's jobs and the alert rules, scraping the exporter every second."""
    binary = require_binary("prometheus")
    workdir = tmp_path_factory.mktemp("prometheus")
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.dev.yml").read_text(encoding="utf-8"))
    assert {job["job_name"] for job in config["scrape_configs"]} == set(SERVICES)
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config["rule_files"] = [str(PROMETHEUS_DIR / "alerts.yml")]
    for job in config["scrape_configs"]:
        job["metrics_path"] = f"/metrics/{job['job_name']}"
        job["static_configs"] = [{"targets": [exporter_address]}]
        if job["job_name"] == "tracking":  # a second instance nobody serves: up == 0
            job["static_configs"].append({"targets": [f"127.0.0.1:{free_port()}"]})
    config_file = workdir / "prometheus.yml"
    config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
    port = free_port()
    log_path = workdir / "prometheus.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [
                binary,
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--log.level=warn",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base_url = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        if process.poll() is not None:
            pytest.fail(f"prometheus exited with {process.returncode}:\n{log_path.read_text()}")
        try:
            with urllib.request.urlopen(f"{base_url}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    try:
        wait_until(ready, "prometheus to be ready", timeout_s=60)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_prometheus_scrapes_every_job_of_the_dev_config(prometheus: str, exporter_address: str) -> None:
    def healthy_jobs() -> set[str]:
        targets = api(prometheus, "/api/v1/targets")["data"]["activeTargets"]
        return {
            t["labels"]["job"] for t in targets if t["labels"]["instance"] == exporter_address and t["health"] == "up"
        }

    assert wait_until(lambda: healthy_jobs() == set(SERVICES), "every job's target up")


def test_dashboard_queries_parse_and_return_data(prometheus: str) -> None:
    targets = [(where, grafana_to_promql(expr)) for where, expr in dashboard_targets()]
    assert len(targets) >= 20

    def empty_ones() -> list[str]:
        empty = []
        for where, expr in targets:
            answer = query(prometheus, expr)
            assert answer["status"] == "success", f"{where}: {answer.get('error')}\n{expr}"
            if not answer["data"]["result"]:
                empty.append(f"{where}: {expr}")
        return empty

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while (empty := empty_ones()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not empty, "queries without data:\n" + "\n".join(empty)


def test_dashboard_variables_list_the_services(prometheus: str) -> None:
    checked = 0
    for path in DASHBOARDS:
        for variable in json.loads(path.read_text(encoding="utf-8"))["templating"]["list"]:
            if variable["type"] != "query":
                continue
            definition = variable["query"]["query"] if isinstance(variable["query"], dict) else variable["query"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", definition.strip())
            assert match, f"{path.name} ${variable['name']}: unsupported query {definition}"
            selector, label = match.groups()

            def values(selector: str = selector, label: str = label) -> set[str]:
                answer = query(prometheus, selector)
                assert answer["status"] == "success", answer
                return {series["metric"][label] for series in answer["data"]["result"] if label in series["metric"]}

            if variable["name"] == "service":
                assert wait_until(lambda v=values: v() == set(SERVICES), "the service variable's values")
            checked += 1
    assert checked


def test_alert_expressions_evaluate(prometheus: str) -> None:
    for rule in alert_rules():
        answer = query(prometheus, rule["expr"])
        assert answer["status"] == "success", f"{rule['alert']}: {answer.get('error')}"


def test_every_alert_matches_the_exported_metrics(prometheus: str) -> None:
    """With the synthetic trouble of the exporter, each alert's expression selects series: it goes pending."""
    expected = {rule["alert"] for rule in alert_rules()}

    def active() -> set[str]:
        alerts = api(prometheus, "/api/v1/alerts")["data"]["alerts"]
        return {a["labels"]["alertname"] for a in alerts if a["state"] in {"pending", "firing"}}

    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while (missing := expected - active()) and time.monotonic() < deadline:
        time.sleep(1)
    assert not missing, f"alerts that never went pending: {sorted(missing)}"
    rules = [r for g in api(prometheus, "/api/v1/rules")["data"]["groups"] for r in g["rules"]]
    assert {r["name"] for r in rules} == expected
    unhealthy = {r["name"]: r.get("lastError") for r in rules if r["health"] != "ok"}
    assert not unhealthy, unhealthy
    down = [
        a
        for a in api(prometheus, "/api/v1/alerts")["data"]["alerts"]
        if a["labels"]["alertname"] == "RetentionServiceDown"
    ]
    assert {a["labels"]["job"] for a in down} == {"tracking"}, "only the unserved instance is down"
