"""The body of a 422: each error's `type`, a `loc` of declared names only, and a fixed `msg`; never the input.

Pydantic's own errors carry text taken from the request: `input` is the submitted value, `loc` ends with the
attacker's key when a body has an unknown field (`extra_forbidden`), and some messages quote the input
(email-validator names the characters, or the bracketed domain, it refused). Here:

- `msg` is a fixed text per error type: pydantic's template filled in only from the schema (lengths, bounds,
  expected values), or a message of our own where pydantic's would quote the input;
- `loc` keeps its source (`body`, `query`, ...), list positions, and names the API declares (the properties and
  parameters of the OpenAPI document), up to the first element that is none of these; an unknown field's key is
  dropped, so `loc` is `["body"]` and `msg` says that the body has an unknown field.
"""

from collections.abc import Iterator, Sequence
from typing import Any

from fastapi import FastAPI
from pydantic_core import PydanticKnownError

GENERIC_MESSAGE = "Input is not valid."
EMAIL_MESSAGE = "value is not a valid email address"

# Context that comes from the schema, never from the request: a template filled from these alone quotes no input.
_SCHEMA_CONTEXT = frozenset(
    {
        "min_length",
        "max_length",
        "gt",
        "ge",
        "lt",
        "le",
        "multiple_of",
        "max_digits",
        "decimal_places",
        "whole_digits",
        "expected",
        "pattern",
        "field_type",
        "class_name",
    }
)
# Types whose pydantic message takes input-derived context (a parser's complaint, a count, a tag): a fixed one.
_MESSAGES = {
    "value_error": "Value is not valid.",
    "assertion_error": "Value is not valid.",
    "json_invalid": "JSON decode error",
    "uuid_parsing": "Input should be a valid UUID.",
    "uuid_type": "Input should be a valid UUID.",
    "datetime_parsing": "Input should be a valid datetime.",
    "datetime_from_date_parsing": "Input should be a valid datetime.",
    "date_parsing": "Input should be a valid date.",
    "date_from_datetime_parsing": "Input should be a valid date.",
    "time_parsing": "Input should be a valid time.",
    "time_delta_parsing": "Input should be a valid duration.",
    "url_parsing": "Input should be a valid URL.",
    "too_long": "Input has too many items.",
    "too_short": "Input has too few items.",
    "union_tag_invalid": "Input does not match any of the expected kinds.",
}
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})
_PARAMETER_PLACES = frozenset({"query", "path", "header", "cookie"})
# What formatting a message of an error type pydantic does not know raises.
_NOT_PYDANTICS = (KeyError, TypeError, ValueError)


def safe_errors(app: FastAPI, errors: Sequence[Any]) -> list[dict[str, Any]]:
    """The errors of a RequestValidationError as a client may see them."""
    declared = _declared_names(app)
    return [_safe_error(error, declared) for error in errors]


def _safe_error(error: dict[str, Any], declared: frozenset[str]) -> dict[str, Any]:
    error_type = str(error.get("type", "value_error"))
    loc = list(error.get("loc", ()))
    if error_type == "extra_forbidden" and loc:
        loc.pop()  # the unknown key itself: the attacker chose it
        source = loc[0] if loc and loc[0] in _SOURCES else "request"
        return {"type": error_type, "loc": _safe_loc(loc, declared), "msg": f"The {source} has an unknown field."}
    return {"type": error_type, "loc": _safe_loc(loc, declared), "msg": _message(error_type, error)}


def _safe_loc(loc: list[Any], declared: frozenset[str]) -> list[str | int]:
    safe: list[str | int] = []
    for position, part in enumerate(loc):
        if (position == 0 and part in _SOURCES) or (position > 0 and (type(part) is int or part in declared)):
            safe.append(part)
        else:
            break
    return safe


def _message(error_type: str, error: dict[str, Any]) -> str:
    if error_type == "value_error" and str(error.get("msg", "")).startswith(EMAIL_MESSAGE):
        return EMAIL_MESSAGE
    if error_type in _MESSAGES:
        return _MESSAGES[error_type]
    context = error.get("ctx") or {}
    if not set(context) <= _SCHEMA_CONTEXT:
        return GENERIC_MESSAGE
    try:
        return PydanticKnownError(error_type, context or None).message()  # type: ignore[arg-type]
    except _NOT_PYDANTICS:  # a custom error type: its text is its author's, maybe with input
        return GENERIC_MESSAGE


def _declared_names(app: FastAPI) -> frozenset[str]:
    """Every property and parameter name of the API, read once from its OpenAPI document (also when not served)."""
    names: frozenset[str] | None = getattr(app.state, "declared_names", None)
    if names is None:
        try:
            names = frozenset(_names_in(app.openapi()))
        except Exception:  # noqa: BLE001  (an unrenderable schema must not turn a 422 into a 500)
            names = frozenset()
        app.state.declared_names = names
    return names


def _names_in(node: object) -> Iterator[str]:
    if isinstance(node, dict):
        properties = node.get("properties")
        if isinstance(properties, dict):
            yield from (name for name in properties if isinstance(name, str))
        if node.get("in") in _PARAMETER_PLACES and isinstance(node.get("name"), str):
            yield node["name"]
        for value in node.values():
            yield from _names_in(value)
    elif isinstance(node, list):
        for value in node:
            yield from _names_in(value)
