"""Rename a setting in the project's .env during `copier update`, keeping its value (a `_migrations` step).

Usage: python rename_env_setting.py OLD_NAME NEW_NAME [ENV_FILE]

Idempotent: with OLD_NAME absent nothing changes; with both present NEW_NAME wins and OLD_NAME is removed. Comments,
order, other lines and the file's permissions are kept; the file is replaced atomically. Values are never printed.
Standard library only, no network.
"""

import os
import re
import sys
import tempfile
from pathlib import Path

NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


def _assignment(name: str) -> re.Pattern[str]:
    return re.compile(rf"^(\s*(?:export\s+)?){re.escape(name)}(?=\s*=)")


def rename(text: str, old: str, new: str) -> str:
    lines = text.splitlines(keepends=True)
    has_new = any(_assignment(new).match(line) for line in lines)
    old_assignment = _assignment(old)
    result = []
    for line in lines:
        match = old_assignment.match(line)
        if match is None:
            result.append(line)
        elif not has_new:
            result.append(match.group(1) + new + line[match.end() :])
    return "".join(result)


def main(argv: list[str]) -> int:
    if len(argv) not in (2, 3) or not all(NAME.match(name) for name in argv[:2]):
        print(__doc__, file=sys.stderr)
        return 2
    old, new = argv[0], argv[1]
    path = Path(argv[2] if len(argv) == 3 else ".env")
    if not path.is_file():
        print(f"rename_env_setting: {path} not found; nothing to rename")
        return 0
    before = path.read_text(encoding="utf-8")
    after = rename(before, old, new)
    if after == before:
        print(f"rename_env_setting: {old} not in {path}; nothing to do")
        return 0
    mode = path.stat().st_mode
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".env-", text=True)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(after)
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    print(f"rename_env_setting: renamed {old} to {new} in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
