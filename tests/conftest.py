"""Renders shared by the template's tests: each variant is rendered once per session, in-process."""

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import copier
import pytest
from services import services  # noqa: F401  (the session fixture)

TEMPLATE = Path(__file__).resolve().parents[1]

# Pairwise covering set over database x secret_backend x rate_limit_store x password_hasher (every pair of values
# of any two of them appears in some row; test_matrix.py proves it), with python_version and include_docker
# spread so that every value of every question is rendered at least once.
PAIRWISE: list[dict[str, Any]] = [
    {"database": "sqlite", "secret_backend": "env", "rate_limit_store": "redis", "password_hasher": "bcrypt"},
    {"database": "sqlite", "secret_backend": "file", "rate_limit_store": "memory", "password_hasher": "argon2"},
    {"database": "sqlite", "secret_backend": "vault", "rate_limit_store": "redis", "password_hasher": "scrypt"},
    {"database": "sqlite", "secret_backend": "aws", "rate_limit_store": "redis", "password_hasher": "argon2"},
    {"database": "postgresql", "secret_backend": "env", "rate_limit_store": "memory", "password_hasher": "scrypt"},
    {"database": "postgresql", "secret_backend": "file", "rate_limit_store": "redis", "password_hasher": "bcrypt"},
    {"database": "postgresql", "secret_backend": "vault", "rate_limit_store": "memory", "password_hasher": "argon2"},
    {"database": "postgresql", "secret_backend": "aws", "rate_limit_store": "memory", "password_hasher": "bcrypt"},
    {"database": "mysql", "secret_backend": "env", "rate_limit_store": "redis", "password_hasher": "argon2"},
    {"database": "mysql", "secret_backend": "file", "rate_limit_store": "memory", "password_hasher": "scrypt"},
    {"database": "mysql", "secret_backend": "vault", "rate_limit_store": "redis", "password_hasher": "bcrypt"},
    {"database": "mysql", "secret_backend": "aws", "rate_limit_store": "redis", "password_hasher": "scrypt"},
]
PYTHON_VERSIONS = ["3.11", "3.12", "3.13", "3.14"]

VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "bcrypt": {"password_hasher": "bcrypt"},
    "scrypt": {"password_hasher": "scrypt"},
    "options": {
        "project_name": "Ledger API",
        "python_version": "3.13",
        "password_hasher": "argon2",
        "password_min_length": 20,
        "cors_origins": "https://app.example.com, http://localhost:5173",
        "allowed_hosts": "api.example.com,*.internal.example.com",
        "include_docker": False,
    },
    **{
        "-".join((row["database"], row["secret_backend"], row["rate_limit_store"], row["password_hasher"])): {
            **row,
            "python_version": PYTHON_VERSIONS[index % len(PYTHON_VERSIONS)],
            "include_docker": index % 2 == 0,
        }
        for index, row in enumerate(PAIRWISE)
    },
    "all-services": {
        "database": "postgresql",
        "secret_backend": "vault",
        "rate_limit_store": "redis",
        "password_hasher": "argon2",
        "python_version": "3.12",
    },
}


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
