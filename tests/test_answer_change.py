"""T08: changing an answer on `copier update` gives a project whose own suite passes with no hand edits.

The code of the new variant arrives with the update; `.env` does not (it is in `_skip_if_exists`), so
hooks/sync_env.py, a `_migrations` step of every update, adds the settings the new answers need. These tests switch
sqlite -> postgresql, memory -> redis and env -> file (and a hasher, whose accounts test_update.py's C12 tests follow
through the switch) in one update of a project from a throwaway tagged template, run the new variant's suite, and
switch back; the hook itself is checked directly too.
"""

import hashlib
import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import copier
import pytest
import yaml
from helpers import TEMPLATE, git, python, run
from releases import leftovers, render_project, update
from services import Services

HOOK = TEMPLATE / "hooks/sync_env.py"
ASSIGNMENT = re.compile(r"^([A-Z][A-Z0-9_]*)=(.*)$", re.MULTILINE)
SECRET_NAMES = ("SECRET_KEY", "PASSWORD_PEPPER", "POSTGRES_PASSWORD", "MARIADB_PASSWORD", "DATABASE_URL")
SWITCHED = {
    "database": "postgresql",
    "rate_limit_store": "redis",
    "secret_backend": "file",
    "password_hasher": "bcrypt",
}
BACK = {"database": "sqlite", "rate_limit_store": "memory", "secret_backend": "env"}

# Loads the settings from the project's .env and secrets/ as the service does at start-up, and names what it got.
LOAD_SETTINGS = """
import hashlib
from my_service.settings import load_settings
settings = load_settings()
print(settings.database_url.get_secret_value().split("+")[0])
print(hashlib.sha256(settings.password_pepper.get_secret_value().encode()).hexdigest())
"""


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def settings_of(env_file: Path) -> dict[str, str]:
    return dict(ASSIGNMENT.findall(env_file.read_text()))


def secret_values(project: Path) -> set[str]:
    """Every secret of the project (and each password inside a URL): none may ever be printed."""
    env = settings_of(project / ".env")
    found = {env[name] for name in SECRET_NAMES if env.get(name)}
    found |= {match for url in found for match in re.findall(r"://[^:/@]+:([^@]+)@", url)}
    if (project / "secrets").is_dir():
        found |= {path.read_text().strip() for path in (project / "secrets").iterdir()}
    return {value for value in found if len(value) >= 16}


def clean_env() -> dict[str, str]:
    """This process's environment without any setting of the service: only .env and secrets/ may give them."""
    drop = {"SECRET_KEY", "PASSWORD_PEPPER", "DATABASE_URL", "REDIS_URL", "SECRETS_DIR", "APP_ENV"}
    return {name: value for name, value in os.environ.items() if name not in drop}


