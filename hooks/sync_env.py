"""After every `copier update`: give the project's .env what its answers now need, keeping every value it has.

`.env` is in `_skip_if_exists`, so an update never renders it again; a changed answer (another database, secret
backend or rate-limit store) would leave it without the settings the new code reads. This step reads the
development settings the template's .env takes per answer (`template/.fragments/env/<choice>/settings/<value>.env`
of the version being installed) and merges them into `.env`:

Only the choices whose answer changed since the last commit are merged, with one exception: Redis's `app` user
in compose.yaml (ACCOUNT_PLACEHOLDERS) is added on every update when .env lacks it, since compose.yaml requires it
and Redis sets its users from the environment at every start. The database's owner and app roles are not: the
server makes them on its first start only, so on a volume with data they would name roles that do not exist, and
the app could no longer log in. Without them compose.yaml keeps the server's account, and this step says where the
README shows how to move over.

- A setting that is missing is appended, with its comment lines, under one header naming the answers that added it.
  Secrets are made here (`secrets.token_hex(32)`), never passed on a command line (Copier prints commands). A secret
  that the project already has is reused: from the `.env` line that holds it alone (`POSTGRES_PASSWORD`, ...), else
  from `secrets/<NAME>` (after secret_backend file -> env: a new PASSWORD_PEPPER would break every stored hash).
- A setting that is there keeps its value, except a DATABASE_URL for another database than the answer names: that
  one is replaced, and the old line is kept as a comment right above the new one.
- A setting that the new variant reads from elsewhere but that .env still sets (SECRET_KEY after env -> file: .env
  wins over the backend) stays, with a note. On env -> file the new `secrets/<NAME>` files get the values .env sets,
  so the service keeps its keys whichever of the two it reads. Settings of the old variant that nothing reads any
  more stay too (the service ignores unknown names).

When there is no .env at all, Copier has just rendered one from the new answers, so there is nothing to add. The
file ends up readable by its owner only (0600). Only setting names are printed, never a value. Running it again
changes nothing.

    sync_env.py TEMPLATE_DIR CHOICE=VALUE...   (run by Copier in the project's folder; see `_migrations`)

The choices are the answers the fragments are picked by (database, secret_backend, rate_limit_store) and the plain
answers they use (package_name, project_slug). Standard library only; no network.
"""

import os
import re
import secrets
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

FRAGMENTS = Path("template/.fragments/env")
ENV_FILE = Path(".env")
SECRETS_DIR = Path("secrets")
# Placeholders of the fragments that stand for a secret made at copy time (computed questions in copier.yml).
SECRET_PLACEHOLDERS = frozenset(
    {
        "secret_key",
        "password_pepper",
        "database_password",
        "database_owner_password",
        "database_app_password",
        "redis_password",
    }
)
# The passwords of accounts that compose.yaml's servers make at every start (copier.yml): a release may add them to
# an answer the project already had. Their settings, and each one's `_USER` beside its `_PASSWORD`, are added on
# every update. Not the database's roles: its server makes them on the first start only.
ACCOUNT_PLACEHOLDERS = frozenset({"redis_password"})
# The database roles compose.yaml logs in with when .env names them (else the server's account).
ROLE_SETTINGS = ("DATABASE_OWNER_USER", "DATABASE_OWNER_PASSWORD", "DATABASE_APP_USER", "DATABASE_APP_PASSWORD")
COMPOSE_FILE = Path("compose.yaml")
# The URL schemes (before any `+driver`) each `database` answer can use; another one is replaced.
DATABASE_SCHEMES = {"sqlite": {"sqlite"}, "postgresql": {"postgresql", "postgres"}, "mysql": {"mysql", "mariadb"}}
REPLACED = "# replaced by copier update: "

ASSIGNMENT = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$")
PLACEHOLDER = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")


def _say(message: str) -> None:
    print(f"sync_env: {message}", file=sys.stderr)


@dataclass
class Setting:
    """One line of a fragment, the comment lines right above it, and the placeholder it is made of alone."""

    name: str
    template: str  # the value as the fragment writes it, placeholders unfilled
    comments: list[str] = field(default_factory=list)

    @property
    def sole_placeholder(self) -> str | None:
        match = PLACEHOLDER.fullmatch(self.template.strip())
        return match.group(1) if match else None


@dataclass
class Block:
    """The settings one answer brings (`database: postgresql`), in the fragment's order."""

    choice: str
    value: str
    about: list[str]
    settings: list[Setting]


def read_fragment(path: Path) -> tuple[list[str], list[Setting]]:
    """A fragment's leading comment lines and its settings; anything but comments, settings and `{{ name }}` fails."""
    text = path.read_text(encoding="utf-8")
    if "{%" in text or "{#" in text:
        sys.exit(f"sync_env: {path} uses Jinja statements; fragments under {FRAGMENTS} may only use {{{{ name }}}}")
    leading: list[str] = []
    settings: list[Setting] = []
    pending: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        if line.lstrip().startswith("#"):
            pending.append(line)
            continue
        match = ASSIGNMENT.match(line)
        if match is None:
            sys.exit(f"sync_env: {path}: not a setting or a comment: {line.split('=', 1)[0]!r}")
        settings.append(Setting(match.group(1), match.group(2), pending))
        pending = []
    if not settings:
        leading, pending = pending, []
    return leading + pending, settings


