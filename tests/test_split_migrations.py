"""The 0.2.0 split of Alembic revisions: the owner's move to migrations/app/, on a branch of their own.

`hooks/split_owner_migrations.py` runs after an update crosses 0.2.0 (a `_migrations` step). These tests run it on a
0.1.0-style project: every owner revision moves, the ones based on a template revision are based on `app_root`
instead, the template's stay, and a second run changes nothing. Then real Alembic, on a SQLite file upgraded under
the 0.1.0 history: `alembic upgrade heads` runs nothing again, and a later template revision applies on its own
branch.
"""

import shutil
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from helpers import TEMPLATE

HOOK = TEMPLATE / "hooks/split_owner_migrations.py"
MIGRATIONS = TEMPLATE / "template/migrations"


def revision_file(revision: str, down_revision: str, *, quote: str = "'") -> str:
    """A revision as 0.1.0's script.py.mako wrote it (repr: single quotes), or as ruff formats it (`quote='"'`).

    `down_revision` is the Python source of the value, in single quotes.
    """
    revises = ", ".join(part.strip(" '\n") for part in down_revision.strip("()").split(",") if part.strip(" \n"))
    table = f"{quote}t_{revision}{quote}"
    return (
        f'"""Revision {revision}.\n\nRevision ID: {revision}\nRevises: {revises}\nCreate Date: 2026-12-01\n"""\n\n'
        "from collections.abc import Sequence\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision: str = {quote}{revision}{quote}\n"
        f"down_revision: str | None = {down_revision.replace(chr(39), quote)}\n"
        "branch_labels: str | Sequence[str] | None = None\n"
        "depends_on: str | Sequence[str] | None = None\n\n\n"
        f"def upgrade() -> None:\n    op.create_table({table}, sa.Column({quote}id{quote}, sa.Integer()))\n\n\n"
        f"def downgrade() -> None:\n    op.drop_table({table})\n"
    )


ENV_PY = """from alembic import context
from sqlalchemy import engine_from_config, pool

engine = engine_from_config(context.config.get_section(context.config.config_ini_section), poolclass=pool.NullPool)
with engine.connect() as connection:
    context.configure(connection=connection, target_metadata=None)
    with context.begin_transaction():
        context.run_migrations()
"""


def old_project(folder: Path) -> Path:
    """A project as 0.1.0 left it: the template's 0001 and the owner's revisions, all in migrations/versions/."""
    versions = folder / "migrations/versions"
    versions.mkdir(parents=True)
    shutil.copy2(MIGRATIONS / "versions/0001_initial_schema.py", versions)
    (versions / "1a2b3c4d5e6f_add_notes.py").write_text(revision_file("1a2b3c4d5e6f", "'0001'"))
    (versions / "2b3c4d5e6f70_add_tags.py").write_text(revision_file("2b3c4d5e6f70", "'1a2b3c4d5e6f'", quote='"'))
    (folder / "migrations/env.py").write_text(ENV_PY)
    shutil.copy2(MIGRATIONS / "script.py.mako", folder / "migrations")
    return folder


def new_layout(project: Path) -> None:
    """What the 0.2.0 update writes before the hook runs: alembic.ini and the app branch's root."""
    shutil.copy2(TEMPLATE / "template/alembic.ini", project)
    (project / "migrations/app").mkdir()
    shutil.copy2(MIGRATIONS / "app/app_root.py", project / "migrations/app")


def split(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(HOOK), str(TEMPLATE)], cwd=project, capture_output=True, text=True, check=True
    )


def snapshot(project: Path) -> dict[str, bytes]:
    return {str(path.relative_to(project)): path.read_bytes() for path in project.rglob("*") if path.is_file()}


def test_owner_revisions_move_to_their_branch_once(tmp_path: Path) -> None:
    project = old_project(tmp_path / "project")
    new_layout(project)
    template_revision = (project / "migrations/versions/0001_initial_schema.py").read_bytes()

    moved = split(project)

    assert sorted(path.name for path in (project / "migrations/versions").iterdir()) == ["0001_initial_schema.py"]
    assert (project / "migrations/versions/0001_initial_schema.py").read_bytes() == template_revision
    notes = (project / "migrations/app/1a2b3c4d5e6f_add_notes.py").read_text()
    assert "down_revision: str | None = 'app_root'\n" in notes, "based on the app branch's root, in its own quotes"
    assert "\nRevises: app_root\n" in notes
    tags = (project / "migrations/app/2b3c4d5e6f70_add_tags.py").read_text()
    assert tags == revision_file("2b3c4d5e6f70", "'1a2b3c4d5e6f'", quote='"'), "based on an owner revision: as it was"
    assert "migrations/versions/1a2b3c4d5e6f_add_notes.py -> migrations/app/1a2b3c4d5e6f_add_notes.py" in moved.stderr
    assert "now based on app_root (was 0001)" in moved.stderr

    before = snapshot(project)
    again = split(project)
    assert snapshot(project) == before, "a second run changes nothing"
    assert again.stderr == ""


def test_a_merge_of_template_and_owner_revisions_is_based_on_the_root_once(tmp_path: Path) -> None:
    project = old_project(tmp_path / "project")
    new_layout(project)
    merge = project / "migrations/versions/3c4d5e6f7081_merge.py"
    merge.write_text(revision_file("3c4d5e6f7081", "(\n    '0001',\n    '2b3c4d5e6f70',\n)", quote='"'))

    split(project)

    moved = (project / "migrations/app/3c4d5e6f7081_merge.py").read_text()
    assert 'down_revision: str | None = ("app_root", "2b3c4d5e6f70")\nbranch_labels' in moved
    assert "\nRevises: app_root, 2b3c4d5e6f70\n" in moved


def alembic_config(project: Path, database: Path) -> Config:
    config = Config(str(project / "alembic.ini"))
    config.set_main_option("script_location", str(project / "migrations"))
    config.set_main_option("sqlalchemy.url", f"sqlite:///{database}")
    return config


def applied(database: Path) -> set[str]:
    with closing(sqlite3.connect(database)) as connection:
        return {row[0] for row in connection.execute("SELECT version_num FROM alembic_version")}


def test_a_database_of_the_old_history_upgrades_on_the_new_branches(tmp_path: Path) -> None:
    project = old_project(tmp_path / "project")
    database = tmp_path / "app.db"
    old = Config()
    old.set_main_option("script_location", str(project / "migrations"))
    old.set_main_option("sqlalchemy.url", f"sqlite:///{database}")
    command.upgrade(old, "head")
    assert applied(database) == {"2b3c4d5e6f70"}

    new_layout(project)
    split(project)
    config = alembic_config(project, database)
    command.upgrade(config, "heads")  # 0001 again would fail: its tables exist
    assert applied(database) == {"2b3c4d5e6f70"}

    # The next template release: a revision on the template's branch, which no owner revision is based on.
    (project / "migrations/versions/0002_add_flags.py").write_text(
        revision_file("0002", "'0001'", quote='"').replace("t_0002", "flags")
    )
    script = ScriptDirectory.from_config(config)
    heads = script.get_revisions(script.get_heads())
    assert sorted((head.revision, sorted(head.branch_labels)) for head in heads if head) == [
        ("0002", ["template"]),
        ("2b3c4d5e6f70", ["app"]),
    ], "one head per branch"
    command.upgrade(config, "heads")
    assert applied(database) == {"0002", "2b3c4d5e6f70"}, "one row per branch head"
    with closing(sqlite3.connect(database)) as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {"users", "t_1a2b3c4d5e6f", "t_2b3c4d5e6f70", "flags"} <= tables
