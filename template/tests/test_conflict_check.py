"""T09: what a conflicting `copier update` leaves behind fails tools/check_conflicts.py, the first check of
pre-commit and CI: conflict markers in any text file, and `.rej` and `.orig` files, none of them git-ignored."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
SCRIPT = PROJECT / "tools" / "check_conflicts.py"
# Built from parts, so that this file holds no marker for the check to find.
OURS, SEPARATOR, THEIRS = "<" * 7, "=" * 7, ">" * 7

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")


def conflict(before: str, after: str) -> str:
    """A conflict the way `copier update` writes it."""
    return f"{OURS} before updating\n{before}\n{SEPARATOR}\n{after}\n{THEIRS} after updating\n"


def git(directory: Path, *args: str) -> str:
    command = ["git", "-C", str(directory), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False).stdout  # noqa: S603  (fixed arguments)


def check(directory: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(SCRIPT)]
    return subprocess.run(command, cwd=directory, env=env, capture_output=True, text=True, check=False)  # noqa: S603


def write(directory: Path, name: str, text: str) -> None:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    git(tmp_path, "init", "--quiet")
    shutil.copy(PROJECT / ".gitignore", tmp_path / ".gitignore")
    write(tmp_path, "README.md", "# Service\n\nSettings\n" + SEPARATOR + "\n\nText.\n")
    write(tmp_path, "src/app/main.py", "VALUE = 1\n")
    git(tmp_path, "add", "--all")
    return tmp_path


def test_t09_clean_tree_passes_silently(repository: Path) -> None:
    result = check(repository)

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_t09_conflict_markers_fail_in_every_kind_of_file(repository: Path) -> None:
    write(repository, "Dockerfile", "FROM python:3-slim\n" + conflict("RUN pip install .", "RUN uv sync --locked"))
    write(repository, "README.md", "# Service\n\n" + conflict("Old text.", "New text."))
    write(repository, "compose.yaml", "services:\n" + conflict("  app: {}", "  app: {build: .}"))
    write(repository, "src/app/main.py", conflict("VALUE = 1", "VALUE = 2"))
    git(repository, "add", "Dockerfile", "README.md")  # tracked; compose.yaml and main.py's change are not staged

    result = check(repository)

    assert result.returncode == 1
    for path, first in [("Dockerfile", 2), ("README.md", 3), ("compose.yaml", 2), ("src/app/main.py", 1)]:
        for line in (first, first + 2, first + 4):
            assert f"{path}:{line}: conflict marker\n" in result.stdout
    assert "Dockerfile:3:" not in result.stdout, "the lines between the markers are not markers"
    assert "Updating from the template" in result.stderr


def test_t09_rej_and_orig_files_fail(repository: Path) -> None:
    write(repository, "pyproject.toml.rej", "@@ -1 +1 @@\n-a\n+b\n")
    write(repository, "src/app/main.py.orig", "VALUE = 0\n")

    result = check(repository)

    assert result.returncode == 1
    for path in ("pyproject.toml.rej", "src/app/main.py.orig"):
        assert f"{path}: leftover of a conflicting update; merge its change by hand, then delete it\n" in result.stdout


def test_t09_lookalikes_and_binary_files_pass(repository: Path) -> None:
    write(repository, "docs/guide.md", "Title\n" + SEPARATOR + "\n\n> quoted\n" + OURS + "< eight\n" + THEIRS + "x\n")
    (repository / "logo.png").write_bytes(b"\x89PNG\0\0" + conflict("a", "b").encode())

    result = check(repository)

    assert (result.returncode, result.stdout) == (0, "")


def test_t09_git_ignored_files_are_not_read(repository: Path) -> None:
    write(repository, ".env", conflict("DEBUG=false", "DEBUG=true"))

    assert check(repository).returncode == 0


def test_t09_leftovers_are_not_git_ignored(repository: Path) -> None:
    """The project's own .gitignore must leave them visible to `git status`, pre-commit and CI."""
    names = ["pyproject.toml.rej", "src/app/main.py.rej", "README.md.orig", "src/app/main.py.orig"]
    for name in names:
        write(repository, name, "leftover\n")

    assert git(repository, "check-ignore", *names) == ""
    assert check(repository).stdout.count("leftover of a conflicting update") == len(names)


def test_t09_works_outside_a_git_work_tree(tmp_path: Path) -> None:
    write(tmp_path, "compose.yaml", conflict("a: 1", "a: 2"))
    write(tmp_path, ".venv/lib/site.py", conflict("a = 1", "a = 2"))

    # Git must not find a repository above tmp_path either.
    result = check(tmp_path, env={**os.environ, "GIT_CEILING_DIRECTORIES": str(tmp_path.parent)})

    assert result.returncode == 1
    assert result.stdout.splitlines() == [f"compose.yaml:{line}: conflict marker" for line in (1, 3, 5)]
