"""T07: a project rendered from every released version, edited the way owners edit, updates to this working tree.

The owner has done what teams do in the months after `copier copy`: routes and a table of their own (linked to the
users), an Alembic migration of their own made with the command their README gave, a dependency of their own, a
stricter Content-Security-Policy in a template-owned module, a deleted template file, and settings of their own in
`.env`. After `copier update` every template-owned file they did not touch equals a fresh render of the new
version, their work is all there, nothing is left to merge by hand, Alembic upgrades to one head per branch, and
the project's own suite (their test included) passes. Edits to files a release moved are covered by
tests/test_moved_files.py: those become visible `.orig` files, never silent losses.
"""

import re
from pathlib import Path

import copier
import pytest
import yaml
from helpers import git, python, run
from releases import leftovers, release_repository, released, render_project

PACKAGE = "my_service"
PKG = Path("src") / PACKAGE
DEPENDENCY = '"rich>=13"'
CSP_BEFORE = "form-action 'none'\""
CSP_AFTER = "form-action 'none'; sandbox\""
DELETED = "compose.yaml"
OWN_SETTINGS = "# Our own settings\nNOTES_PER_USER=3\n"

ROUTES = '''"""Our routes: each user's notes."""

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from ..api.deps import CurrentUser, DbSession
from .models import Note

router = APIRouter(prefix="/notes", tags=["notes"])


class NoteIn(BaseModel):
    body: str = Field(min_length=1, max_length=500)


class NoteOut(BaseModel):
    id: int
    body: str


@router.post("", status_code=201)
async def create_note(note: NoteIn, user: CurrentUser, db: DbSession) -> NoteOut:
    row = Note(user_id=user.id, body=note.body)
    db.add(row)
    await db.commit()
    return NoteOut(id=row.id, body=row.body)


@router.get("")
async def list_notes(user: CurrentUser, db: DbSession) -> list[NoteOut]:
    rows = await db.scalars(select(Note).where(Note.user_id == user.id).order_by(Note.id))
    return [NoteOut(id=row.id, body=row.body) for row in rows]
'''

MODELS = '''"""Our tables."""

import uuid

from sqlalchemy import ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from ..models import Base


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    body: Mapped[str] = mapped_column(Text)
'''

SETTINGS = '''"""Our settings."""

from pydantic_settings import BaseSettings


class ExtensionSettings(BaseSettings):
    """Settings of our own code."""

    notes_per_user: int = 100
'''

TEST = '''"""Our notes, over HTTP: each user sees their own."""

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.anyio


async def test_notes_belong_to_their_author(
    client: httpx.AsyncClient, make_account: Callable[[], Awaitable[Any]]
) -> None:
    alice, bob = await make_account(), await make_account()
    alice_auth = {"Authorization": f"Bearer {alice.access_token}"}
    created = await client.post("/api/v1/notes", json={"body": "hello"}, headers=alice_auth)
    assert created.status_code == 201, created.text

    assert [note["body"] for note in (await client.get("/api/v1/notes", headers=alice_auth)).json()] == ["hello"]
    bob_notes = await client.get("/api/v1/notes", headers={"Authorization": f"Bearer {bob.access_token}"})
    assert bob_notes.json() == []
    assert (await client.get("/api/v1/notes")).status_code == 401
'''


BRANCHES = """
from alembic.config import Config
from alembic.script import ScriptDirectory
script = ScriptDirectory.from_config(Config("alembic.ini"))
print([sorted(script.get_heads()), sorted(script.get_bases())])
"""


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    repo = tmp_path_factory.mktemp("every-release") / "template"
    return repo, release_repository(repo)


def alembic(project: Path, *args: str) -> str:
    result = run(python("-m", "alembic", *args), project, env={"PYTHONPATH": "src"})
    assert result.returncode == 0, f"alembic {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


def add_dependency(pyproject: Path) -> None:
    """Where the project's README said: the `app` group, or (0.1.0) the end of the dependency list."""
    text = pyproject.read_text()
    if "\napp = []" in text:
        text = text.replace("\napp = []", f"\napp = [\n    {DEPENDENCY},\n]", 1)
    else:
        end = text.index("\n]\n", text.index("dependencies = ["))
        text = text[:end] + f"\n    {DEPENDENCY}," + text[end:]
    pyproject.write_text(text)


def owner_works_on(project: Path) -> dict[str, str]:
    """The owner's months of work, committed; returns their own files and contents."""
    pkg = project / PKG
    (pkg / "extensions/routes.py").write_text(ROUTES)
    (pkg / "extensions/models.py").write_text(MODELS)
    if (pkg / "extensions/settings.py").exists():
        (pkg / "extensions/settings.py").write_text(SETTINGS)
    (project / "tests/test_notes.py").write_text(TEST)
    headers = pkg / "middleware/security_headers.py"
    assert CSP_BEFORE in headers.read_text()
    headers.write_text(headers.read_text().replace(CSP_BEFORE, CSP_AFTER, 1))
    add_dependency(project / "pyproject.toml")
    (project / DELETED).unlink()
    with (project / ".env").open("a") as env:
        env.write(OWN_SETTINGS)

    alembic(project, "upgrade", "heads" if (project / "migrations/app").is_dir() else "head")
    if (project / "migrations/app").is_dir():
        alembic(project, "revision", "--autogenerate", "--head", "app@head", "-m", "add notes")
    else:  # 0.1.0 wrote revisions as Alembic left them; the owner's CI (ruff format --check) made them format it
        alembic(project, "revision", "--autogenerate", "-m", "add notes")
        for fix in (["ruff", "check", "--fix", "-q", "migrations"], ["ruff", "format", "-q", "migrations"]):
            assert run(python("-m", *fix), project).returncode == 0
    alembic(project, "upgrade", "heads" if (project / "migrations/app").is_dir() else "head")
    owned = {
        str(path.relative_to(project)): path.read_text()
        for path in [pkg / "extensions/routes.py", pkg / "extensions/models.py", project / "tests/test_notes.py"]
    }
    if (pkg / "extensions/settings.py").exists():
        owned[str(PKG / "extensions/settings.py")] = SETTINGS
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", "our notes")
    return owned


