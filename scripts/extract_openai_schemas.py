"""Extracts the OpenAI schemas our conformance tests use, with everything they reference, from
../shared/openai-openapi.yaml into tests/support/openai_schemas.json (so the tests do not need
the 3 MB spec beside the checkout). Re-run after the shared spec changes."""

import json
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT.parent / "shared" / "openai-openapi.yaml"
OUT = ROOT / "tests" / "support" / "openai_schemas.json"
ROOTS = [
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
    "CreateEmbeddingResponse",
    "ListModelsResponse",
    "Model",
    "ErrorResponse",
    "CreateTranscriptionResponseJson",
    "CreateTranscriptionResponseVerboseJson",
    "ImagesResponse",
    # The Responses API and legacy completions
    "Response",
    "ResponseItemList",
    "ResponseStreamEvent",
    "CreateCompletionResponse",
]


def refs(node, found: set[str]) -> None:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


def main() -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C build of the safe loader
    spec = yaml.load(SPEC.read_text(), Loader=loader)  # noqa: S506
    schemas = spec["components"]["schemas"]
    wanted, queue = set(), [name for name in ROOTS if name in schemas]
    while queue:
        name = queue.pop()
        if name in wanted:
            continue
        wanted.add(name)
        found: set[str] = set()
        refs(schemas[name], found)
        queue.extend(found - wanted)
    extract = {"components": {"schemas": {name: schemas[name] for name in sorted(wanted)}}}
    OUT.write_text(json.dumps(extract, indent=1, sort_keys=True, default=str))
    print(f"{len(wanted)} schemas -> {OUT.relative_to(ROOT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