def template_blocks(template: Path, answers: dict[str, str]) -> list[Block]:
    """The settings the answers pick, one block per choice folder of the fragments."""
    root = template / FRAGMENTS
    if not root.is_dir():
        sys.exit(f"sync_env: no {FRAGMENTS} in {template}")
    blocks = []
    for folder in sorted(path for path in root.iterdir() if path.is_dir()):
        choice = folder.name
        if choice not in answers:
            sys.exit(f"sync_env: the fragments choose by {choice}; pass {choice}=VALUE")
        value = answers[choice]
        settings_file = folder / "settings" / f"{value}.env"
        about_file = folder / "about" / f"{value}.env"
        about = read_fragment(about_file)[0] if about_file.is_file() else []
        settings = read_fragment(settings_file)[1] if settings_file.is_file() else []
        blocks.append(Block(choice, value, about, settings))
    return blocks


def account_block(block: Block) -> Block:
    """The settings of `block` that belong to an account compose.yaml makes: its password and its user name."""
    passwords = {s.name for s in block.settings if ACCOUNT_PLACEHOLDERS & set(PLACEHOLDER.findall(s.template))}
    names = passwords | {name.removesuffix("_PASSWORD") + "_USER" for name in passwords}
    return Block(block.choice, block.value, [], [setting for setting in block.settings if setting.name in names])


def parse_env(lines: list[str]) -> dict[str, int]:
    """Each setting's name and the index of its (last) line."""
    found = {}
    for index, line in enumerate(lines):
        match = ASSIGNMENT.match(line)
        if match is not None and not line.lstrip().startswith("#"):
            found[match.group(1)] = index
    return found


def _value(line: str) -> str:
    match = ASSIGNMENT.match(line)
    raw = match.group(2).strip() if match else ""
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    return raw


def _secret_file(name: str) -> str:
    path = SECRETS_DIR / name
    try:
        return path.read_text(encoding="utf-8").strip() if path.is_file() else ""
    except (OSError, UnicodeDecodeError):
        return ""


def _old_answers() -> dict[str, str]:
    """The answers as the last commit recorded them: Copier only updates a project whose answers are committed."""
    try:
        shown = subprocess.run(
            ["git", "show", "HEAD:.copier-answers.yml"], capture_output=True, text=True, check=False, timeout=30
        )
    except OSError:
        return {}
    found = re.findall(r"^([a-z_]+): *['\"]?([A-Za-z0-9_.-]+)", shown.stdout, re.MULTILINE)
    return dict(found) if shown.returncode == 0 else {}


def fill_secrets(blocks: list[Block], lines: list[str], present: dict[str, int]) -> tuple[dict[str, str], list[str]]:
    """A value for each secret placeholder: the project's own where it has one, else new. Also the names made new."""
    values: dict[str, str] = {}
    generated: list[str] = []
    for setting in (setting for block in blocks for setting in block.settings):
        placeholder = setting.sole_placeholder
        if placeholder not in SECRET_PLACEHOLDERS or placeholder in values:
            continue
        own = _value(lines[present[setting.name]]) if setting.name in present else ""
        values[placeholder] = own or _secret_file(setting.name)
    for block in blocks:
        for setting in block.settings:
            for placeholder in PLACEHOLDER.findall(setting.template):
                if placeholder in SECRET_PLACEHOLDERS and not values.get(placeholder):
                    values[placeholder] = secrets.token_hex(32)
                    if block.choice == "secret_backend":  # a new database account is expected to have a new password
                        generated.append(setting.name)
    return values, generated


def _fill(text: str, values: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            sys.exit(f"sync_env: a fragment uses {{{{ {name} }}}}; pass {name}=VALUE")
        return values[name]

    return PLACEHOLDER.sub(one, text)


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].split("+", 1)[0].lower() if "://" in url else ""


