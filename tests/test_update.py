"""T04: `copier update` delivers the template's security fixes to a project its owner has changed since.

A CI clone may carry no tags, so each test builds a throwaway template repository from this working tree and
releases it itself (commit, tag, change, tag again), exactly as a maintainer would.
"""

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from copier.errors import UnsafeTemplateError
from helpers import TEMPLATE, git, python, release, run
from releases import leftovers, release_and_working_tree, render_project, update

SRC = Path("template/src/{{ package_name }}")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def owner_changes(project: Path, package: str) -> None:
    """What a team does in the months after rendering: edits, additions and a deletion, committed."""
    pkg = project / "src" / package
    edit(
        pkg / "middleware/security_headers.py",
        "API_CSP = \"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\"",
        "API_CSP = \"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'; sandbox\"",
    )
    edit(project / "pyproject.toml", '"fastapi-offline>=1.7",', '"fastapi-offline>=1.7",\n    "orjson>=3.10",')
    (pkg / "extensions/routes.py").write_text(
        '"""Our routes."""\n\nfrom fastapi import APIRouter\n\nfrom ..api.deps import PUBLIC\n\n'
        "router = APIRouter()\n\n\n"
        '@router.get("/ping", openapi_extra=PUBLIC)\nasync def ping() -> dict[str, str]:\n    return {"ping": "pong"}\n'
    )
    (pkg / "extensions/models.py").write_text(
        '"""Our tables."""\n\nfrom sqlalchemy import String\nfrom sqlalchemy.orm import Mapped, mapped_column\n\n'
        "from ..models import Base\n\n\nclass Note(Base):\n"
        '    __tablename__ = "notes"\n\n    id: Mapped[int] = mapped_column(primary_key=True)\n'
        "    text: Mapped[str] = mapped_column(String(500))\n"
    )
    (project / "migrations/app/7c1e_notes.py").write_text(
        '"""Notes.\n\nRevision ID: 7c1e\nRevises: app_root\n"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        'revision = "7c1e"\ndown_revision = "app_root"\nbranch_labels = None\ndepends_on = None\n\n\n'
        "def upgrade() -> None:\n"
        '    op.create_table(\n        "notes",\n        sa.Column("id", sa.Integer(), primary_key=True),\n'
        '        sa.Column("text", sa.String(500), nullable=False),\n    )\n\n\n'
        'def downgrade() -> None:\n    op.drop_table("notes")\n'
    )
    (project / ".pre-commit-config.yaml").unlink()
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our changes")


def security_fix(repo: Path) -> None:
    """A release of the template with three fixes in template-owned files."""
    edit(
        repo / SRC / "middleware/security_headers.py",
        '"strict-transport-security": "max-age=63072000; includeSubDomains",',
        '"strict-transport-security": "max-age=63072000; includeSubDomains; preload",',
    )
    edit(repo / "template/pyproject.toml.jinja", '"pyjwt>=2.13.0",', '"pyjwt>=2.13.1",')
    edit(repo / SRC / "security/tokens.py", "MAX_TOKEN_LENGTH = 4096", "MAX_TOKEN_LENGTH = 2048")
    release(repo, "v1.1.0", "rampart 1.1.0: security fixes")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    ("answers", "package"),
    [
        ({}, "my_service"),
        ({"database": "postgresql", "rate_limit_store": "redis", "secret_backend": "vault"}, "my_service"),
    ],
    ids=["default", "services"],
)
def test_t04_security_fix_reaches_an_edited_project(
    template_repo: Path, tmp_path: Path, answers: dict[str, Any], package: str
) -> None:
    project = render_project(template_repo, tmp_path / "project", answers)
    env_before = _digest(project / ".env")
    owner_changes(project, package)
    extensions = {name: _digest(project / "src" / package / "extensions" / name) for name in ("routes.py", "models.py")}
    security_fix(template_repo)

    update(project, "v1.1.0")

    pkg = project / "src" / package
    headers = (pkg / "middleware/security_headers.py").read_text()
    assert "includeSubDomains; preload" in headers, "the fix arrived"
    assert "form-action 'none'; sandbox" in headers, "the owner's edit of the same file stayed"
    pyproject = (project / "pyproject.toml").read_text()
    assert '"pyjwt>=2.13.1"' in pyproject
    assert '"orjson>=3.10"' in pyproject
    assert "MAX_TOKEN_LENGTH = 2048" in (pkg / "security/tokens.py").read_text()
    assert not (project / ".pre-commit-config.yaml").exists(), "the owner's deletion stayed"
    assert {name: _digest(pkg / "extensions" / name) for name in extensions} == extensions
    assert _digest(project / ".env") == env_before, ".env and its secrets are untouched"
    assert leftovers(project) == []
    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["_commit"] == "v1.1.0"

    for check in (["ruff", "check", "--no-cache", "."], ["ruff", "format", "--check", "--no-cache", "."]):
        result = run(python("-m", *check), project)
        assert result.returncode == 0, result.stdout + result.stderr


