"""The request and response models both stacks validate and answer with in the benchmark.

Shaped like a journal-entry posting (nested lines, patterns, bounded lists, a map of
labels) and configured as every request model of ours is: strict, unknown fields
forbidden.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True)


class Ok(BaseModel):
    ok: bool


class Liveness(BaseModel):
    status: str


class Line(BaseModel):
    model_config = _STRICT

    account_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
    side: Literal["debit", "credit"]
    amount: str = Field(pattern=r"^[0-9]{1,19}(\.[0-9]{1,18})?$")
    memo: str | None = Field(default=None, max_length=500)


class PostEntry(BaseModel):
    model_config = _STRICT

    entry_id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    effective_date: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    description: str = Field(min_length=1, max_length=500)
    lines: list[Line] = Field(min_length=2, max_length=50)
    metadata: dict[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")], str] = Field(
        default_factory=dict, max_length=20
    )


class Posted(BaseModel):
    entry_id: str
    line_count: int
    currency: str


def posted(body: PostEntry) -> Posted:
    return Posted(entry_id=body.entry_id, line_count=len(body.lines), currency=body.currency)


# The body every validated POST of the benchmark sends.
POST_BODY = {
    "entry_id": "je_01HZX3K9D4",
    "currency": "EUR",
    "effective_date": "2025-01-31",
    "description": "January rent, office 4B",
    "lines": [
        {"account_id": "acc_rent", "side": "debit", "amount": "1050.42"},
        {"account_id": "acc_vat_in", "side": "debit", "amount": "199.58"},
        {"account_id": "acc_cash", "side": "credit", "amount": "1250.00", "memo": "bank"},
    ],
    "metadata": {"invoice": "INV-2025-0042", "cost_center": "ops"},
}
