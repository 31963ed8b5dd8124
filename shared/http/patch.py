"""PATCH bodies: every field optional, none of them null, at least one of them present.

A field left out keeps its value; ``null`` is not a value (no field of a PATCH body
can be cleared), so it is refused on its field instead of being read as "left out";
and a body that names no field at all is refused with ``empty_update``. The JSON
Schema says the same: no field is nullable and the body has ``minProperties: 1``.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator, model_validator
from pydantic_core import PydanticCustomError

NULL_TYPE = {"type": "null"}


def patch_schema(schema: dict[str, Any]) -> None:
    schema["minProperties"] = 1
    for prop in schema.get("properties", {}).values():
        # Fields are declared `X | None = None` only so that Python can leave them
        # out; to a client they are X, never null.
        prop.pop("default", None)
        variants = prop.get("anyOf")
        if isinstance(variants, list) and NULL_TYPE in variants:
            kept = [variant for variant in variants if variant != NULL_TYPE]
            del prop["anyOf"]
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept


class PatchBody(BaseModel):
    """Base of PATCH bodies; subclasses declare their fields as ``X | None = None``."""

    model_config = ConfigDict(json_schema_extra=patch_schema)

    @field_validator("*", mode="after")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        # Runs only for fields the body names: defaults are not validated.
        if value is None:
            raise PydanticCustomError(
                "null_not_allowed", "must not be null; leave the field out to keep its value"
            )
        return value

    @model_validator(mode="after")
    def _names_a_field(self) -> PatchBody:
        if not self.model_fields_set:
            raise PydanticCustomError("empty_update", "name at least one field to change")
        return self