def test_t04_updated_default_project_still_passes_its_tests(template_repo: Path, tmp_path: Path) -> None:
    project = render_project(template_repo, tmp_path / "project")
    owner_changes(project, "my_service")
    security_fix(template_repo)
    update(project, "v1.1.0")

    result = run(python("-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"), project)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    assert re.search(r"\d+ passed", result.stdout)


def test_t04_changed_answer_renders_the_new_variant(template_repo: Path, tmp_path: Path) -> None:
    project = render_project(template_repo, tmp_path / "project")
    env_before = (project / ".env").read_text()

    update(project, "v1.0.0", data={"rate_limit_store": "redis"})

    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["rate_limit_store"] == "redis"
    assert "redis" in (project / "pyproject.toml").read_text()
    assert "RedisRateLimiter" in (project / "src/my_service/security/rate_limit_store.py").read_text()
    env = (project / ".env").read_text()
    assert env.startswith(env_before), ".env keeps every line it had (T08 adds what the new answer needs)"
    assert "\nREDIS_URL=" in env.removeprefix(env_before)
    assert leftovers(project) == []
    for check in (["ruff", "check", "--no-cache", "."], ["mypy", "--strict", "src", "tests"]):
        result = run(python("-m", *check), project)
        assert result.returncode == 0, result.stdout + result.stderr


# The database roles' settings: a fresh copy's .env has them; an update never adds them (the server would not have
# the roles: it makes them on its first start only).
ROLES = ("DATABASE_OWNER_USER", "DATABASE_OWNER_PASSWORD", "DATABASE_APP_USER", "DATABASE_APP_PASSWORD")
SETTING = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)


class Unset(Exception):
    """A `${NAME:?}` (or `${NAME?}`) that compose would refuse: `docker compose config` fails."""


def _closing(text: str, start: int) -> int:
    """The index of the `}` that closes the `${` just before `start`, past any nested `${...}`."""
    depth, index = 1, start
    while index < len(text):
        if text.startswith("$$", index):
            index += 2
            continue
        if text.startswith("${", index):
            depth, index = depth + 1, index + 2
            continue
        if text[index] == "}":
            depth -= 1
            if depth == 0:
                return index
        index += 1
    raise AssertionError(f"unclosed ${{ in {text!r}")


def interpolate(text: str, env: dict[str, str]) -> str:
    """`text` as compose fills it from `env` (its interpolation rules); a default is read only when it is used."""
    out: list[str] = []
    index = 0
    while index < len(text):
        if text.startswith("$$", index):
            out.append("$")
            index += 2
        elif text.startswith("${", index):
            end = _closing(text, index + 2)
            out.append(_expression(text[index + 2 : end], env))
            index = end + 1
        elif bare := re.match(r"\$([A-Za-z_][A-Za-z0-9_]*)", text[index:]):
            out.append(env.get(bare.group(1), ""))
            index += bare.end()
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def _expression(expression: str, env: dict[str, str]) -> str:
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", expression, re.DOTALL)
    assert match is not None, f"not compose interpolation: ${{{expression}}}"
    name, operator, rest = match.groups()
    given = env.get(name) if operator is None or operator.startswith(":") else (name in env and "set")
    if operator is None:
        return env.get(name, "")
    if operator.endswith("-"):
        return env[name] if given else interpolate(rest, env)
    if operator.endswith("?"):
        if not given:
            raise Unset(name)
        return env[name]
    return interpolate(rest, env) if given else ""


