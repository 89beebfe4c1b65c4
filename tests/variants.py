"""The variant matrix: which answer sets the tests render, in one place so that test_matrix.py can check it.

Kept apart from conftest.py so that test modules import it like any other module (parametrizing with
`VARIANTS`) instead of importing from conftest, which pytest loads as a plugin.
"""

from typing import Any

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

# The variants whose own test suite test_render.py runs: the default, the options and the pairwise rows, which
# between them run every value of every question and every pair of the four axes (test_matrix.py proves it). The
# others are rendered, linted and type-checked like every variant; their suites would repeat pairs already run.
SUITE_VARIANTS: list[str] = [name for name in VARIANTS if name not in {"bcrypt", "scrypt", "all-services"}]
