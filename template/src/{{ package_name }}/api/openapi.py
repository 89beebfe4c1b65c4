"""The OpenAPI document, completed with what FastAPI cannot see in a route's signature (H10).

Statuses of the layers around every route, added to each operation they apply to:

- 400: a Host header this service does not serve (middleware/trusted_host.py), or a body that cannot be parsed;
- 503: the database, or the rate-limit store of a route that counts attempts, cannot be reached now;
- 413 for an operation with a body (middleware/body_limit.py); 422, in the shape api/validation_errors.py gives
  it, for one with parameters or a body; 401 with `WWW-Authenticate` for one that takes a token.

Constraints that are enforced outside the models' JSON Schema:

- a new password is at least PASSWORD_MIN_LENGTH characters: a setting, so the document is built from it;
- a required form field cannot be empty: FastAPI reads an empty form value as a missing one;
- a string marked `NoNul` (schemas.py) cannot hold NUL: a pattern says so;
- an email address cannot be at a special-use domain (`.test`, `.localhost`, ...), which email-validator refuses.

The template's own tests run schemathesis (`--checks all`) against a development render to hold the app to it.
"""

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Annotated, Any, get_args, get_origin

import fastapi.routing
from email_validator import SPECIAL_USE_DOMAIN_NAMES
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel

from ..schemas import NoNul, PasswordChangeIn, RegisterIn
from ..security.password_policy import MAX_PASSWORD_LENGTH
from .responses import ERRORS, ErrorBody, ValidationErrorBody

REF = "#/components/schemas/"
NO_NUL_PATTERN = r"^[^\x00]*$"
# Not at one of these domains or under them, in any case: email-validator's refusal, as a pattern that both
# JSON Schema's regular expressions and Python's read alike.
_SPECIAL_USE = "|".join(
    "".join(f"[{c}{c.upper()}]" if c.isalpha() else c for c in name) for name in SPECIAL_USE_DOMAIN_NAMES
)
NOT_SPECIAL_USE_PATTERN = rf"^(?!.*[@.](?:{_SPECIAL_USE})$)"
FORM_MEDIA_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
# The fields the password policy checks (services/accounts.py); its refusals are 422s of `type` `policy`.
NEW_PASSWORDS: tuple[tuple[type[BaseModel], str], ...] = ((RegisterIn, "password"), (PasswordChangeIn, "new_password"))


def install_openapi(app: FastAPI, password_min_length: int) -> None:
    """Make `app.openapi()`, which /openapi.json serves, return the completed document (built on first use)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        built = app.openapi_schema is not None
        schema: dict[str, Any] = generate()  # FastAPI's, kept in `app.openapi_schema` once built
        if not built:
            complete(schema, app, password_min_length)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def complete(schema: dict[str, Any], app: FastAPI, password_min_length: int) -> None:
    components: dict[str, Any] = schema.setdefault("components", {}).setdefault("schemas", {})
    models: tuple[type[BaseModel], ...] = (ErrorBody, ValidationErrorBody)
    for model in models:
        definition = model.model_json_schema(ref_template=REF + "{model}")
        components.update(definition.pop("$defs", {}))
        components.setdefault(model.__name__, definition)
    for operation in _operations(schema):
        _declare_layer_statuses(operation)
    _drop_unreferenced(schema, ("HTTPValidationError", "ValidationError"))
    for route, operation in _routes_with_operations(app, schema):
        _state_field_constraints(schema, route, operation)
    for model, field in NEW_PASSWORDS:
        new_password = _component(components, model)["properties"][field]
        new_password["minLength"] = password_min_length
        new_password["description"] = (
            f"At least PASSWORD_MIN_LENGTH ({password_min_length}) and at most {MAX_PASSWORD_LENGTH} characters, "
            "counted after Unicode NFC normalisation. Refused with a 422 of type `policy` when it is common or "
            "breached, easy to guess, or made of the account's email or the service's name."
        )


def _response(status: int) -> dict[str, Any]:
    model = ValidationErrorBody if status == 422 else ErrorBody
    declared = {key: value for key, value in ERRORS[status].items() if key != "model"}
    return {**declared, "content": {"application/json": {"schema": {"$ref": REF + model.__name__}}}}


def _declare_layer_statuses(operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    layers = [400, 503]
    if "requestBody" in operation:
        layers.append(413)
    if operation.get("security"):
        layers.append(401)
    for status in layers:
        responses.setdefault(str(status), _response(status))
    validation = responses.get("422")
    if (operation.get("parameters") or "requestBody" in operation) and (
        validation is None or "HTTPValidationError" in str(validation)
    ):
        responses["422"] = _response(422)
    operation["responses"] = dict(sorted(responses.items()))


def _operations(schema: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method in {"get", "put", "post", "patch", "delete"}:
                yield operation


def _drop_unreferenced(schema: dict[str, Any], names: Iterable[str]) -> None:
    """FastAPI's own 422 schemas, once no operation uses them."""
    components = schema["components"]["schemas"]
    for name in names:
        if name in components:
            definition = components.pop(name)
            if json.dumps(f"{REF}{name}") in json.dumps(schema):
                components[name] = definition


