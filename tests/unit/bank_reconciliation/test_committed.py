"""A transaction that keeps meeting contention is a 503 ``contention``, never a 500."""

from __future__ import annotations

from typing import Any

import pytest
from google.api_core.exceptions import Aborted

from shared.bank_reconciliation.service import committed
from shared.errors import ContentionError


class _Db:
    def transaction(self) -> str:
        return "transaction"


def test_contention_becomes_the_503_every_domain_answers() -> None:
    def attempt(_: Any) -> None:
        raise Aborted("too much contention on these documents")

    with pytest.raises(ContentionError) as refused:
        committed(attempt, _Db(), "the statement")  # type: ignore[arg-type]

    assert (refused.value.status, refused.value.code) == (503, "contention")
    assert refused.value.headers["Retry-After"] == "1"


def test_other_failures_and_results_pass_through() -> None:
    assert committed(lambda transaction: transaction, _Db(), "x") == "transaction"  # type: ignore[arg-type]
    with pytest.raises(KeyError):
        committed(lambda _: {}["missing"], _Db(), "x")  # type: ignore[arg-type]
