"""T07 for the 0.2.0 layout: an owner's edit to a file that 0.2.0 moved is kept and shown, never lost silently.

Copier deletes files the new template no longer has, edited or not; `hooks/keep_moved_edits.py` runs before it does
(a `_migrations` step) and keeps each edited one as `<file>.orig`, which the project's checks refuse. The releases
are commits of this repository, named in CHANGELOG.md; a throwaway repository tags them (releases.py), so nothing
here depends on tags in this clone.
"""

from pathlib import Path

import copier
import pytest
from helpers import git
from releases import release_repository, render_project

PACKAGE = Path("src/my_service")
EDITS = {
    "core/tokens.py": ("MAX_TOKEN_LENGTH = 4096", "MAX_TOKEN_LENGTH = 1024"),  # copied as it is by 0.1.0
    "core/config.py": ('log_level: str = "INFO"', 'log_level: str = "WARNING"'),  # rendered from Jinja by 0.1.0
}
UNEDITED = ("core/audit.py", "core/session_store.py", "db.py", "middleware/request_context.py")


@pytest.fixture(scope="module")
def releases(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Every release CHANGELOG.md names, then this working tree; returns the repository and the newest tag."""
    repo = tmp_path_factory.mktemp("releases") / "template"
    return repo, release_repository(repo)[-1]


def test_t07_edits_to_files_the_layout_moved_are_kept_visibly(releases: tuple[Path, str], tmp_path: Path) -> None:
    repo, newest = releases
    project = render_project(repo, tmp_path / "project", tag="v0.1.0")
    for name, (old, new) in EDITS.items():
        path = project / PACKAGE / name
        path.write_text(path.read_text().replace(old, new, 1))
    git(project, "commit", "-q", "-am", "our changes")

    copier.run_update(project, defaults=True, overwrite=True, vcs_ref=newest, quiet=True, unsafe=True)

    pkg = project / PACKAGE
    assert (pkg / "security/tokens.py").is_file() and (pkg / "settings/base.py").is_file(), "the new layout arrived"
    for name, (_old, new) in EDITS.items():
        assert not (pkg / name).exists(), f"{name} moved"
        kept = pkg / f"{name}.orig"
        assert new in kept.read_text(), f"the owner's edit of {name} is kept in {kept.name}"
        assert f"{PACKAGE / name}.orig" in git(project, "status", "--porcelain", "--untracked-files=all")
    leftovers = sorted(str(path.relative_to(pkg)) for path in pkg.rglob("*.orig"))
    assert leftovers == sorted(f"{name}.orig" for name in EDITS), "unedited files are not flagged"
    assert not any((pkg / name).exists() for name in UNEDITED)
