"""The OpenAPI 3.1 document of the HTTP API, served at ``/api/openapi.json``: the shell's own
operations (login, logout, the session, the users) and the paths each domain package declares.

With auth on, every operation says how it is secured (the ``semon_session`` cookie; on POSTs
also the ``X-CSRF-Token`` header) and which roles may call it (``x-roles``), both derived from
the role policy itself (``web.policy``), so the document cannot promise what the server refuses.

Request bodies and query parameters come from the pydantic models that validate them; the
helpers here turn those models into component schemas and query parameters.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from web.models import LoginBody, NewUserBody
from web.policy import Policy, needs_csrf
from web.users import Role

_REF = "#/components/schemas/{model}"


def ref(name: str) -> dict[str, Any]:
    """A reference to the component schema ``name``."""
    return {"$ref": _REF.format(model=name)}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def json_body(schema: str, description: str) -> dict[str, Any]:
    """A response (or request body) of JSON in the component schema ``schema``."""
    return {"description": description, "content": {"application/json": {"schema": ref(schema)}}}


ERRORS = {
    "400": json_body("Error", "bad input: the message says what is wrong"),
    "503": json_body("Error", "the database is unavailable; try again"),
}
NOT_FOUND = {"404": json_body("Error", "no such item")}

_TIME = {"type": "string", "format": "date-time"}


def _object(properties: dict[str, Any], description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties, "required": list(properties)}
    if description:
        schema["description"] = description
    return schema


def _shell_schemas() -> dict[str, dict[str, Any]]:
    session_user = {"username": {"type": "string"}, "role": ref("Role"),
                    "agency": nullable({"type": "string", "description": "the agency's party code (role agency)"}),
                    "display_name": {"type": "string"}}
    return {
        "Error": _object({"error": {"type": "string"}}),
        "SessionUser": _object(session_user, "Who is logged in."),
        "Session": _object({"user": ref("SessionUser"), "csrf_token": {
            "type": "string", "description": "send it back in the X-CSRF-Token header on every POST"}}),
        "UserInfo": _object({**session_user, "id": {"type": "integer"}, "active": {"type": "boolean"},
                             "created_at": _TIME}),
        "UserList": _object({"users": {"type": "array", "items": ref("UserInfo")}}),
        "CreatedUser": _object({"user": ref("UserInfo")}),
    }


def model_schemas(models: list[type[BaseModel]]) -> dict[str, dict[str, Any]]:
    """Component schemas for these pydantic models and every schema they refer to (enums,
    nested models), their references pointing into ``#/components/schemas``: merge them all
    into the document's components, or a reference will not resolve."""
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=_REF)
    schemas: dict[str, dict[str, Any]] = top.get("$defs", {})
    return schemas


def merge_schemas(document: dict[str, Any], schemas: dict[str, dict[str, Any]]) -> None:
    """Add ``schemas`` to the document's components; ValueError if a name is taken by another schema."""
    components = document.setdefault("components", {}).setdefault("schemas", {})
    for name, schema in schemas.items():
        if name in components and components[name] != schema:
            raise ValueError(f"two different schemas named {name} in the OpenAPI document")
        components[name] = schema


def query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    """A query model's fields as OpenAPI query parameters (absent, never null, in a query string);
    their references point into the components (add ``model_schemas([model])`` there)."""
    schema = model.model_json_schema(ref_template=_REF, by_alias=True)
    parameters = []
    for name, field_schema in schema["properties"].items():
        prop = dict(field_schema)
        variants = [v for v in prop.pop("anyOf", []) if v != {"type": "null"}]
        if variants:
            prop.update(variants[0])
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
    return parameters


_SECURITY_SCHEMES = {
    "session": {"type": "apiKey", "in": "cookie", "name": "semon_session",
                "description": "set by POST /api/login (HttpOnly, SameSite=Strict)"},
    "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token",
             "description": "the session's csrf_token (from POST /api/login or GET /api/me), on every POST"},
}
_REFUSALS = {
    "401": json_body("Error", "no session: log in first (pages get an HTML page instead)"),
    "403": json_body("Error", "the role may not do this, or the CSRF token is missing or wrong"),
}


