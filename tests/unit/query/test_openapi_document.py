"""The OpenAPI document is well formed and names every route of both services (no I/O)."""

from __future__ import annotations

import re

import orjson
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from ingest import app as ingest_app
from ingest import config as ingest_config
from query import app as query_app
from query import openapi
from query.config import QuerySettings
from storage.config import DatabaseSettings

DOCUMENT = orjson.loads(openapi.DOCUMENT_BYTES)
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Served, but documented under another path: the unversioned aliases are described once in
# info.description, `/v0` and `/v0/` are the index at `/`, `/add` and `/datetime` the gateway's.
ALIASES = {"/v0": "/", "/v0/": "/", "/v0/openapi.json": "/openapi.json"}


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _operations():
    for path, item in DOCUMENT["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def test_it_is_openapi_3_1_with_json_schema_2020_12():
    assert DOCUMENT["openapi"] == "3.1.0"
    for name, schema in DOCUMENT["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)
        assert name[0].isupper()


def test_every_reference_resolves():
    resolver = Registry().with_resource("urn:doc", Resource(DOCUMENT, DRAFT202012)).resolver()
    refs = set(_refs(DOCUMENT))
    assert refs
    for ref in refs:
        assert ref.startswith("#/")
        resolver.lookup(f"urn:doc{ref}")


def test_operations_are_unique_and_complete():
    ids = [operation["operationId"] for _, _, operation in _operations()]
    assert len(ids) == len(set(ids))
    for path, method, operation in _operations():
        assert method in METHODS
        assert operation["responses"], (path, method)
        assert operation.get("summary"), (path, method)
        declared = {
            DOCUMENT["components"]["parameters"][p["$ref"].rsplit("/", 1)[1]]["name"]
            if "$ref" in p
            else p["name"]
            for p in operation.get("parameters", [])
        }
        assert set(re.findall(r"{(\w+)}", path)) <= declared, (path, method)


def test_errors_are_in_the_error_model():
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if int(status) >= 400 and "$ref" not in response:
                schema = response["content"]["application/json"]["schema"]
                assert schema in (
                    {"$ref": "#/components/schemas/Error"},
                    {"$ref": "#/components/schemas/NoValidReadings"},
                ), (path, method, status)


def _routes(app):
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        if route.method != "HEAD" and path:
            yield route.method.lower(), re.sub(r"{(\w+)(:[^}]*)?}", "{}", path)


@pytest.fixture
def served():
    db = DatabaseSettings(dsn="postgresql://nowhere.invalid/none", embedded=False)
    routes = set(_routes(query_app.create_app(QuerySettings(db=db))))
    routes |= set(_routes(ingest_app.create_app(ingest_config.IngestSettings(db=db))))
    return routes


def test_every_route_of_both_services_is_documented(served):
    documented = {(method, re.sub(r"{\w+}", "{}", path)) for path, method, _ in _operations()}
    for method, path in served:
        path = ALIASES.get(path, path)
        versioned = path if path.startswith("/v0") or (method, path) in documented else "/v0" + path
        assert (method, versioned) in documented, f"{method.upper()} {path} is not documented"
    served_paths = {ALIASES.get(path, path) for _, path in served}
    for method, path in documented:
        assert path in served_paths, f"{method.upper()} {path} is documented but not served"