def owners_rows(readme: str) -> list[str]:
    """The backticked paths of the rows the project's README marks as the owner's."""
    rows = [line for line in readme.splitlines() if re.match(r"^\|[^|]+\| yours \|", line)]
    return [path for row in rows for path in re.findall(r"`([^`]+)`", row.split("|")[1])]


def fresh_render(repo: Path, tag: str, answers: dict[str, object], destination: Path) -> Path:
    data = {key: value for key, value in answers.items() if not key.startswith("_")}
    copier.run_copy(str(repo), destination, data=data, defaults=True, vcs_ref=tag, quiet=True, unsafe=True)
    return destination


@pytest.mark.slow
@pytest.mark.parametrize("version", [tag for tag, _ in released()])
def test_t07_every_release_updates_with_the_owners_work_intact(
    version: str, repository: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo, tags = repository
    newest = tags[-1]
    project = render_project(repo, tmp_path / "project", tag=version)
    owned = owner_works_on(project)
    env_before = (project / ".env").read_bytes()

    copier.run_update(project, defaults=True, overwrite=True, vcs_ref=newest, quiet=True, unsafe=True)

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert answers["_commit"] == newest
    assert leftovers(project) == [], "the update left conflicts to merge by hand"

    # The owner's work is all there.
    assert (project / ".env").read_bytes() == env_before, ".env is the owner's: updates never touch it"
    for name, text in owned.items():
        assert (project / name).read_text() == text, f"{name} is the owner's"
    assert CSP_AFTER in (project / PKG / "middleware/security_headers.py").read_text()
    assert DEPENDENCY in (project / "pyproject.toml").read_text()
    assert not (project / DELETED).exists(), "a template file the owner deleted stays deleted"
    own_migrations = [p for p in (project / "migrations").rglob("*.py") if "add_notes" in p.name]
    assert len(own_migrations) == 1, own_migrations
    assert own_migrations[0].parent.name == "app", "the owner's migration lives on the owner's branch"

    # The README's ownership table names every place the owner used, and the update left each of them alone.
    rows = owners_rows((project / "README.md").read_text())
    used = [*owned, str(own_migrations[0].relative_to(project)), ".env"]
    for name in used:
        assert any(name == row or name.startswith(row.rstrip("/") + "/") for row in rows) or name.startswith(
            "tests/"
        ), f"{name} is not in the README's list of the owner's places: {rows}"
    assert "[dependency-groups] app" in rows

    # The template's fixes arrived: every file the owner did not touch is the new version's.
    fresh = fresh_render(repo, newest, answers, tmp_path / "fresh")
    touched = {"pyproject.toml", str(PKG / "middleware/security_headers.py"), ".env", ".copier-answers.yml"}
    for path in fresh.rglob("*"):
        name = str(path.relative_to(fresh))
        if path.is_file() and name not in touched and name not in owned and not name.startswith("migrations/app/"):
            assert (project / name).is_file() or name == DELETED, f"{name} of {newest} is missing"
            if name != DELETED:
                assert (project / name).read_bytes() == path.read_bytes(), f"{name} differs from {newest}"

    # One head per branch (as many heads as roots: no fork), the database at every head, models and migrations agree.
    shape = run(python("-c", BRANCHES), project, env={"PYTHONPATH": "src"})
    assert shape.returncode == 0, shape.stderr
    heads, bases = yaml.safe_load(shape.stdout)
    assert len(heads) == len(bases), f"a branch forked: heads {heads}, roots {bases}"
    alembic(project, "upgrade", "heads")
    current = alembic(project, "current")
    assert all(head in current for head in heads), f"the database is at every head: {current}"
    alembic(project, "check")

    for check in (["ruff", "check", "--no-cache", "."], ["ruff", "format", "--check", "--no-cache", "."]):
        result = run(python("-m", *check), project)
        assert result.returncode == 0, result.stdout + result.stderr
    suite = run(python("-m", "pytest", "-q", "-p", "no:cacheprovider"), project, env={"PYTHONPATH": "src"})
    assert suite.returncode == 0, suite.stdout[-6000:] + suite.stderr[-2000:]
    assert re.search(r"\d+ passed", suite.stdout) and " failed" not in suite.stdout
    assert "test_notes.py" in run(python("-m", "pytest", "-q", "--co", "-p", "no:cacheprovider"), project).stdout
