"""/healthz, /readyz and /metrics over real HTTP."""

import json

import httpx

from finsent import telemetry
from finsent.health import Health, HealthServer


def test_endpoints_report_stage_state_and_dependency_checks() -> None:
    failing: dict[str, str | None] = {"why": "connection refused"}
    health = Health(["classify", "index"], checks={"kafka": lambda: failing["why"]})
    server = HealthServer(health, "127.0.0.1", 0)
    server.start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        starting = httpx.get(f"{base}/readyz")
        assert starting.status_code == 503
        assert starting.json()["problems"]["stage classify"] == "starting"
        health.set("classify", "running")
        health.set("index", "running")
        health._cache = (0.0, {})
        not_ready = httpx.get(f"{base}/readyz").json()
        assert not_ready == {"ready": False, "problems": {"kafka": "connection refused"}}
        failing["why"] = None
        health._cache = (0.0, {})
        assert httpx.get(f"{base}/readyz").status_code == 200
        assert httpx.get(f"{base}/healthz").status_code == 200
        health.set("classify", "crashed")
        health.set("index", "crashed")
        assert httpx.get(f"{base}/healthz").status_code == 503, "every stage crashing"
        telemetry.ALERTS.labels("firing", "high").inc()
        metrics = httpx.get(f"{base}/metrics").text
        assert 'finsent_alerts_total{severity="high",status="firing"}' in metrics
        assert 'finsent_stage_up{stage="index"} 0.0' in metrics
        names = {line.split("{")[0].split(" ")[0] for line in metrics.splitlines()
                 if line and not line.startswith("#")}  # fmt: skip
        assert all(n.startswith(("finsent_", "python_", "process_")) for n in names)
        assert json.loads(httpx.get(f"{base}/nope").text) == {"error": "not found"}
    finally:
        server.close()
