"""O01 on one render: the shipped alert rules pass `promtool check rules` and their unit tests, and GET /metrics
sums every worker of `uvicorn --workers 2` in multi-process mode (PROMETHEUS_MULTIPROC_DIR).

The per-variant proofs (allowlist, counters moving with their events) are the rendered tests/test_metrics.py.
"""

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from helpers import run
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families
from services import unavailable

RULES = Path("deploy/prometheus")
WORKERS = 2
PROBE = "/health/live"


@pytest.fixture(scope="module")
def project(rendered: Callable[[str], Path]) -> Path:
    return rendered("default")


def _promtool() -> str:
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is not installed (Debian package `prometheus`)")
    assert promtool is not None
    return promtool


def test_o01_alert_rules_are_valid(project: Path) -> None:
    checked = run([_promtool(), "check", "rules", "alerts.yml"], project / RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def test_o01_alert_rules_pass_their_unit_tests(project: Path) -> None:
    tested = run([_promtool(), "test", "rules", "alerts.test.yml"], project / RULES)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_o01_ci_runs_the_rule_checks(project: Path) -> None:
    workflow = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    runs = "\n".join(str(step.get("run", "")) for step in workflow["jobs"]["test"]["steps"])
    assert "apt-get install --yes --no-install-recommends prometheus" in runs
    assert "promtool check rules deploy/prometheus/alerts.yml" in runs
    assert "promtool test rules alerts.test.yml" in runs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _probes_served(families: Iterable[Metric]) -> float:
    return sum(
        sample.value
        for family in families
        for sample in family.samples
        if sample.name == "http_requests_total" and sample.labels.get("route") == PROBE
    )


def _probes_served_by(worker_file: Path) -> float:
    """What one worker counted: its own file, read alone."""
    merged = MultiProcessCollector.merge([str(worker_file)], accumulate=True)  # type: ignore[no-untyped-call]
    return _probes_served(merged)


@pytest.fixture(scope="module")
def workers(project: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """`uvicorn --workers 2` on loopback, in multi-process mode on an empty directory of its own."""
    directory = tmp_path_factory.mktemp("prometheus-multiproc")
    data = tmp_path_factory.mktemp("multiproc-data")
    env = {
        "PYTHONPATH": str(project / "src"),
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "DATABASE_URL": f"sqlite+aiosqlite:///{data / 'app.db'}",
    }
    migrated = run([sys.executable, "-m", "alembic", "upgrade", "heads"], project, env=env)
    assert migrated.returncode == 0, migrated.stderr
    port = _free_port()
    command = [sys.executable, "-m", "uvicorn", "my_service.main:app", "--host", "127.0.0.1", "--port", str(port)]
    command += ["--workers", str(WORKERS), "--no-access-log", "--no-server-header", "--no-proxy-headers"]
    log = directory.with_name("uvicorn.log")
    with log.open("w") as output:
        process = subprocess.Popen(
            command, cwd=project, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        # Every worker has opened its files once both have started: each process writes files of its own.
        while len(list(directory.glob("counter_*.db"))) < WORKERS or not _answers(base):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("uvicorn --workers 2 did not start:\n" + log.read_text())
            time.sleep(0.2)
        yield base, directory
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(base: str) -> bool:
    try:
        return httpx.get(base + "/metrics", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_o01_metrics_sum_every_worker(workers: tuple[str, Path]) -> None:
    base, directory = workers
    sent = 0
    by_worker: dict[str, float] = {}
    # A new connection per request: the kernel hands each to whichever worker accepts first. Until both served.
    while sent < 400 and (sent < 40 or sum(1 for served in by_worker.values() if served) < WORKERS):
        for _ in range(20):
            response = httpx.get(base + PROBE, headers={"Connection": "close"}, timeout=5)
            assert response.status_code == 200, response.text
        sent += 20
        by_worker = {file.name: _probes_served_by(file) for file in directory.glob("counter_*.db")}
    assert sum(1 for served in by_worker.values() if served) == WORKERS, by_worker

    scraped = httpx.get(base + "/metrics", timeout=5)
    assert scraped.status_code == 200, scraped.text
    assert _probes_served(text_string_to_metric_families(scraped.text)) == sent
    assert sum(by_worker.values()) == sent