def merge(lines: list[str], blocks: list[Block], answers: dict[str, str]) -> tuple[list[str], list[str]]:
    """The new lines of .env and what to tell the owner."""
    present = parse_env(lines)
    secret_values, generated = fill_secrets(blocks, lines, present)
    values = {**answers, **secret_values}
    notes: list[str] = []
    lines = list(lines)

    database = answers.get("database")
    if "DATABASE_URL" in present and database is not None:
        index = present["DATABASE_URL"]
        if _scheme(_value(lines[index])) not in DATABASE_SCHEMES.get(database, {database}):
            wanted = next(
                (s for block in blocks for s in block.settings if s.name == "DATABASE_URL"), None
            )  # every database fragment has one
            if wanted is not None:
                lines[index : index + 1] = [REPLACED + lines[index], f"DATABASE_URL={_fill(wanted.template, values)}"]
                notes.append(
                    f"DATABASE_URL named another database than database={database}: replaced, the old line is "
                    "kept as a comment above it"
                )
                present = parse_env(lines)

    added: list[str] = []
    added_names: list[str] = []
    changes: list[str] = []
    roles = False
    for block in blocks:
        missing = [setting for setting in block.settings if setting.name not in present]
        if not missing:
            continue
        changes.append(f"{block.choice}={block.value}")
        if len(missing) == len(block.settings):
            added.extend(block.about)
        for setting in missing:
            added.extend(setting.comments)
            added.append(f"{setting.name}={_fill(setting.template, values)}")
            added_names.append(setting.name)
            roles = roles or setting.name in ROLE_SETTINGS
    if added:
        while lines and not lines[-1].strip():
            lines.pop()
        lines += ["", f"# Added by copier update for {', '.join(changes)}:", *added]
        notes.append(f"added {', '.join(added_names)}")
    made_here = [name for name in generated if name in added_names]
    if made_here:
        notes.append(
            f"made new values for {', '.join(made_here)}; if the service already has them elsewhere (secrets/, "
            "Vault, AWS), put those values here instead: another PASSWORD_PEPPER fails every stored password"
        )
    if roles:
        notes.append(
            "compose.yaml's database server makes the new roles on its first start only: one that has data already "
            'needs them made once before the app restarts (README.md, "Database roles", "Existing compose deployments")'
        )
    return lines, notes


def _write(path: Path, text: str) -> None:
    """Replace `path` atomically, readable by its owner only."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}-", text=True)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _backend_notes(
    blocks: list[Block], template: Path, lines: list[str], answers: dict[str, str], old: dict[str, str]
) -> list[str]:
    """Secrets that .env sets although the secret backend is elsewhere now; seed new secrets/ files on env -> file."""
    backend = answers.get("secret_backend")
    if backend in (None, "env"):
        return []
    env_fragment = template / FRAGMENTS / "secret_backend" / "settings" / "env.env"
    names = [setting.name for setting in read_fragment(env_fragment)[1]] if env_fragment.is_file() else []
    present = parse_env(lines)
    kept = [name for name in names if name in present and _value(lines[present[name]])]
    if not kept:
        return []
    notes = []
    if backend == "file" and old.get("secret_backend") == "env":
        seeded = []
        for name in kept:
            value = _value(lines[present[name]])
            if _secret_file(name) != value:
                SECRETS_DIR.mkdir(mode=0o700, exist_ok=True)
                _write(SECRETS_DIR / name, value + "\n")
                seeded.append(f"{SECRETS_DIR}/{name}")
        if seeded:
            notes.append(f"{', '.join(seeded)}: given the values .env sets, so the service keeps its keys")
    notes.append(
        f"{', '.join(kept)} still set here, and this wins over secret_backend={backend}; keep the lines, or move "
        "the values there and delete them"
    )
    return notes


def _role_notes(lines: list[str], answers: dict[str, str]) -> list[str]:
    """A compose project on a database server whose .env names no roles: where the README shows how to make them."""
    if answers.get("database") in (None, "sqlite") or not COMPOSE_FILE.is_file():
        return []
    present = parse_env(lines)
    missing = [name for name in ROLE_SETTINGS if name not in present or not _value(lines[present[name]])]
    if not missing:
        return []
    return [
        f"no {', '.join(missing)}: compose.yaml's app and migrate keep the database server's account; to give them "
        'roles of their own, see README.md "Database roles", "Existing compose deployments"'
    ]


def main(template: Path, answers: dict[str, str]) -> int:
    # The answers that changed, whole; of the others only Redis's account. A plain update adds nothing
    # else, even when a release's fragments gained a setting an unchanged answer does not need (PASSWORD_PEPPER of a
    # 0.1.0 argon2 project, say: a new one would fail every stored hash).
    old = _old_answers()
    blocks = [
        block if old.get(block.choice) != block.value else account_block(block)
        for block in template_blocks(template, answers)
    ]
    if not ENV_FILE.is_file():
        _say(f"no {ENV_FILE}; nothing to merge (`copier update` renders a missing one from the answers)")
        return 0
    before = ENV_FILE.read_text(encoding="utf-8")
    lines, notes = merge(before.splitlines(), blocks, answers)
    notes += _backend_notes(blocks, template, lines, answers, old)
    notes += _role_notes(lines, answers)
    after = "\n".join(lines) + "\n" if lines else ""
    loose = ENV_FILE.stat().st_mode & 0o077
    if after != before or loose:
        _write(ENV_FILE, after)
        if loose:
            notes.append("made readable by you only (0600)")
    for note in notes:
        _say(note if note.startswith(f"{SECRETS_DIR}/") else f"{ENV_FILE}: {note}")
    return 0


def parse_arguments(argv: list[str]) -> tuple[Path, dict[str, str]]:
    if len(argv) < 1 or not all(re.fullmatch(r"[a-z_][a-z0-9_]*=.*", arg) for arg in argv[1:]):
        sys.exit(__doc__)
    return Path(argv[0]), dict(arg.split("=", 1) for arg in argv[1:])


if __name__ == "__main__":
    sys.exit(main(*parse_arguments(sys.argv[1:])))
