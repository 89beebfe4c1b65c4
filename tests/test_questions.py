"""Bad answers stop the render with the question's name and what is allowed, and render nothing."""

import re
import sys
from typing import Any

import pytest
import yaml
from helpers import TEMPLATE

CASES: list[tuple[dict[str, Any], str, str]] = [
    ({"package_name": "1abc"}, "package_name", "lowercase letter"),
    ({"package_name": "my-service"}, "package_name", "underscores"),
    ({"package_name": "import"}, "package_name", "keyword"),
    ({"package_name": "email"}, "package_name", "'email' is a standard-library module"),
    ({"package_name": "secrets"}, "package_name", "`python -m secrets` and imports of either would break"),
    ({"package_name": "typing"}, "package_name", "standard-library module"),
    ({"project_slug": "My Service"}, "project_slug", "dashes"),
    ({"password_min_length": 8}, "password_min_length", "between 12 and 64"),
    ({"password_min_length": 11}, "password_min_length", "between 12 and 64"),
    ({"password_hasher": "md5"}, "password_hasher", "argon2"),
    ({"database": "oracle"}, "database", "sqlite"),
    ({"secret_backend": "keyring"}, "secret_backend", "vault"),
    ({"rate_limit_store": "memcached"}, "rate_limit_store", "redis"),
    ({"python_version": "3.9"}, "python_version", "3.11"),
    ({"cors_origins": "*"}, "cors_origins", "exact origin"),
    ({"cors_origins": "https://app.example.com/"}, "cors_origins", "exact origin"),
    ({"allowed_hosts": "*"}, "allowed_hosts", "never allowed"),
    ({"allowed_hosts": ""}, "allowed_hosts", "at least one host"),
    ({"author_email": "not-an-email"}, "author_email", "email address"),
    ({"project_name": "  "}, "project_name", "empty"),
]


@pytest.mark.parametrize(("answers", "question", "allowed"), CASES, ids=[f"{c[1]}={c[0][c[1]]!r}" for c in CASES])
def test_bad_answer_names_the_question(copie: Any, answers: dict[str, Any], question: str, allowed: str) -> None:
    result = copie.copy(extra_answers=answers)

    assert result.exit_code != 0
    message = str(result.exception)
    assert question in message
    assert allowed in message
    assert result.project_dir is None or not any(result.project_dir.iterdir())


def test_boundary_answers_are_accepted(copie: Any) -> None:
    result = copie.copy(extra_answers={"password_min_length": 12, "package_name": "svc2", "project_slug": "svc-2"})

    assert result.exit_code == 0, result.exception
    assert "PASSWORD_MIN_LENGTH: Final = 12" in (result.project_dir / "src/svc2/settings/defaults.py").read_text()


def test_package_name_refuses_every_standard_library_module() -> None:
    """copier.yml carries the list (its Jinja cannot import sys): a newer Python's new modules fail here, not a copy."""
    config = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    listed = yaml.safe_load(config["stdlib_modules"]["default"])
    possible = {name for name in sys.stdlib_module_names if re.fullmatch("[a-z][a-z0-9_]*", name)}

    assert listed == sorted(set(listed)), "keep stdlib_modules sorted and without repeats"
    assert not possible - set(listed), f"add to stdlib_modules in copier.yml: {sorted(possible - set(listed))}"
