"""Request body examples: what a client can send as is, shown in the JSON Schema.

Each request body model names at least one example; the OpenAPI document and the JSON
Schemas carry them under ``examples``. Ids in an example (accounts, calculations) stand
for the caller's own: a test sends every example, with those ids replaced by real ones,
and sees it accepted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SchemaHook = Callable[[dict[str, Any]], None]


def body_examples(*bodies: dict[str, Any], then: SchemaHook | None = None) -> SchemaHook:
    """A ``json_schema_extra`` hook adding ``bodies`` as the schema's examples.

    ``then`` is the hook the model would otherwise have (a model's config replaces its
    base's ``json_schema_extra``), run first so that both apply.
    """
    if not bodies:
        raise ValueError("name at least one example")

    def add_examples(schema: dict[str, Any]) -> None:
        if then is not None:
            then(schema)
        schema["examples"] = [dict(body) for body in bodies]

    return add_examples
