"""Plain helpers the tests call: where the template is, how to render it in-process, how to run a tool.

They are ordinary functions, not fixtures, so they live outside conftest.py and test modules import them by name.
"""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import copier

TEMPLATE = Path(__file__).resolve().parents[1]
GIT_ENV = {
    "GIT_AUTHOR_NAME": "rampart tests",
    "GIT_AUTHOR_EMAIL": "tests@example.com",
    "GIT_COMMITTER_NAME": "rampart tests",
    "GIT_COMMITTER_EMAIL": "tests@example.com",
}


def render(destination: Path, answers: dict[str, Any] | None = None, **options: Any) -> Path:
    """Render the working tree of the template (uncommitted changes included) without trusting it."""
    copier.run_copy(
        str(TEMPLATE),
        destination,
        data=answers or {},
        defaults=True,
        unsafe=False,
        vcs_ref="HEAD",
        quiet=True,
        **options,
    )
    return destination


def run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run a tool of this environment in a rendered project and keep its output for the assertion message."""
    return subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def python(*args: str) -> list[str]:
    return [sys.executable, *args]


def git(cwd: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV}
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True, env=env).stdout


def release(repo: Path, version: str, message: str) -> None:
    """Commit everything in a throwaway template repository and tag it, as a maintainer releases."""
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "--allow-empty", "-m", message)
    git(repo, "tag", version)
