"""I01, I02 (read from the rendered files) and the rendered SECURITY.md's promise: every ID, a real test."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from variants import VARIANTS

CHECKLIST = {
    "A": 15,
    "B": 7,
    "C": 12,
    "D": 4,
    "E": 10,
    "F": 7,
    "G": 5,
    "H": 12,
    "I": 3,
    "M": 5,
    "O": 5,
    "R": 5,
}
IDS = [f"{group}{number:02d}" for group, count in CHECKLIST.items() for number in range(1, count + 1)]
ROW = re.compile(r"^\| ([A-IMOR]\d\d) \| (.+?) \| (.+?) \|$", re.MULTILINE)
TEST_REF = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def _stages(dockerfile: str) -> list[str]:
    return re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[1:]


def test_i01_container_runs_as_non_root_with_health_check(rendered: Callable[[str], Path]) -> None:
    project = rendered("default")
    dockerfile = (project / "Dockerfile").read_text()
    stages = _stages(dockerfile)
    assert len(stages) >= 2, "multi-stage build"
    runtime = stages[-1]
    assert re.search(r"^USER (?!0\b|root\b)\S+", runtime, re.MULTILINE), "the runtime stage drops root"
    assert "HEALTHCHECK" in runtime and "/health/live" in runtime
    assert "build-essential" not in runtime and "gcc" not in runtime
    assert not re.search(r"^(ENV|ARG)\s+\S*(SECRET|PEPPER|PASSWORD|TOKEN)", dockerfile, re.MULTILINE)
    assert not re.search(r"^COPY\s+.*\.env", dockerfile, re.MULTILINE)
    assert "--no-server-header" in runtime and "--no-proxy-headers" in runtime
    ignored = (project / ".dockerignore").read_text().split()
    assert ".env" in ignored and ".git" in " ".join(ignored)


def test_i01_docker_files_only_when_asked(rendered: Callable[[str], Path]) -> None:
    project = rendered("options")
    assert VARIANTS["options"]["include_docker"] is False
    assert not (project / "Dockerfile").exists()
    assert not (project / ".dockerignore").exists()
    assert not (project / "compose.yaml").exists()


@pytest.mark.parametrize("variant", ["default", "options"])
def test_i02_ci_runs_every_gate_with_pinned_actions(rendered: Callable[[str], Path], variant: str) -> None:
    project = rendered(variant)
    text = (project / ".github/workflows/ci.yml").read_text()
    workflow = yaml.safe_load(text)
    assert workflow["permissions"] == {"contents": "read"}
    uses = re.findall(r"uses:\s*(\S+)", text)
    assert uses
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", action) for action in uses), uses
    for gate in ("pytest", "ruff check", "ruff format --check", "mypy", "bandit", "pip-audit", "gitleaks"):
        assert gate in text, gate
    assert "copier check-update" in text
    assert f'python-version: "{VARIANTS[variant].get("python_version", "3.11")}"' in text
    for job in workflow["jobs"].values():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False


@pytest.mark.parametrize("variant", VARIANTS)
def test_security_md_maps_every_id_to_a_real_test(rendered: Callable[[str], Path], variant: str) -> None:
    project = rendered(variant)
    rows = {
        identifier: (control, tests)
        for identifier, control, tests in ROW.findall((project / "SECURITY.md").read_text())
    }
    assert sorted(rows) == IDS

    defined = {
        (str(path.relative_to(project)), name)
        for path in (project / "tests").glob("test_*.py")
        for name in re.findall(r"^(?:async )?def (test_\w+)", path.read_text(), re.MULTILINE)
    }
    for identifier, (control, tests) in rows.items():
        references = TEST_REF.findall(tests)
        assert set(references) <= defined, f"{identifier} names a test that does not exist: {references}"
        if identifier[0] in "ABCDEFGH" and not control.startswith("Not applicable"):
            assert references, f"{identifier} has no test"
            assert all(name.startswith(f"test_{identifier.lower()}_") for _, name in references), identifier