def _component(components: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    for name in (model.__name__, f"{model.__name__}-Input"):
        if name in components:
            component: dict[str, Any] = components[name]
            return component
    msg = f"the OpenAPI document has no schema for {model.__name__}"
    raise LookupError(msg)


def _routes_with_operations(app: FastAPI, schema: dict[str, Any]) -> Iterator[tuple[APIRoute, dict[str, Any]]]:
    """Each API route of the document, with its operation; included routers however this FastAPI keeps them."""
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    for entry in contexts(app.routes) if contexts else app.routes:
        route = getattr(entry, "original_route", entry)
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        path = getattr(entry, "path_format", None) or route.path_format
        for method in route.methods or ():
            operation = schema["paths"].get(path, {}).get(method.lower())
            if operation is not None:
                yield route, operation


def _state_field_constraints(schema: dict[str, Any], route: APIRoute, operation: dict[str, Any]) -> None:
    for media_type, content in operation.get("requestBody", {}).get("content", {}).items():
        body = _resolve(schema, content.get("schema", {}))
        properties: dict[str, Any] = body.get("properties", {})
        for name, annotation, metadata in _body_fields(route):
            field = properties.get(name)
            if field is None:
                continue
            if _marked(annotation, metadata):
                _on_strings(field, lambda string: string.setdefault("pattern", NO_NUL_PATTERN))
            _on_strings(field, _state_email_domain)
            if media_type in FORM_MEDIA_TYPES and name in body.get("required", ()):
                _on_strings(field, lambda string: string.update(minLength=max(string.get("minLength", 0), 1)))


def _body_fields(route: APIRoute) -> Iterator[tuple[str, Any, list[Any]]]:
    """(name in the body, annotation, metadata) of each field of the route's body: one model's, or form fields'."""
    params = route.dependant.body_params
    models = [_model(param.field_info.annotation) for param in params]
    if len(params) == 1 and models[0] is not None:
        for name, info in models[0].model_fields.items():
            yield info.alias or name, info.annotation, info.metadata
        return
    for param in params:
        yield param.alias, param.field_info.annotation, param.field_info.metadata


def _model(annotation: Any) -> type[BaseModel] | None:
    """The model of a body annotated `Model` or `Model | None`."""
    candidates = [argument for argument in get_args(annotation) if argument is not type(None)] or [annotation]
    if len(candidates) == 1 and isinstance(candidates[0], type) and issubclass(candidates[0], BaseModel):
        return candidates[0]
    return None


def _marked(annotation: Any, metadata: list[Any]) -> bool:
    """Whether NoNul applies to the field: in its own metadata, or inside an `X | None` of its annotation."""
    if NoNul in metadata:
        return True
    if get_origin(annotation) is Annotated:
        return NoNul in annotation.__metadata__ or _marked(get_args(annotation)[0], [])
    return any(_marked(argument, []) for argument in get_args(annotation))


def _state_email_domain(string: dict[str, Any]) -> None:
    if string.get("format") == "email":
        string.setdefault("pattern", NOT_SPECIAL_USE_PATTERN)


def _on_strings(field: dict[str, Any], change: Callable[[dict[str, Any]], object]) -> None:
    """Apply `change` to the field's schema if it is a string, or to its string variant if it is `str | None`."""
    for variant in [field, *field.get("anyOf", [])]:
        if variant.get("type") == "string":
            change(variant)


def _resolve(schema: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The schema of a body: the component it refers to, directly or as the model of a `Model | None`."""
    for variant in [body, *body.get("anyOf", [])]:
        target = variant.get("$ref", "")
        if target.startswith(REF):
            resolved: dict[str, Any] = schema["components"]["schemas"][target.removeprefix(REF)]
            return resolved
    return body