def secure_paths(paths: dict[str, Any], policy: Policy) -> dict[str, Any]:
    """Mark each operation with how it is secured and who may call it, from the policy."""
    for path, operations in paths.items():
        for method, operation in operations.items():
            verb = method.upper()
            if policy.is_public(verb, path):
                operation["security"] = []
                continue
            operation["security"] = [{"session": [], "csrf": []} if needs_csrf(verb) else {"session": []}]
            operation["x-roles"] = [str(role) for role in Role if policy.allowed(role, verb, path)]
            operation["responses"] = {**operation["responses"], **_REFUSALS}
    return paths


def _auth_paths() -> dict[str, Any]:
    return {
        "/api/login": {"post": {
            "operationId": "login", "tags": ["auth"],
            "summary": "Log in: sets the semon_session cookie and returns the CSRF token for later POSTs",
            "requestBody": {"required": True, "content": {"application/json": {"schema": ref("LoginBody")}}},
            "responses": {"200": json_body("Session", "logged in"), "400": json_body("Error", "bad input"),
                          "401": json_body("Error", "wrong username or password"),
                          "415": json_body("Error", "the body must be application/json"),
                          "429": json_body("Error", "throttled: too many failed logins for this username from "
                                                    "this address, or too many logins from this address; see "
                                                    "Retry-After"),
                          "503": json_body("Error", "too many logins waiting at once; see Retry-After")},
        }},
        "/api/logout": {"post": {
            "operationId": "logout", "tags": ["auth"], "summary": "End the session and clear the cookie",
            "responses": {"204": {"description": "logged out"}},
        }},
        "/api/me": {"get": {
            "operationId": "me", "tags": ["auth"], "summary": "Who is logged in, and the session's CSRF token",
            "responses": {"200": json_body("Session", "the session")},
        }},
        "/api/users": {
            "get": {"operationId": "listUsers", "tags": ["auth"], "summary": "Every user",
                    "responses": {"200": json_body("UserList", "the users")}},
            "post": {"operationId": "createUser", "tags": ["auth"], "summary": "Create a user",
                     "requestBody": {"required": True,
                                     "content": {"application/json": {"schema": ref("NewUserBody")}}},
                     "responses": {"201": json_body("CreatedUser", "created"), **ERRORS,
                                   "409": json_body("Error", "the username is taken")}},
        },
    }


def _openapi_path() -> dict[str, Any]:
    return {"/api/openapi.json": {"get": {
        "operationId": "openapi", "summary": "This document",
        "responses": {"200": {"description": "the OpenAPI document",
                              "content": {"application/json": {"schema": {"type": "object"}}}}},
    }}}


def openapi_document(paths: dict[str, Any], schemas: dict[str, dict[str, Any]], policy: Policy | None, *,
                     title: str, description: str) -> dict[str, Any]:
    """The document: the shell's operations and ``paths`` (OpenAPI path items), with the shell's
    schemas and ``schemas`` in its components. With a ``policy`` (auth on), the login routes are in
    it and every operation is marked from it (``secure_paths``). Every operation can answer 400 (text
    PostgreSQL refuses, ``web.inputs``). ValueError if two schemas share a name."""
    document: dict[str, Any] = {"openapi": "3.1.0",
                                "info": {"title": title, "version": "1", "description": description},
                                "paths": {}, "components": {"schemas": {}}}
    merge_schemas(document, _shell_schemas())
    merge_schemas(document, model_schemas([LoginBody, NewUserBody]))
    merge_schemas(document, schemas)
    all_paths: dict[str, Any] = {**_openapi_path(), **paths, **(_auth_paths() if policy is not None else {})}
    for operations in all_paths.values():
        for operation in operations.values():
            operation["responses"].setdefault("400", json_body("Error", "bad input: the message says what is wrong"))
    if policy is not None:
        secure_paths(all_paths, policy)
        document["components"]["securitySchemes"] = _SECURITY_SCHEMES
        document["security"] = [{"session": []}]
    document["paths"] = all_paths
    return document
