"""Validating our responses against OpenAI's published OpenAPI spec (../shared)."""

import json
from functools import cache
from pathlib import Path

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

# The schemas we validate against, extracted with their references from OpenAI's published
# spec (../shared/openai-openapi.yaml) by scripts/extract_openai_schemas.py.
SPEC_PATH = Path(__file__).resolve().parent / "openai_schemas.json"
SPEC_URI = "urn:openai-openapi"


def _nullable_to_json_schema(node):
    """The spec is OpenAPI 3.1 but still marks nullable fields the 3.0 way (`nullable: true`),
    which JSON Schema ignores; read it as the spec's authors meant: null is allowed."""
    if isinstance(node, list):
        return [_nullable_to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _nullable_to_json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False) is True:
        return {"anyOf": [node, {"type": "null"}]}
    return node


@cache
def _registry() -> Registry:
    spec = _nullable_to_json_schema(json.loads(SPEC_PATH.read_text()))
    resource = Resource.from_contents(spec, default_specification=_draft())
    return Registry().with_resource(SPEC_URI, resource)


def _draft():
    from referencing.jsonschema import DRAFT202012

    return DRAFT202012


@cache
def _validator(schema_name: str) -> Draft202012Validator:
    schema = {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"}
    return Draft202012Validator(schema, registry=_registry())


def assert_valid(instance: dict, schema_name: str) -> None:
    errors = sorted(_validator(schema_name).iter_errors(instance), key=lambda e: e.path)
    assert not errors, "\n".join(
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors[:5]
    )
