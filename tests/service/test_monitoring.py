"""deploy/: the Grafana dashboard and the Prometheus alerts only name metrics (and labels) heavy
exports, and the Kubernetes layouts keep their promises (replicas, rolling updates, disruption
budgets, readiness on /healthz), and docker compose scales on PostgreSQL."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from heavy_engine.observability import Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
_SELECTOR = re.compile(r"\b(heavy_[a-z_]+)\s*(\{[^}]*\})?")
_LABEL = re.compile(r"([a-z_]+)\s*(=~|!=|!~|=)")


def _exported() -> dict[str, set[str]]:
    """Every series name /metrics can carry, with its label names."""
    names: dict[str, set[str]] = {}
    for series in vars(Metrics()).values():
        metric = getattr(series, "metric", None)
        if metric is None:
            continue
        name, labels, kind = metric._name, set(metric._labelnames), metric._type
        if kind == "counter":
            names[f"{name}_total"] = labels
        elif kind == "histogram":
            names[f"{name}_bucket"] = labels | {"le"}
            names[f"{name}_sum"] = names[f"{name}_count"] = labels
        else:
            names[name] = labels
    return names


def _expressions() -> list[tuple[str, str]]:
    """(where, PromQL) of every alert rule and dashboard panel target."""
    found: list[tuple[str, str]] = []
    rules = yaml.safe_load((DEPLOY / "monitoring" / "alerts.yaml").read_text())
    for group in rules["groups"]:
        found += [(f"alert {r['alert']}", r["expr"]) for r in group["rules"]]
    dashboard = json.loads((DEPLOY / "monitoring" / "grafana-dashboard.json").read_text())
    for panel in dashboard["panels"]:
        found += [(f"panel {panel['title']!r}", t["expr"]) for t in panel["targets"]]
    return found


def test_dashboard_and_alerts_name_only_exported_metrics_and_labels() -> None:
    exported = _exported()
    expressions = _expressions()
    assert len(expressions) >= 15
    used: set[str] = set()
    for where, expr in expressions:
        for name, selector in _SELECTOR.findall(expr):
            assert name in exported, f"{where}: {name} is not exported at /metrics"
            used.add(name)
            for label, _ in _LABEL.findall(selector or ""):
                assert label in exported[name], f"{where}: {name} has no label {label!r}"
    # The list: queue depth, job latency, failures, LLM calls, cost.
    assert {"heavy_queue_depth", "heavy_job_duration_seconds_bucket",
            "heavy_jobs_finished_total", "heavy_llm_calls_total",
            "heavy_llm_cost_usd_total"} <= used


def _docs(path: Path) -> list[dict[str, object]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def test_kubernetes_layouts_roll_without_downtime_and_leave_when_draining() -> None:
    k8s = DEPLOY / "k8s"
    embedded = _docs(k8s / "deployment.yaml")[0]
    assert embedded["spec"]["replicas"] == 1  # type: ignore[index]
    assert embedded["spec"]["strategy"]["type"] == "Recreate"  # type: ignore[index]
    layouts = {"postgres": ["deployment.yaml"], "split": ["web.yaml", "worker.yaml"]}
    for layout, files in layouts.items():
        deployments = [d for f in files for d in _docs(k8s / layout / f)]
        budgets = _docs(k8s / layout / "pdb.yaml")
        assert len(budgets) == len(deployments)
        for dep, pdb in zip(deployments, budgets, strict=True):
            spec: dict = dep["spec"]  # type: ignore[assignment]
            assert spec["replicas"] >= 2
            assert spec["strategy"] == {"type": "RollingUpdate",
                                        "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}}
            pod = spec["template"]["spec"]
            container = pod["containers"][0]
            assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
            env = {e["name"]: e for e in container["env"]}
            assert env["HEAVY_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["optional"] is False
            assert pod["terminationGracePeriodSeconds"] > int(env["HEAVY_SHUTDOWN_GRACE"]["value"])
            assert not any("persistentVolumeClaim" in v for v in pod["volumes"])
            assert pdb["spec"]["selector"] == spec["selector"]  # type: ignore[index]
            assert pdb["spec"]["minAvailable"] < spec["replicas"]  # type: ignore[index]
    web, worker = (_docs(k8s / "split" / f)[0] for f in ("web.yaml", "worker.yaml"))
    assert web["spec"]["template"]["spec"]["containers"][0]["args"] == [  # type: ignore[index]
        "heavy", "serve", "--role", "web"]
    assert worker["spec"]["template"]["spec"]["containers"][0]["args"] == [  # type: ignore[index]
        "heavy", "worker"]
    assert "app.kubernetes.io~1component" in (k8s / "split" / "kustomization.yaml").read_text()


def test_compose_scales_heavy_on_postgres_and_stays_one_replica_on_sqlite() -> None:
    """`docker compose --profile postgres up --scale heavy=3` can start: nothing pins a replica
    (a container name, one host port), the schema is migrated first, and PostgreSQL takes the
    connections five replicas keep open. Without the profile it is the embedded default."""
    from heavy_engine.cli._serve import DEFAULT_GRACE
    from heavy_engine.db._database import POOL_SIZE
    from heavy_engine.jobs._distributed import _QUEUE_POOL

    compose: dict = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    services = compose["services"]
    heavy, migrate, postgres = services["heavy"], services["migrate"], services["postgres"]
    assert "container_name" not in heavy and "profiles" not in heavy  # on without a profile
    [published] = heavy["ports"]
    host = re.fullmatch(r"\$\{HEAVY_PUBLISH:-127\.0\.0\.1:(\d+)-(\d+)\}:3000", published)
    assert host is not None, published  # a range on loopback: one port per replica
    assert int(host[2]) - int(host[1]) + 1 >= 3
    assert heavy["depends_on"]["migrate"] == {"condition": "service_completed_successfully",
                                              "required": False}  # SQLite: no migrate service
    assert migrate["profiles"] == postgres["profiles"] == ["postgres"]
    assert migrate["command"] == ["heavy", "db", "upgrade"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    max_connections = int(postgres["command"][postgres["command"].index("-c") + 1]
                          .removeprefix("max_connections="))
    per_replica = POOL_SIZE + _QUEUE_POOL + 2  # + the queue listener and the progress listener
    assert per_replica == 42  # what deploy/README.md tells operators to size for
    assert max_connections >= 5 * per_replica
    # Docker's SIGKILL comes after HEAVY_SHUTDOWN_GRACE's default: running jobs finish first.
    assert int(heavy["stop_grace_period"].removesuffix("s")) > DEFAULT_GRACE