def _containers(compose: Path, env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Each compose service's environment as its container gets it: `env_file: .env`, then `environment:` over it."""
    services = yaml.safe_load(compose.read_text())["services"]
    found = {}
    for name, service in services.items():
        given = {key: interpolate(str(value), env) for key, value in (service.get("environment") or {}).items()}
        found[name] = {**(env if service.get("env_file") else {}), **given}
    return found


def _strings(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [text for key, value in node.items() for text in (*_strings(key), *_strings(value))]
    if isinstance(node, list):
        return [text for item in node for text in _strings(item)]
    return [node] if isinstance(node, str) else []


def _unset(compose: Path, env: dict[str, str]) -> set[str]:
    """The settings compose.yaml requires that `env` lacks: every string in it, interpolated as compose does."""
    missing = set()
    for text in _strings(yaml.safe_load(compose.read_text())):
        try:
            interpolate(text, env)
        except Unset as unset:
            missing.add(str(unset))
    return missing


def test_interpolate_reads_a_nested_requirement_only_when_its_default_is_used() -> None:
    text = "${A:-${B:?}}:${C-x}:${D:+${E:?}}:$$F:$G"
    assert interpolate(text, {"A": "a", "C": "", "G": "g"}) == "a:::$F:g"
    assert interpolate(text, {"A": "", "B": "b", "D": "d", "E": "e"}) == "b:x:e:$F:"
    with pytest.raises(Unset, match="B"):
        interpolate(text, {"A": ""})
    with pytest.raises(Unset, match="E"):
        interpolate(text, {"A": "a", "D": "d"})


def test_t04_plain_update_gives_env_what_compose_now_requires(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], rendered: Any
) -> None:
    """A v0.2.0 project with PostgreSQL, Redis and compose.yaml, updated with no answer changed: compose.yaml now
    requires the password of Redis's ACL user, which the update adds to .env, and nothing of the database roles,
    which a volume with data does not have: the app and migrate keep the server's account, as in v0.2.0, and the hook
    names the settings that would move them over. A fresh copy's .env has the roles, and the app logs in as its
    own (O04)."""
    newest = release_and_working_tree(tmp_path / "template-repo", "v0.2.0")
    answers = {"database": "postgresql", "rate_limit_store": "redis", "include_docker": True}
    project = render_project(tmp_path / "template-repo", tmp_path / "project", answers, tag="v0.2.0")
    env_file, compose = project / ".env", project / "compose.yaml"
    before = dict(SETTING.findall(env_file.read_text()))
    assert not {"REDIS_PASSWORD", *ROLES} & set(before), "v0.2.0 wrote none of them"
    capfd.readouterr()

    update(project, newest)

    output = "".join(capfd.readouterr())
    after = dict(SETTING.findall(env_file.read_text()))
    assert set(after) - set(before) == {"REDIS_PASSWORD"}, "the roles' settings would name roles the server lacks"
    assert {name: after[name] for name in before} == before, "every setting already there keeps its value"
    assert re.fullmatch(r"[0-9a-f]{64}", after["REDIS_PASSWORD"])
    assert after["REDIS_PASSWORD"] not in before.values(), "a fresh value"
    assert "added REDIS_PASSWORD" in output
    assert all(name in output for name in ROLES) and "Existing compose deployments" in output
    assert after["REDIS_PASSWORD"] not in output and after["POSTGRES_PASSWORD"] not in output, "names only"
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert leftovers(project) == []

    assert _unset(compose, after) == set(), "`docker compose config` would fail"
    assert _unset(compose, before) == {"REDIS_PASSWORD"}, "the check sees a setting compose requires"
    containers = _containers(compose, after)
    server = f"{after['POSTGRES_USER']}:{after['POSTGRES_PASSWORD']}@/{after['POSTGRES_DB']}?"
    assert f"://{server}" in containers["app"]["DATABASE_URL"], "the app keeps v0.2.0's account"
    assert f"://{server}" in containers["migrate"]["MIGRATIONS_DATABASE_URL"]
    assert "MIGRATIONS_DATABASE_URL" not in containers["app"], "the app never holds the owner's login"
    assert containers["app"]["POSTGRES_PASSWORD"] == "", "blanked beside the URL that holds it"
    assert f":{after['REDIS_PASSWORD']}@" in containers["app"]["REDIS_URL"]
    assert all(containers["db"][name] == "" for name in ROLES), "the server's first-start script makes no roles"

    text = env_file.read_text()
    again = run(
        python(
            str(TEMPLATE / "hooks/sync_env.py"),
            str(TEMPLATE),
            "database=postgresql",
            "secret_backend=env",
            "rate_limit_store=redis",
            "package_name=my_service",
            "project_slug=my-service",
        ),
        project,
    )
    assert again.returncode == 0, again.stderr
    assert env_file.read_text() == text, "idempotent"

    fresh = rendered("all-services")
    fresh_env = dict(SETTING.findall((fresh / ".env").read_text()))
    assert all(fresh_env.get(name) for name in ROLES)
    assert _unset(fresh / "compose.yaml", fresh_env) == set()
    containers = _containers(fresh / "compose.yaml", fresh_env)
    app_role = f"://{fresh_env['DATABASE_APP_USER']}:{fresh_env['DATABASE_APP_PASSWORD']}@"
    owner = f"://{fresh_env['DATABASE_OWNER_USER']}:{fresh_env['DATABASE_OWNER_PASSWORD']}@"
    assert app_role in containers["app"]["DATABASE_URL"], "a fresh copy's app logs in as its data-only role"
    assert owner in containers["migrate"]["MIGRATIONS_DATABASE_URL"]
    assert containers["app"]["DATABASE_OWNER_PASSWORD"] == ""


def _add_migration(repo: Path, version: str, old: str, new: str) -> None:
    config = (repo / "copier.yml").read_text()
    command = (
        f'["{{{{ _copier_python }}}}", "{{{{ _copier_conf.src_path }}}}/hooks/rename_env_setting.py", "{old}", "{new}"]'
    )
    entry = f"\n  - version: {version}\n    command: {command}"
    (repo / "copier.yml").write_text(config.replace("_migrations:", "_migrations:" + entry, 1))


def test_t04_migration_runs_once_between_the_versions_it_names(template_repo: Path, tmp_path: Path) -> None:
    project = render_project(template_repo, tmp_path / "project")
    secret = re.search(r"^SECRET_KEY=(.+)$", (project / ".env").read_text(), re.MULTILINE)
    assert secret is not None
    edit(project / ".env", "TRUSTED_PROXIES=", "TRUSTED_PROXIES=127.0.0.1")

    security_fix(template_repo)  # v1.1.0: no migration
    _add_migration(template_repo, "v2.0.0", "TRUSTED_PROXIES", "PROXY_ADDRESSES")
    release(template_repo, "v2.0.0", "rampart 2.0.0: TRUSTED_PROXIES is now PROXY_ADDRESSES")
    release(template_repo, "v2.1.0", "rampart 2.1.0")

    update(project, "v1.1.0")
    assert "TRUSTED_PROXIES=127.0.0.1" in (project / ".env").read_text(), "v1.1.0 names no migration"
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "update to 1.1.0")

    with pytest.raises(UnsafeTemplateError):
        update(project, "v2.0.0", unsafe=False)  # migrations run code: copier asks for --trust

    update(project, "v2.0.0")
    env = (project / ".env").read_text()
    assert "PROXY_ADDRESSES=127.0.0.1" in env
    assert "TRUSTED_PROXIES" not in env
    assert f"SECRET_KEY={secret.group(1)}" in env, "secrets are kept"
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "update to 2.0.0")

    # Put the old name back: an update past v2.0.0 must not run the v2.0.0 migration again.
    (project / ".env").write_text(env + "TRUSTED_PROXIES=127.0.0.2\n")
    update(project, "v2.1.0")
    assert "TRUSTED_PROXIES=127.0.0.2" in (project / ".env").read_text()


