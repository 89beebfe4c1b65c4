"""Before an update crosses 0.2.0: keep every edit an owner made to a file that the 0.2.0 layout moved.

Copier deletes each file that the new template no longer renders, edited or not. So, before it does, this step
compares every moved file the project still has with what the old version rendered, and copies an edited one to
`<file>.orig`. The project's pre-commit hook and CI refuse `.orig` files, so the edit cannot be lost or forgotten:
move it to the new place (printed here, and in CHANGELOG.md under "Moved"), then delete the `.orig`.

    keep_moved_edits.py VERSION_FROM TEMPLATE_DIR   (run by Copier in the project's folder)

Standard library and git only; running it again changes nothing.
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

# Paths inside src/<package>/ in 0.1.0, and where their code is in 0.2.0.
MOVED = {
    "core/config.py": "settings/ (__init__.py, base.py, database.py, rate_limit_store.py, secret_backend.py)",
    "core/deploy_checks.py": "settings/deploy_checks.py and the checks of each part of settings/",
    "core/secret_sources.py": "settings/secret_backend.py, settings/secret_source.py",
    "core/tokens.py": "security/tokens.py",
    "core/passwords.py": "security/passwords.py, security/hashers.py",
    "core/password_policy.py": "security/password_policy.py",
    "core/session_store.py": "security/sessions.py",
    "core/rate_limit.py": "security/rate_limit.py, security/rate_limit_store.py",
    "core/audit.py": "observability/audit.py",
    "core/logging.py": "observability/logging.py",
    "core/request_context.py": "observability/request_id.py",
    "db.py": "db/engine.py, db/session.py",
    "middleware/request_context.py": "middleware/request_id.py, middleware/error_boundary.py",
}


def _git(cwd: Path, *args: str) -> bytes | None:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False)
    return result.stdout if result.returncode == 0 else None


def _package(project: Path) -> str:
    answers = (project / ".copier-answers.yml").read_text(encoding="utf-8")
    match = re.search(r"^package_name: *['\"]?([a-z][a-z0-9_]*)", answers, re.MULTILINE)
    if match is None:
        sys.exit("keep_moved_edits: no package_name in .copier-answers.yml")
    return match.group(1)


def _as_rendered(project: Path, template: Path, version: str, relative: str, rendered: str) -> bytes | None:
    """What the old version wrote at `rendered`, or None when that cannot be known here."""
    source = _git(template, "show", f"{version}:template/src/{{{{ package_name }}}}/{relative}")
    if source is not None:
        return source  # a file the template copies as it is
    # A file rendered from Jinja: the project's own history holds it as the last update (or the copy) left it.
    last_update = _git(project, "log", "-1", "--format=%H", "--", ".copier-answers.yml")
    if not last_update:
        return None
    return _git(project, "show", f"{last_update.decode().strip()}:{rendered}")


def main(version_from: str, template: Path) -> int:
    project = Path.cwd()
    package = _package(project)
    kept = []
    for relative, destination in MOVED.items():
        rendered = f"src/{package}/{relative}"
        current = project / rendered
        if not current.is_file():
            continue
        content = current.read_bytes()
        if content == _as_rendered(project, template, version_from, relative, rendered):
            continue  # unedited: Copier may delete it
        parked = current.with_name(current.name + ".orig")
        if not parked.exists() or parked.read_bytes() != content:
            shutil.copy2(current, parked)
        kept.append(f"  {parked.relative_to(project)}: its code is now in {destination}")
    if kept:
        print("0.2.0 moved files you had edited; your versions are kept beside them as .orig files:", *kept, sep="\n")
        print("Move your edits to the new files (CHANGELOG.md, 'Moved'), then delete the .orig files.")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1], Path(sys.argv[2])))
