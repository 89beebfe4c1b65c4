"""T03: every variant renders code that is lint-clean, type-clean, free of Jinja, and passes its own tests."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers import python, run
from services import Services
from variants import SUITE_VARIANTS, VARIANTS

# A Jinja expression, statement or comment; GitHub Actions' own `${{ ... }}` is not one.
JINJA_LEFTOVER = re.compile(r"(?<!\$)\{\{\s*[A-Za-z_(\[]|\{%|%\}|\{#|#\}")
BINARY_SUFFIXES = {".gz", ".png", ".ico"}


def _text_files(project: Path) -> list[Path]:
    return [
        path
        for path in project.rglob("*")
        if path.is_file() and path.suffix not in BINARY_SUFFIXES and ".git" not in path.parts
    ]


@pytest.mark.parametrize("variant", VARIANTS)
def test_t03_no_jinja_left(rendered: Callable[[str], Path], variant: str) -> None:
    project = rendered(variant)
    leftovers = [
        f"{path.relative_to(project)}:{number}"
        for path in _text_files(project)
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if JINJA_LEFTOVER.search(line)
    ]
    assert leftovers == []
    assert not list(project.rglob("*.jinja"))


@pytest.mark.parametrize("variant", VARIANTS)
def test_t03_no_blank_line_scars(rendered: Callable[[str], Path], variant: str) -> None:
    """A removed `{% if %}` block must not leave runs of blank lines or trailing blanks behind."""
    project = rendered(variant)
    scars = [
        str(path.relative_to(project))
        for path in _text_files(project)
        if path.suffix in {".py", ".toml", ".yml", ".yaml", ".md", ".ini", ".cfg"} or path.name.startswith(".env")
        if "\n\n\n\n" in path.read_text(encoding="utf-8") or path.read_text(encoding="utf-8").endswith("\n\n")
    ]
    assert scars == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_t03_ruff_check(rendered: Callable[[str], Path], variant: str) -> None:
    result = run(python("-m", "ruff", "check", "--no-cache", "."), rendered(variant))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("variant", VARIANTS)
def test_t03_ruff_format(rendered: Callable[[str], Path], variant: str) -> None:
    result = run(python("-m", "ruff", "format", "--check", "--no-cache", "."), rendered(variant))
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.fixture(scope="session")
def mypy_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mypy cache for every variant: the libraries are analysed once, not once per variant (about 10 s each).

    Sharing is safe: each variant lives at a path of its own, and mypy re-hashes a module whose recorded path or
    mtime differs from the file's, so a variant's own code is always checked afresh.
    """
    return tmp_path_factory.mktemp("mypy-cache")


@pytest.mark.parametrize("variant", VARIANTS)
def test_t03_mypy_strict(rendered: Callable[[str], Path], variant: str, mypy_cache: Path) -> None:
    project = rendered(variant)
    config = (project / "pyproject.toml").read_text()
    assert "strict = true" in config
    command = python("-m", "mypy", "--strict", "--cache-dir", str(mypy_cache), "src", "tests", "tools")
    result = run(command, project)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("variant", SUITE_VARIANTS)
def test_rendered_test_suite_passes(rendered: Callable[[str], Path], services: Services, variant: str) -> None:
    """The variant's own suite, against the real services its answers chose."""
    env = {"PYTHONDONTWRITEBYTECODE": "1", **services.env_for(VARIANTS[variant])}
    result = run(python("-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"), rendered(variant), env=env)
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-4000:]
    assert re.search(r"\d+ passed", result.stdout), result.stdout[-2000:]
    assert " failed" not in result.stdout
