"""The variant matrix really covers what it claims: every value of every choice, every pair of the four axes."""

import itertools
from typing import Any

import yaml
from helpers import TEMPLATE
from variants import PAIRWISE, SUITE_VARIANTS, VARIANTS

AXES = ("database", "secret_backend", "rate_limit_store", "password_hasher")


def _questions() -> dict[str, Any]:
    config = yaml.safe_load((TEMPLATE / "copier.yml").read_text())
    return {name: spec for name, spec in config.items() if not name.startswith("_") and isinstance(spec, dict)}


def _choices(spec: dict[str, Any]) -> list[Any]:
    choices = spec.get("choices")
    if choices is None and spec.get("type") == "bool":
        return [True, False]
    return list(choices.values()) if isinstance(choices, dict) else list(choices or [])


def _answers(variant: dict[str, Any]) -> dict[str, Any]:
    questions = _questions()
    return {name: variant.get(name, spec.get("default")) for name, spec in questions.items()}


def test_every_value_of_every_choice_is_rendered_and_tested() -> None:
    """Every value is rendered, and its project's own suite runs in at least one variant."""
    for names in (list(VARIANTS), SUITE_VARIANTS):
        rendered = [_answers(VARIANTS[name]) for name in names]
        for name, spec in _questions().items():
            for value in _choices(spec):
                assert any(answers[name] == value for answers in rendered), f"{name}={value!r} missing from {names}"


def test_pairwise_rows_cover_every_pair_of_axes() -> None:
    """Every pair of values of two axes is a variant whose own suite runs."""
    questions = _questions()
    rows = [_answers(VARIANTS[name]) for name in SUITE_VARIANTS]
    for first, second in itertools.combinations(AXES, 2):
        for pair in itertools.product(_choices(questions[first]), _choices(questions[second])):
            assert any((row[first], row[second]) == pair for row in rows), f"{first}, {second} = {pair} not covered"


def test_matrix_has_defaults_and_all_services() -> None:
    assert VARIANTS["default"] == {}
    services = VARIANTS["all-services"]
    assert services["database"] != "sqlite"
    assert services["secret_backend"] not in {"env", "file"}
    assert services["rate_limit_store"] == "redis"
    assert len(PAIRWISE) == 12
