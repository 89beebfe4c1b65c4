"""The shared test environment really holds every rendered dependency, and no banned library is used."""

import tomllib
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from variants import VARIANTS

BANNED = {"python-jose", "passlib", "jose"}
# Run by CI and pre-commit from the rendered project's own environment, never by the rendered tests.
TOOLS_NOT_IMPORTED = {"bandit", "pip-audit", "pre-commit", "pre-commit-hooks"}


@pytest.mark.parametrize("variant", VARIANTS)
def test_rendered_dependencies_are_installed_here(rendered: Callable[[str], Path], variant: str) -> None:
    """Variants share this one environment; a dependency missing here would be tested nowhere."""
    pyproject = tomllib.loads((rendered(variant) / "pyproject.toml").read_text())
    groups = pyproject["dependency-groups"]
    missing = []
    for line in pyproject["project"]["dependencies"] + groups["dev"] + groups["app"]:
        requirement = Requirement(line)
        if requirement.name in TOOLS_NOT_IMPORTED:
            continue
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            missing.append(line)
            continue
        if not requirement.specifier.contains(installed, prereleases=True):
            missing.append(f"{line} (have {installed})")
    assert missing == []


@pytest.mark.parametrize("variant", VARIANTS)
def test_no_banned_libraries(rendered: Callable[[str], Path], variant: str) -> None:
    project = rendered(variant)
    names = {
        Requirement(line).name
        for line in tomllib.loads((project / "pyproject.toml").read_text())["project"]["dependencies"]
    }
    assert not names & BANNED
    for source in (project / "src").rglob("*.py"):
        text = source.read_text()
        assert "import jose" not in text and "from jose" not in text and "passlib" not in text, source
