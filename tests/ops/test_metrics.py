"""GET /metrics (prometheus-client): requests by route template and status, fits, points;
summed over worker processes with GDS_WORKERS > 1."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service import metrics
from tests.helpers.apps import JSON, app_with, serve
from tests.helpers.fits import LINE
from tests.helpers.servers import running_server


def sample(name: str, **labels: str) -> float:
    """The current value of a sample of the service's registry (0 when it does not exist)."""
    return metrics.REGISTRY.get_sample_value(name, labels) or 0.0


def scraped(text: str, name: str, **labels: str) -> float:
    """The value of a sample in a scraped exposition (0 when absent)."""
    for family in text_string_to_metric_families(text):
        for item in family.samples:
            if item.name == name and all(item.labels.get(k) == v for k, v in labels.items()):
                return item.value
    return 0.0


def test_record_fits_counts_fits_and_points() -> None:
    before_gd = sample("gds_fits_total", optimizer="gd", update="sequential")
    before_points = sample("gds_fit_points_total", optimizer="gd", update="sequential")
    before_nesterov = sample("gds_fits_total", optimizer="nesterov", update="simultaneous")
    metrics.record_fits(
        [("gd", "sequential", 100), ("gd", "sequential", 5), ("nesterov", "simultaneous", 7)]
    )
    metrics.record_fits([])
    assert sample("gds_fits_total", optimizer="gd", update="sequential") == before_gd + 2
    assert (
        sample("gds_fit_points_total", optimizer="gd", update="sequential") == before_points + 105
    )
    assert (
        sample("gds_fits_total", optimizer="nesterov", update="simultaneous") == before_nesterov + 1
    )


@pytest.mark.anyio
async def test_fits_are_counted_by_optimizer_and_update() -> None:
    def count(name: str) -> float:
        return sample(name, optimizer="momentum", update="simultaneous")

    fits, points = count("gds_fits_total"), count("gds_fit_points_total")
    fit = {**LINE, "optimizer": "momentum", "learning_rate": 0.01}
    async with serve(app_with()) as client:
        assert (await client.post("/fit", json=fit)).status_code == 200
        batch = {"fits": [fit, fit, {**fit, "learning_rate": 50.0}]}  # the last one diverges
        assert (await client.post("/fit/batch", json=batch)).status_code == 200
        assert (await client.post("/fit", json={**fit, "lr": 0})).status_code == 422
    assert count("gds_fits_total") == fits + 3
    assert count("gds_fit_points_total") == points + 12


@pytest.mark.anyio
async def test_metrics_by_route_template_and_status() -> None:
    requests = [
        ("POST", "/fit", "200"),
        ("POST", "/fit", "422"),
        ("GET", "/healthz", "200"),
        ("GET", "unmatched", "404"),
        ("GET", "/fit", "405"),
        ("POST", "/fit", "413"),
        ("GET", "/static", "200"),
    ]
    async with serve(app_with(max_body_bytes=1000)) as client:
        before = (await client.get("/metrics")).text
        await client.post("/fit", json=LINE)
        await client.post("/fit", json={"x": [1, 2]})
        await client.get("/healthz")
        await client.get("/no/such/path/zqxjvw")
        await client.get("/fit")
        await client.post("/fit", content=b"0" * 2000, headers=JSON)
        await client.get("/static/style.css")
        response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    text = response.text
    # The registry is the process's: each request counts once more than before it.
    for method, route, status in requests:
        labels = {"method": method, "route": route, "status": status}
        for name in ("gds_http_requests_total", "gds_http_request_duration_seconds_count"):
            assert scraped(text, name, **labels) - scraped(before, name, **labels) == 1, labels
        bucket = "gds_http_request_duration_seconds_bucket"
        grew = scraped(text, bucket, le="+Inf", **labels) - scraped(
            before, bucket, le="+Inf", **labels
        )
        assert grew == 1, labels
    assert "zqxjvw" not in text  # the path of a 404 is not a label (a number could be a value)
    assert 'le="0.001"' in text
    assert re.search(r"^gds_http_requests_in_progress \d", text, re.MULTILINE)
    assert re.search(r"^process_resident_memory_bytes ", text, re.MULTILINE)


@pytest.mark.anyio
async def test_metrics_counts_exactly() -> None:
    labels = {"method": "GET", "route": "/info", "status": "200"}
    before = sample("gds_http_requests_total", **labels)
    async with serve(app_with()) as client:
        for _ in range(3):
            await client.get("/info")
    assert sample("gds_http_requests_total", **labels) == before + 3


@pytest.mark.anyio
async def test_metrics_open_when_api_keys_set_and_openmetrics_on_request() -> None:
    async with serve(app_with(api_keys=["k"])) as client:
        plain = await client.get("/metrics")
        openmetrics = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"}
        )
    assert plain.status_code == 200
    assert openmetrics.status_code == 200
    assert openmetrics.headers["content-type"].startswith("application/openmetrics-text")
    assert openmetrics.text.rstrip().endswith("# EOF")


@pytest.mark.slow
def test_metrics_summed_over_two_workers_and_temp_dir_removed(tmp_path: Path) -> None:
    temp = tmp_path / "tmp"
    temp.mkdir()
    requests = 24
    labels = {"method": "GET", "route": "/info", "status": "200"}
    with running_server(tmp_path, env={"TMPDIR": str(temp)}, workers="2") as server:
        (multiprocess_dir,) = temp.iterdir()
        assert multiprocess_dir.name.startswith("gds-metrics-")
        for _ in range(requests):
            # A new connection each time, so that both workers take some of them.
            with httpx.Client(base_url=server.url) as client:
                assert client.get("/info").status_code == 200
        with httpx.Client(base_url=server.url) as client:
            texts = [client.get("/metrics").text for _ in range(4)]
        assert server.stop() == 0
    assert list(temp.iterdir()) == []
    for text in texts:
        assert scraped(text, "gds_http_requests_total", **labels) == requests
    assert "process_resident_memory_bytes" not in texts[0]
