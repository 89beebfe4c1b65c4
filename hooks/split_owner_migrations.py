"""After an update crosses 0.2.0: move the owner's Alembic revisions to their own branch, in migrations/app/.

0.1.0 kept every revision in migrations/versions/ on one line of history, so a template revision released after
one of the owner's gave the line two heads. 0.2.0 keeps the template's revisions there, on the branch `template`,
and the owner's in migrations/app/, on the branch `app`, which starts at the revision `app_root` (rendered by this
update). This step moves every revision in migrations/versions/ that the template does not ship to migrations/app/,
and bases each one that was based on a template revision (0001) on `app_root` instead.

A database needs nothing: `app_root` depends on 0001 and changes nothing, so a database whose alembic_version names
one of the moved revisions already counts 0001 and `app_root` as applied, and `alembic upgrade heads` runs only what
is new.

    split_owner_migrations.py TEMPLATE_DIR   (run by Copier in the project's folder)

Standard library only; running it again changes nothing. Says what it moved on stderr.
"""

import ast
import sys
from pathlib import Path

TEMPLATE_REVISIONS = Path("migrations/versions")
OWNER_REVISIONS = Path("migrations/app")
APP_ROOT = "app_root"  # the revision id of migrations/app/app_root.py


def _assignment(tree: ast.Module, name: str) -> ast.expr | None:
    """The value assigned to `name` at module level (`name = ...` or `name: type = ...`)."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name:
            return node.value
    return None


def _revision_id(source: bytes) -> str | None:
    """The revision id of an Alembic revision file, or None for any other file."""
    try:
        value = _assignment(ast.parse(source), "revision")
        revision = ast.literal_eval(value) if value is not None else None
    except (SyntaxError, ValueError):
        return None
    return revision if isinstance(revision, str) else None


def _template_revisions(template: Path) -> tuple[set[str], set[str]]:
    """File names and revision ids of the template's own revisions."""
    folder = template / "template" / TEMPLATE_REVISIONS
    names = {path.name for path in folder.glob("*.py")}
    ids = {revision for path in folder.glob("*.py") if (revision := _revision_id(path.read_bytes())) is not None}
    return names, ids


def _reparented(source: bytes, template_ids: set[str]) -> tuple[bytes, list[str]]:
    """The revision with every template revision in its down_revision replaced by `app_root`, and the old parents."""
    tree = ast.parse(source)
    value = _assignment(tree, "down_revision")
    if value is None or value.end_lineno is None or value.end_col_offset is None:
        return source, []
    try:
        parents = ast.literal_eval(value)
    except ValueError:
        return source, []  # not written by Alembic: moved as it is
    old = [parents] if isinstance(parents, str) else list(parents or ())
    if not set(old) & template_ids:
        return source, old
    new = list(dict.fromkeys(APP_ROOT if parent in template_ids else parent for parent in old))
    lines = source.splitlines(keepends=True)
    spelled = b"".join(lines[value.lineno - 1 : value.end_lineno])
    quote = "'" if b"'" in spelled and b'"' not in spelled else '"'
    text = ", ".join(f"{quote}{parent}{quote}" for parent in new)
    replacement = (text if len(new) == 1 else f"({text})").encode()
    # Byte offsets, as ast gives them: the value may span lines (a tuple that ruff wrapped).
    first, last = lines[value.lineno - 1], lines[value.end_lineno - 1]
    lines[value.lineno - 1 : value.end_lineno] = [
        first[: value.col_offset] + replacement + last[value.end_col_offset :]
    ]
    return _with_revises_line(b"".join(lines), tree, ", ".join(new)), old


def _with_revises_line(source: bytes, tree: ast.Module, parents: str) -> bytes:
    """The `Revises:` line of the module docstring, which Alembic writes, naming the new parents."""
    docstring = tree.body[0] if tree.body and isinstance(tree.body[0], ast.Expr) else None
    if docstring is None or docstring.end_lineno is None:
        return source
    lines = source.splitlines(keepends=True)
    for number in range(docstring.lineno - 1, docstring.end_lineno):
        if lines[number].startswith(b"Revises:"):
            ending = lines[number][len(lines[number].rstrip(b"\r\n")) :]
            lines[number] = f"Revises: {parents}".encode() + ending
            break
    return b"".join(lines)


def main(template: Path) -> int:
    template_names, template_ids = _template_revisions(template)
    if not template_ids:
        sys.exit(f"split_owner_migrations: no revisions in {template / 'template' / TEMPLATE_REVISIONS}")
    moved, refused = [], []
    for path in sorted(TEMPLATE_REVISIONS.glob("*.py")):
        source = path.read_bytes()
        revision = _revision_id(source)
        if path.name in template_names or revision is None or revision in template_ids:
            continue  # the template's, or not a revision
        content, parents = _reparented(source, template_ids)
        destination = OWNER_REVISIONS / path.name
        if destination.exists() and destination.read_bytes() != content:
            refused.append(f"  {path}: {destination} exists and differs; move it yourself")
            continue
        OWNER_REVISIONS.mkdir(parents=True, exist_ok=True)
        destination.write_bytes(content)
        path.unlink()
        based = f", now based on {APP_ROOT} (was {', '.join(parents)})" if content != source else ""
        moved.append(f"  {path} -> {destination}{based}")
    if moved:
        print(
            "0.2.0 keeps your Alembic revisions in migrations/app/, on the branch `app` (README.md, your migrations):",
            *moved,
            "A database needs no change: `alembic upgrade heads` runs only what is new.",
            sep="\n",
            file=sys.stderr,
        )
    if refused:
        print("split_owner_migrations: not moved:", *refused, sep="\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    sys.exit(main(Path(sys.argv[1])))
