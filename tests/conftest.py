"""The fixtures and hooks shared by the template's tests, and nothing else.

Copier settings are isolated for the session, pytest-copie is pointed at this template, and each variant is
rendered once per session. Helpers and the variant matrix live in helpers.py and variants.py; the services the
variants test against live in services.py.
"""

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import TEMPLATE
from releases import working_tree_repository
from services import services  # noqa: F401  (the session fixture)
from variants import VARIANTS


@pytest.fixture(scope="session", autouse=True)
def _isolated_copier_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the user's own Copier settings (defaults, trust lists) out of the tests."""
    settings = tmp_path_factory.mktemp("copier-settings") / "settings.yml"
    settings.write_text("{}\n")
    previous = os.environ.get("COPIER_SETTINGS_PATH")
    os.environ["COPIER_SETTINGS_PATH"] = str(settings)
    yield
    if previous is None:
        os.environ.pop("COPIER_SETTINGS_PATH", None)
    else:
        os.environ["COPIER_SETTINGS_PATH"] = previous


def pytest_configure(config: pytest.Config) -> None:
    """pytest-copie renders this template wherever pytest is started from."""
    config.option.template = str(TEMPLATE)


@pytest.fixture(scope="session")
def rendered(copie_session: Any) -> Callable[[str], Path]:
    """The project of a named variant, rendered by pytest-copie on first use and shared by the whole session."""
    cache: dict[str, Path] = {}

    def get(variant: str) -> Path:
        if variant not in cache:
            result = copie_session.copy(extra_answers=VARIANTS[variant])
            assert result.exit_code == 0, f"{variant}: {result.exception}"
            cache[variant] = result.project_dir
        return cache[variant]

    return get


@pytest.fixture
def template_repo(tmp_path: Path) -> Path:
    """This working tree (tracked and new files, not ignored ones) as a fresh repository released as v1.0.0."""
    return working_tree_repository(tmp_path / "template-repo", "v1.0.0")
