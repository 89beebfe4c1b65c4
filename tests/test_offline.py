"""T05: rendering needs no network, and the template's hooks use the standard library only."""

import ast
import socket
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import TEMPLATE, render


def test_t05_copy_works_without_network(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise OSError("network is off in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *args, **kwargs: refuse(None, args))  # type: ignore[arg-type]
    project = render(tmp_path / "offline", {"password_hasher": "scrypt"})

    assert (project / "pyproject.toml").is_file()
    assert attempts == []


def test_copy_needs_no_trust(tmp_path: Path) -> None:
    """No tasks, no migrations yet: users need not pass --trust (render() runs with unsafe=False)."""
    assert (render(tmp_path / "untrusted") / ".env").is_file()


def test_t05_hooks_use_the_standard_library_only() -> None:
    hooks = sorted((TEMPLATE / "hooks").glob("*.py"))
    assert hooks, "the migration hooks live in hooks/"
    for hook in hooks:
        for node in ast.walk(ast.parse(hook.read_text(), filename=str(hook))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                assert module.split(".")[0] in sys.stdlib_module_names, f"{hook.name} imports {module}"