def test_t04_rename_hook_is_idempotent(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("# settings\nexport OLD_NAME = 'a b'\nOLD_NAMES=keep\n")
    env.chmod(0o600)
    hook = [sys.executable, str(TEMPLATE / "hooks/rename_env_setting.py"), "OLD_NAME", "NEW_NAME", str(env)]
    for _ in range(2):
        subprocess.run(hook, check=True, capture_output=True)
        assert env.read_text() == "# settings\nexport NEW_NAME = 'a b'\nOLD_NAMES=keep\n"
    assert env.stat().st_mode & 0o777 == 0o600


# Logs in as the admin over HTTP in-process with the project's own settings (.env); its last line is the status of
# two logins and the prefix of the hash stored between them (the app's JSON logs come before it).
LOGIN_TWICE = """
import asyncio, sys
import httpx
from sqlalchemy import select
from my_service.main import app
from my_service.models import User

async def main(email, password):
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 40000))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            form = {"username": email, "password": password}
            first = (await http.post("/api/v1/auth/login", data=form)).status_code
            async with app.state.sessionmaker() as db:
                stored = await db.scalar(select(User.hashed_password).where(User.email == email))
            second = (await http.post("/api/v1/auth/login", data=form)).status_code
    print(first, stored.split("$")[1], second)

asyncio.run(main(*sys.argv[1:]))
"""
HASH_PREFIX = {"argon2": "argon2id", "bcrypt": "bcrypt-hmac", "scrypt": "scrypt"}


@pytest.mark.parametrize(("before", "after"), [("argon2", "bcrypt"), ("scrypt", "argon2")])
def test_c12_changing_the_hasher_on_update_keeps_every_account(
    template_repo: Path, tmp_path: Path, before: str, after: str
) -> None:
    """C12: accounts made under the old hasher log in after `copier update -d password_hasher=...`, rehashed."""
    project = render_project(template_repo, tmp_path / "project", {"password_hasher": before})
    email, password = "owner@example.com", "a passphrase the owner chose long ago"
    assert run(python("-m", "alembic", "upgrade", "heads"), project).returncode == 0
    created = subprocess.run(
        python("-m", "my_service", "create-admin", "--email", email),
        cwd=project,
        input=password + "\n",
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONPATH": str(project / "src")},
    )
    assert created.returncode == 0, created.stderr

    update(project, "v1.0.0", data={"password_hasher": after})

    assert yaml.safe_load((project / ".copier-answers.yml").read_text())["password_hasher"] == after
    assert leftovers(project) == []
    login = run(python("-c", LOGIN_TWICE, email, password), project, env={"PYTHONPATH": str(project / "src")})
    assert login.returncode == 0, login.stdout + login.stderr
    assert login.stdout.splitlines()[-1].split() == ["200", HASH_PREFIX[after], "200"], "in, rehashed, and in again"
