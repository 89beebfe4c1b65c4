"""T09 and the uv-first tooling of rendered projects, read from the rendered files: CI, pre-commit, Docker, pyproject.

The conflict check itself is tested inside every rendered project (tests/test_conflict_check.py); here, that
pre-commit and CI run it first, that every install comes from uv.lock, and how the template-update job ends.
"""

import json
import os
import re
import shutil
import stat
import subprocess
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml


def _workflow(project: Path) -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load((project / ".github/workflows/ci.yml").read_text())
    return workflow


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step["run"]) for step in job["steps"] if "run" in step]


@pytest.mark.parametrize("variant", ["default", "options"])
def test_t09_ci_checks_conflicts_first_then_installs_from_the_lock(
    rendered: Callable[[str], Path], variant: str
) -> None:
    project = rendered(variant)
    text = (project / ".github/workflows/ci.yml").read_text()
    jobs = _workflow(project)["jobs"]

    lint = jobs["lint"]["steps"]
    assert str(lint[0].get("uses", "")).startswith("actions/checkout@")
    assert lint[1]["run"] == "python3 tools/check_conflicts.py", "right after the checkout, before any install"
    assert "mypy src tests tools" in text
    assert "pip install" not in text and ".[dev]" not in text
    assert "continue-on-error" not in text
    for job in ("test", "lint", "security"):
        runs = _runs(jobs[job])
        assert "uv sync --locked" in runs, job
        uv_runs = [line for run in runs for line in run.splitlines() if "uv run" in line]
        assert uv_runs and all("uv run --locked" in line for line in uv_runs), job
    assert "alembic upgrade heads" in text
    assert re.search(r"uv export --locked .*\n.*pip-audit .*--require-hashes", text)


def test_t09_pre_commit_hooks_are_local_and_check_conflicts_first(rendered: Callable[[str], Path]) -> None:
    config = yaml.safe_load((rendered("default") / ".pre-commit-config.yaml").read_text())

    assert [repo["repo"] for repo in config["repos"]] == ["local"], "no hook is fetched from a remote repository"
    hooks = config["repos"][0]["hooks"]
    first = hooks[0]
    assert first["entry"] == "python3 tools/check_conflicts.py"
    assert first["pass_filenames"] is False and first["always_run"] is True
    assert all(hook["entry"].startswith("uv run --frozen ") for hook in hooks[1:])
    assert {"ruff-check", "ruff-format", "mypy", "bandit"} <= {hook["id"] for hook in hooks}


@pytest.mark.parametrize("variant", ["default", "options"])
def test_dependency_groups_and_the_owners_app_group_last(rendered: Callable[[str], Path], variant: str) -> None:
    text = (rendered(variant) / "pyproject.toml").read_text()
    pyproject = tomllib.loads(text)

    assert "optional-dependencies" not in pyproject["project"]
    assert pyproject["tool"]["uv"]["default-groups"] == ["dev", "app"]
    assert pyproject["dependency-groups"]["app"] == []
    assert text.endswith("\napp = []\n"), "the owner's group closes the file: template changes never touch it"
    assert "The template never changes this list." in text.splitlines()[-2]


def test_dockerfile_installs_the_locked_project_without_dev_tools(rendered: Callable[[str], Path]) -> None:
    project = rendered("default")
    dockerfile = (project / "Dockerfile").read_text()
    builder = dockerfile.split("\nFROM ")[1]

    assert re.search(r"^RUN pip install \"uv==\$\{UV_VERSION\}\"$", builder, re.MULTILINE)
    assert re.search(r"^COPY pyproject.toml uv.lock ", builder, re.MULTILINE)
    syncs = re.findall(r"^RUN uv sync .*$", builder, re.MULTILINE)
    assert syncs and all("--locked" in sync and "--no-dev" in sync for sync in syncs)
    assert "--no-editable" in syncs[-1]
    assert "UV_PROJECT_ENVIRONMENT=/opt/venv" in builder
    assert "pip install -e" not in dockerfile and ".[dev]" not in dockerfile
    assert "alembic upgrade heads" in dockerfile
    assert "!uv.lock" in (project / ".dockerignore").read_text().split()


def test_dependabot_updates_the_lock_and_the_pinned_actions(rendered: Callable[[str], Path]) -> None:
    config = yaml.safe_load((rendered("default") / ".github/dependabot.yml").read_text())

    assert config["version"] == 2
    updates = {update["package-ecosystem"]: update for update in config["updates"]}
    assert set(updates) == {"uv", "github-actions"}
    assert all(update["schedule"]["interval"] == "weekly" for update in updates.values())


# --- the template-update job, run with a stand-in for copier ---


def _check_update_script(project: Path) -> str:
    steps = _workflow(project)["jobs"]["template-update"]["steps"]
    (script,) = [step["run"] for step in steps if step.get("name") == "copier check-update"]
    return str(script)


def _run_job(
    tmp_path: Path, script: str, src_path: str, copier_exit: int, output: dict[str, Any]
) -> subprocess.CompletedProcess[str]:
    """The step as GitHub runs it (bash -e -o pipefail), with `uvx` replaced by a script printing `output`."""
    project = tmp_path / "project"
    project.mkdir()
    (project / ".copier-answers.yml").write_text(f"_commit: v0.1.0\n_src_path: {src_path}\nproject_name: X\n")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    uvx = bin_dir / "uvx"
    uvx.write_text(f"#!/bin/sh\necho '{json.dumps(output)}'\nexit {copier_exit}\n")
    uvx.chmod(uvx.stat().st_mode | stat.S_IXUSR)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-e", "-o", "pipefail", "-c", script],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.skipif(shutil.which("jq") is None or shutil.which("bash") is None, reason="needs bash and jq")
@pytest.mark.parametrize(
    ("src_path", "copier_exit", "update_available", "exit_code", "annotation"),
    [
        ("gh:example/rampart", 0, True, 0, "::notice title=Template update available::Version 0.3.0 "),
        ("https://example.com/rampart.git", 0, False, 0, None),
        ("/srv/templates/rampart", 0, True, 0, "::warning title=Template update not checked::"),
        ("../rampart", 0, True, 0, "::warning title=Template update not checked::"),
        ("gh:example/rampart", 1, False, 1, "::error title=Template update check failed::"),
    ],
)
def test_t09_template_update_job_notices_warns_or_fails(
    rendered: Callable[[str], Path],
    tmp_path: Path,
    src_path: str,
    copier_exit: int,
    update_available: bool,
    exit_code: int,
    annotation: str | None,
) -> None:
    output = {"update_available": update_available, "current_version": "0.2.0", "latest_version": "0.3.0"}
    result = _run_job(tmp_path, _check_update_script(rendered("default")), src_path, copier_exit, output)

    assert result.returncode == exit_code, result.stdout + result.stderr
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::")]
    if annotation is None:
        assert annotations == []
    else:
        assert len(annotations) == 1 and annotations[0].startswith(annotation), annotations
