"""OpenAPI for request bodies that the views parse themselves (see parsing.py)."""

from typing import Any

from pydantic import TypeAdapter

REF_TEMPLATE = "#/components/schemas/{model}"

# Component schemas referenced by request bodies; shopboard.api adds them to
# the document, since ninja only collects the models it parses itself.
COMPONENTS: dict[str, dict] = {}


def json_request_body(annotation: Any, description: str) -> dict:
    """An `openapi_extra` value documenting a JSON body of the given type."""
    schema = TypeAdapter(annotation).json_schema(ref_template=REF_TEMPLATE, mode="validation")
    COMPONENTS.update(schema.pop("$defs", {}))
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }
