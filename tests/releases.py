"""Template releases rebuilt as throwaway tagged repositories, and the projects the update tests make from them.

A CI clone may carry no tags, and tags may never reach the shared repository, so update tests never read tags of
this clone: CHANGELOG.md names the commit of each release (`## v0.1.0 - 2026-11-29 (commit fc9ae1b)`), and
`release_repository` commits each one's tree in order and tags it, then commits this working tree (uncommitted
changes included) as the next version, exactly as a maintainer would release it.
"""

import io
import re
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import copier
from helpers import TEMPLATE, git, release
from packaging.version import Version

MARKER = re.compile(r"^(<{7}|>{7})( |$)", re.M)
RELEASE_HEADING = re.compile(r"^## v(?P<version>\d+\.\d+\.\d+) - .*\(commit (?P<commit>[0-9a-f]{7,40})\)", re.M)
UNRELEASED_HEADING = re.compile(r"^## v(?P<version>\d+\.\d+\.\d+) - unreleased", re.M)


def released() -> list[tuple[str, str]]:
    """(tag, commit) of every release CHANGELOG.md names, oldest first."""
    found = [(f"v{m['version']}", m["commit"]) for m in RELEASE_HEADING.finditer(changelog())]
    assert found, "CHANGELOG.md names at least one release and its commit"
    return sorted(found, key=lambda pair: Version(pair[0]))


def next_version() -> str:
    """The tag the working tree is released as: the unreleased heading, else a development version after the last."""
    unreleased = UNRELEASED_HEADING.search(changelog())
    if unreleased:
        return f"v{unreleased['version']}"
    last = Version(released()[-1][0])
    return f"v{last.major}.{last.minor}.{last.micro + 1}.dev0"


def changelog() -> str:
    return (TEMPLATE / "CHANGELOG.md").read_text()


def _replace_tree(repo: Path, files: dict[str, bytes]) -> None:
    for path in repo.iterdir():
        if path.name != ".git":
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    for name, content in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_bytes(content)


def _tree_of(commit: str) -> dict[str, bytes]:
    archive = subprocess.run(["git", "archive", commit], cwd=TEMPLATE, capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}  # type: ignore[union-attr]


def working_tree() -> dict[str, bytes]:
    """Tracked and new files of this checkout, not ignored ones."""
    listed = git(TEMPLATE, "ls-files", "--cached", "--others", "--exclude-standard", "-z").split("\0")
    return {name: (TEMPLATE / name).read_bytes() for name in listed if name and (TEMPLATE / name).is_file()}


def release_repository(repo: Path) -> list[str]:
    """Build the repository at `repo`; return its tags, oldest first, the working tree's last."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    tags = []
    for tag, commit in released():
        _replace_tree(repo, _tree_of(commit))
        release(repo, tag, f"rampart {tag}")
        tags.append(tag)
    _replace_tree(repo, working_tree())
    tags.append(next_version())
    release(repo, tags[-1], f"rampart {tags[-1]}")
    return tags


def release_and_working_tree(repo: Path, tag: str) -> str:
    """Build the repository at `repo` from release `tag` and this working tree after it; return the latter's tag."""
    commit = dict(released())[tag]
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _replace_tree(repo, _tree_of(commit))
    release(repo, tag, f"rampart {tag}")
    _replace_tree(repo, working_tree())
    newest = next_version()
    release(repo, newest, f"rampart {newest}")
    return newest


def working_tree_repository(repo: Path, tag: str) -> Path:
    """This working tree alone, as a fresh repository released as `tag`."""
    repo.mkdir(parents=True)
    git(repo, "init", "-q", "-b", "main")
    _replace_tree(repo, working_tree())
    release(repo, tag, f"rampart {tag}")
    return repo


def render_project(repo: Path, destination: Path, answers: dict[str, Any] | None = None, tag: str = "v1.0.0") -> Path:
    """A project rendered from a release and committed, as its owner starts."""
    copier.run_copy(str(repo), destination, data=answers or {}, defaults=True, vcs_ref=tag, quiet=True, unsafe=True)
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", f"rendered from rampart {tag}")
    return destination


def update(project: Path, version: str, **options: Any) -> None:
    """`copier update --trust --defaults` to `version`; `data=` changes answers on the way."""
    unsafe = options.pop("unsafe", True)
    copier.run_update(project, defaults=True, overwrite=True, vcs_ref=version, quiet=True, unsafe=unsafe, **options)


def leftovers(project: Path) -> list[str]:
    """Conflict markers in any file and .rej/.orig files: what an update leaves for a human to merge."""
    found = []
    for path in project.rglob("*"):
        if ".git" in path.parts or ".venv" in path.parts or not path.is_file():
            continue
        if path.suffix in {".rej", ".orig"}:
            found.append(str(path.relative_to(project)))
        elif path.suffix not in {".db", ".gz", ".pyc"} and MARKER.search(path.read_text(errors="replace")):
            found.append(f"conflict markers in {path.relative_to(project)}")
    return found
