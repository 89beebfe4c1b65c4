"""The repository keeps its own promises: README's commands are what CI runs, and its own code is lint-clean."""

import re

from helpers import TEMPLATE, python, run


def _readme_commands() -> list[str]:
    block = re.search(r"```bash\n(.*?)```", (TEMPLATE / "README.md").read_text(), re.DOTALL)
    assert block is not None, "README.md starts with a bash block"
    return [line for line in block.group(1).splitlines() if line and not line.startswith("#")]


def test_readme_starts_with_render_and_test_commands() -> None:
    render, test = _readme_commands()
    assert "copier copy --defaults" in render
    assert "uvicorn my_service.main:app" in render
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    _, test = _readme_commands()
    assert test.split("&&", 1)[1].strip() in (TEMPLATE / ".ci/run").read_text()


def test_template_machinery_is_lint_clean() -> None:
    for check in (["ruff", "check", "--no-cache"], ["ruff", "format", "--check", "--no-cache"]):
        result = run(python("-m", *check, "tests", "hooks", "bench"), TEMPLATE)
        assert result.returncode == 0, result.stdout + result.stderr
