"""Fail on what a conflicting merge or `copier update` leaves behind: conflict markers, `.rej` and `.orig` files.

`copier update` writes its conflict markers without starting a git merge, so git does not stop a commit of them,
and a change it cannot place at all goes to a `.rej` file beside its target. pre-commit and CI run this script
before anything else. It needs the standard library only, so it runs even when a conflict has broken
pyproject.toml or uv.lock and no environment can be installed.

It checks the current directory (run it from the project root): in a git work tree, the tracked files and the
untracked ones that are not git-ignored; outside one (an exported tree, an unpacked archive), every file below,
except in `.git`, virtualenvs and tool caches. Files with a NUL byte in their first 8 KiB are binary and skipped.

Exit status 0, with no output, when nothing is found; 1 with one line per finding:
`path:line: conflict marker`, or `path: leftover of a conflicting update; ...`.
"""

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

# Built from parts, so that this file holds none of the markers it looks for.
OURS = b"<" * 7
SEPARATOR = b"=" * 7
THEIRS = b">" * 7
LEFTOVER_SUFFIXES = (".rej", ".orig")
BINARY_PROBE_BYTES = 8192
SKIPPED_DIRECTORIES = frozenset(
    {".git", ".venv", "venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "htmlcov", "build", "dist"}
)


def is_marker(line: bytes, marker: bytes) -> bool:
    """`marker` alone on the line or followed by a space, as git and Copier write it."""
    rest = line[len(marker) :]
    return line.startswith(marker) and (rest == b"" or rest.startswith(b" "))


def marker_lines(text: bytes) -> Iterator[int]:
    """Line numbers of the markers; a separator counts only inside a block, so a setext heading is no marker."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        if is_marker(line, OURS):
            inside = True
            yield number
        elif is_marker(line, THEIRS):
            inside = False
            yield number
        elif inside and line.rstrip() == SEPARATOR:
            yield number


def git_files() -> list[Path] | None:
    """The tracked and the untracked, not ignored files; None outside a git work tree or without git."""
    command = ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"]
    try:
        result = subprocess.run(command, capture_output=True, check=False)  # noqa: S603  (fixed arguments)
    except OSError:
        return None
    if result.returncode != 0:
        return None
    return [Path(os.fsdecode(name)) for name in result.stdout.split(b"\0") if name]


def walked_files() -> list[Path]:
    files: list[Path] = []
    for directory, subdirectories, names in os.walk("."):
        subdirectories[:] = [
            name for name in subdirectories if name not in SKIPPED_DIRECTORIES and not name.endswith(".egg-info")
        ]
        files.extend(Path(directory, name) for name in names)
    return files


def findings(paths: list[Path]) -> Iterator[str]:
    for path in sorted(set(paths)):
        if path.is_symlink() or not path.is_file():
            continue  # a symlink, a submodule, or a tracked file deleted from the tree
        if path.name.endswith(LEFTOVER_SUFFIXES):
            yield f"{path}: leftover of a conflicting update; merge its change by hand, then delete it"
            continue
        text = path.read_bytes()
        if b"\0" in text[:BINARY_PROBE_BYTES]:
            continue
        for number in marker_lines(text):
            yield f"{path}:{number}: conflict marker"


def main() -> int:
    paths = git_files()
    found = list(findings(walked_files() if paths is None else paths))
    for line in found:
        print(line)
    if found:
        print(
            "Resolve each conflict by hand (README.md, 'Updating from the template'), then run this again.",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
