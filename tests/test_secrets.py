"""T01, T02: copy-time secrets live only in the git-ignored .env, differ per render and carry 256 bits."""

import random
import re
import subprocess
from pathlib import Path

import yaml
from helpers import render

SECRET_LINE = re.compile(r"^(SECRET_KEY|PASSWORD_PEPPER)=(.*)$", re.MULTILINE)


def _secrets(project: Path) -> dict[str, str]:
    return dict(SECRET_LINE.findall((project / ".env").read_text()))


def _tracked_files(project: Path) -> list[Path]:
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    subprocess.run(["git", "add", "-A"], cwd=project, check=True)
    listed = subprocess.run(["git", "ls-files"], cwd=project, check=True, capture_output=True, text=True).stdout
    return [project / name for name in listed.splitlines()]


def test_t01_secrets_only_in_ignored_env(tmp_path: Path) -> None:
    project = render(tmp_path / "bcrypt", {"password_hasher": "bcrypt"})
    secrets = _secrets(project)
    assert set(secrets) == {"SECRET_KEY", "PASSWORD_PEPPER"}

    tracked = _tracked_files(project)
    assert project / ".env" not in tracked
    assert project / ".copier-answers.yml" in tracked
    for path in tracked:
        content = path.read_bytes()
        for value in secrets.values():
            assert value.encode() not in content, f"a secret is in tracked file {path.relative_to(project)}"

    answers = yaml.safe_load((project / ".copier-answers.yml").read_text())
    assert not {"secret_key", "password_pepper"} & set(answers)


def test_t01_every_hasher_gets_a_pepper_so_that_it_can_change_to_bcrypt(tmp_path: Path) -> None:
    """C12 on update needs no new secret: argon2 and scrypt projects get PASSWORD_PEPPER too, in the same places."""
    project = render(tmp_path / "argon2")
    assert set(_secrets(project)) == {"SECRET_KEY", "PASSWORD_PEPPER"}
    files = render(tmp_path / "files", {"secret_backend": "file", "password_hasher": "scrypt"})
    assert sorted(path.name for path in (files / "secrets").iterdir()) == ["PASSWORD_PEPPER", "SECRET_KEY"]


def test_t02_each_render_gets_new_256_bit_secrets(tmp_path: Path) -> None:
    values = []
    for name in ("one", "two"):
        random.seed(1234)  # a render must not depend on Python's seedable PRNG
        values.append(_secrets(render(tmp_path / name, {"password_hasher": "bcrypt"})))
    first, second = values

    for name in ("SECRET_KEY", "PASSWORD_PEPPER"):
        assert first[name] != second[name]
        assert re.fullmatch(r"[0-9a-f]{64}", first[name]), "64 hex digits = 256 bits"
    assert first["SECRET_KEY"] != first["PASSWORD_PEPPER"]


def test_t02_secret_bits_are_uniform(tmp_path: Path) -> None:
    """Many renders' keys together look like CSPRNG output: every hex digit about equally frequent."""
    digits = "".join(_secrets(render(tmp_path / f"r{i}"))["SECRET_KEY"] for i in range(8))
    counts = [digits.count(c) for c in "0123456789abcdef"]
    assert max(counts) < 3 * len(digits) / 16