def start_up(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        python("-c", LOAD_SETTINGS),
        cwd=project,
        env={**clean_env(), "PYTHONPATH": str(project / "src")},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def fresh_keys(repo: Path, answers: dict[str, Any], destination: Path) -> set[str]:
    """The settings the template's .env has for these answers, rendered from scratch."""
    copier.run_copy(str(repo), destination, data=answers, defaults=True, vcs_ref="v1.0.0", quiet=True, unsafe=True)
    return set(settings_of(destination / ".env"))


def commit(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


@pytest.mark.slow
def test_t08_changed_answers_on_update_give_a_working_project(
    template_repo: Path,
    tmp_path: Path,
    services: Services,
    capfd: pytest.CaptureFixture[str],
) -> None:
    env_for = services.env_for(SWITCHED)  # skips (fails in CI) before any work when PostgreSQL or Redis is absent
    project = render_project(template_repo, tmp_path / "project")
    env_file = project / ".env"
    env_file.write_text(env_file.read_text().replace("ALLOWED_HOSTS=localhost,127.0.0.1", "ALLOWED_HOSTS=api.test"))
    env_file.write_text(env_file.read_text() + "# our own\nFEATURE_FLAG=on\n")
    before = settings_of(env_file)
    capfd.readouterr()

    copier.run_update(project, data=SWITCHED, defaults=True, overwrite=True, vcs_ref="v1.0.0", unsafe=True)

    output = "".join(capfd.readouterr())
    assert "sync_env.py" in output, "the hook ran as a step of the update"
    assert not [value for value in secret_values(project) if value in output], "a secret was printed"
    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert {name: answers[name] for name in SWITCHED} == SWITCHED
    assert leftovers(project) == []

    after = settings_of(env_file)
    wanted = fresh_keys(template_repo, SWITCHED, tmp_path / "fresh")
    assert set(after) - set(before) == wanted - set(before), "exactly the settings the new variant's .env has"
    assert set(after) >= wanted
    unchanged = {name: value for name, value in before.items() if name != "DATABASE_URL"}
    assert {name: after[name] for name in unchanged} == unchanged, "the owner's values stay, secrets too"
    assert after["ALLOWED_HOSTS"] == "api.test"
    assert after["DATABASE_URL"].startswith("postgresql+asyncpg://my_service:")
    assert f"# replaced by copier update: DATABASE_URL={before['DATABASE_URL']}\n" in env_file.read_text()
    assert f":{after['POSTGRES_PASSWORD']}@" in after["DATABASE_URL"], "one account in both places"
    for name in ("SECRET_KEY", "PASSWORD_PEPPER"):
        assert (project / "secrets" / name).read_text().strip() == before[name], f"secrets/{name} is .env's"
    assert env_file.stat().st_mode & 0o777 == 0o600

    text = env_file.read_text()
    rerun = run(
        python(str(HOOK), str(template_repo), *(f"{k}={v}" for k, v in answers.items() if k[0] != "_")), project
    )
    assert rerun.returncode == 0, rerun.stderr
    assert env_file.read_text() == text, "running the hook again changes nothing"

    started = start_up(project)
    assert started.returncode == 0, started.stderr[-3000:]
    pepper = sha256(before["PASSWORD_PEPPER"])
    assert started.stdout.split() == ["postgresql", pepper], "the new backend, and the pepper every hash needs"

    suite = run(
        python("-m", "pytest", "-q", "-p", "no:cacheprovider", "-x"),
        project,
        env={"PYTHONDONTWRITEBYTECODE": "1", **env_for},
    )
    assert suite.returncode == 0, suite.stdout[-8000:] + suite.stderr[-3000:]
    assert re.search(r"\d+ passed", suite.stdout)
    assert "test_secret_backend_file.py" in " ".join(p.name for p in (project / "tests").iterdir())

    # And back: what the other variant left in .env (REDIS_URL, SECRETS_DIR, POSTGRES_*) must not stop start-up.
    commit(project, "switched to postgresql, redis, file")
    update(project, "v1.0.0", data=BACK)
    back = settings_of(env_file)
    assert back["DATABASE_URL"] == before["DATABASE_URL"]
    assert {"REDIS_URL", "SECRETS_DIR", "POSTGRES_PASSWORD"} <= set(back), "leftovers stay; nothing reads them"
    assert back["SECRET_KEY"] == before["SECRET_KEY"]
    assert back["PASSWORD_PEPPER"] == before["PASSWORD_PEPPER"]
    assert leftovers(project) == []
    started = start_up(project)
    assert started.returncode == 0, started.stderr[-3000:]
    assert started.stdout.split() == ["sqlite", pepper]
    migrated = run(python("-m", "alembic", "upgrade", "heads"), project, env=clean_env())
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr


def test_t08_missing_env_is_rendered_again_by_the_update(template_repo: Path, tmp_path: Path) -> None:
    """A fresh clone has no .env: `copier update` renders one for the answers, and the hook leaves it as it is."""
    project = render_project(template_repo, tmp_path / "project", {"database": "postgresql"})
    (project / ".env").unlink()

    update(project, "v1.0.0", data={"rate_limit_store": "redis"})

    assert set(settings_of(project / ".env")) == fresh_keys(
        template_repo, {"database": "postgresql", "rate_limit_store": "redis"}, tmp_path / "fresh"
    )
    assert (project / ".env").stat().st_mode & 0o777 == 0o600


# The hook on its own, run as Copier runs it: in the project's folder, with the new answers.


def hook(project: Path, **answers: str) -> subprocess.CompletedProcess[str]:
    given = {"database": "sqlite", "secret_backend": "env", "rate_limit_store": "memory", **answers}
    given |= {"package_name": "shop", "project_slug": "shop"}
    return run(python(str(HOOK), str(TEMPLATE), *(f"{name}={value}" for name, value in given.items())), project)


DEFAULT_ENV = """\
# Development settings and secrets, made by `copier copy`.
APP_ENV=development
SECRET_KEY=key-of-the-owner-0123456789abcdef
PASSWORD_PEPPER=pepper-of-the-owner-0123456789abcdef
DATABASE_URL=sqlite+aiosqlite:///./shop.db
ALLOWED_HOSTS=shop.test
"""


def test_t08_hook_adds_what_the_new_answers_need_once(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(DEFAULT_ENV)
    env.chmod(0o644)

    result = hook(tmp_path, database="mysql", rate_limit_store="redis")

    assert result.returncode == 0, result.stderr
    settings = settings_of(env)
    assert settings["SECRET_KEY"] == "key-of-the-owner-0123456789abcdef"
    assert settings["ALLOWED_HOSTS"] == "shop.test"
    password = settings["MARIADB_PASSWORD"]
    assert re.fullmatch(r"[0-9a-f]{64}", password), "a new 256-bit secret"
    assert settings["DATABASE_URL"] == f"mysql+asyncmy://shop:{password}@127.0.0.1:3306/shop"
    assert settings["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    text = env.read_text()
    assert "# replaced by copier update: DATABASE_URL=sqlite+aiosqlite:///./shop.db\nDATABASE_URL=mysql" in text
    assert "# Added by copier update for database=mysql, rate_limit_store=redis:\n" in text
    assert "{{" not in text
    assert password not in result.stdout + result.stderr
    assert "DATABASE_URL" in result.stderr
    assert "MARIADB_PASSWORD" in result.stderr
    assert env.stat().st_mode & 0o777 == 0o600

    again = hook(tmp_path, database="mysql", rate_limit_store="redis")
    assert again.returncode == 0, again.stderr
    assert env.read_text() == text, "idempotent"

    # Back to PostgreSQL later: a new account, its password the same in both places; the old URL kept commented.
    assert hook(tmp_path, database="postgresql").returncode == 0
    settings = settings_of(env)
    assert settings["DATABASE_URL"] == f"postgresql+asyncpg://shop:{settings['POSTGRES_PASSWORD']}@127.0.0.1:5432/shop"
    assert settings["POSTGRES_PASSWORD"] != password
    assert env.read_text().count("# replaced by copier update: DATABASE_URL=") == 2


def test_t08_hook_keeps_the_password_of_an_account_it_already_has(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(DEFAULT_ENV.replace("sqlite+aiosqlite", "sqlite") + "POSTGRES_PASSWORD=known-password-0123456789\n")
    assert hook(tmp_path, database="postgresql").returncode == 0
    assert "://shop:known-password-0123456789@" in settings_of(env)["DATABASE_URL"]


def test_t08_hook_takes_the_secrets_from_their_files_on_file_to_env(tmp_path: Path) -> None:
    """A new PASSWORD_PEPPER would fail every stored password: the values come from secrets/ when it has them."""
    env = tmp_path / ".env"
    env.write_text("APP_ENV=development\nSECRETS_DIR=secrets\nDATABASE_URL=sqlite+aiosqlite:///./shop.db\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/SECRET_KEY").write_text("key-from-the-file-0123456789abcdef\n")
    (tmp_path / "secrets/PASSWORD_PEPPER").write_text("pepper-from-the-file-0123456789abcdef\n")

    result = hook(tmp_path)

    assert result.returncode == 0, result.stderr
    settings = settings_of(env)
    assert settings["SECRET_KEY"] == "key-from-the-file-0123456789abcdef"
    assert settings["PASSWORD_PEPPER"] == "pepper-from-the-file-0123456789abcdef"
    assert settings["SECRETS_DIR"] == "secrets", "left alone: nothing reads it now"
    assert "from-the-file" not in result.stderr
    assert "made new values" not in result.stderr

    shutil.rmtree(tmp_path / "secrets")
    env.write_text("APP_ENV=development\nDATABASE_URL=sqlite+aiosqlite:///./shop.db\n")
    result = hook(tmp_path)
    settings = settings_of(env)
    assert re.fullmatch(r"[0-9a-f]{64}", settings["SECRET_KEY"])
    assert re.fullmatch(r"[0-9a-f]{64}", settings["PASSWORD_PEPPER"])
    assert settings["SECRET_KEY"] != settings["PASSWORD_PEPPER"]
    assert "made new values for SECRET_KEY, PASSWORD_PEPPER" in result.stderr
    assert settings["SECRET_KEY"] not in result.stderr


def test_t08_hook_notes_secrets_that_env_still_sets(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text(DEFAULT_ENV)
    result = hook(tmp_path, secret_backend="vault")
    assert result.returncode == 0, result.stderr
    assert "SECRET_KEY, PASSWORD_PEPPER still set here" in result.stderr
    assert settings_of(env)["VAULT_SECRET_PATH"] == "secret/shop"
    assert not (tmp_path / "secrets").exists(), "only env -> file fills secrets/"


def test_t08_hook_needs_no_env_file(tmp_path: Path) -> None:
    result = hook(tmp_path, database="postgresql")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / ".env").exists()


def _load_hook() -> ModuleType:
    spec = importlib.util.spec_from_file_location("sync_env", HOOK)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_t08_the_hook_can_read_every_env_fragment() -> None:
    """Every value of every choice has fragments the hook reads, and copier.yml passes every answer they use."""
    sync_env = _load_hook()
    config = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    (step,) = [step for step in config["_migrations"] if "hooks/sync_env.py" in " ".join(step["command"])]
    assert "version" not in step, "runs on every update"
    assert step["when"] == "{{ _stage == 'after' }}"
    passed = {part.split("=", 1)[0] for part in step["command"][3:]}
    for name in passed:
        assert f"{name}={{{{ {name} }}}}" in step["command"]
    fragments = TEMPLATE / sync_env.FRAGMENTS
    choices = sorted(path.name for path in fragments.iterdir() if path.is_dir())
    assert set(choices) <= passed
    for choice in choices:
        for value in config[choice]["choices"].values():
            answers = dict.fromkeys(passed, "x") | {choice: value}
            for block in sync_env.template_blocks(TEMPLATE, answers):
                for setting in block.settings:
                    used = set(sync_env.PLACEHOLDER.findall(setting.template))
                    assert used <= passed | sync_env.SECRET_PLACEHOLDERS, f"{choice}={value}: {setting.name}"
    for path in fragments.rglob("*.env"):
        assert not re.search(r"\{[%#]", path.read_text()), f"{path}: only {{{{ name }}}} placeholders"
    assert "database_password" in config, "the fragments and .env.jinja share the computed secrets"
